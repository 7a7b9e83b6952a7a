"""Offers from fake hosts against the demands of the seed plan's templates (CPU, NVIDIA 8 GiB,
NVIDIA 24 GiB, AMD 8 GiB), matched by a small evaluator of Golem's constraint filters."""

from __future__ import annotations

import re

import pytest

from exporters._sampler import GpuSnapshot
from exporters._source import SourceInfo
from exporters.testing import fake_reading
from telemetry import load_config
from telemetry.app.golem._properties import LogIdentity, demand_for, offer_properties

GIB = 1024**3
IDENTITY = LogIdentity(
    "log.example/p", "log.example/p+01020304+AAAA", "/.well-known/ollama-sidecar"
)
TIERS = load_config(env={}).tiers


def matches(constraints: str, properties: dict[str, object]) -> bool:
    """Evaluate the filters `demand_for` writes: (&...), (!...), (k=v), (k=*), (k>=n)."""
    expression = constraints

    def one(text: str) -> tuple[bool, str]:
        assert text[0] == "("
        if text[1] == "&":
            rest, ok = text[2:], True
            while rest[0] == "(":
                value, rest = one(rest)
                ok = ok and value
            return ok, rest[1:]
        if text[1] == "!":
            value, rest = one(text[2:])
            return not value, rest[1:]
        match = re.match(r"\(([^=<>()]+)(>=|=)([^()]*)\)", text)
        assert match is not None, text
        key, op, wanted = match.groups()
        have = properties.get(key)
        if op == ">=":
            ok = isinstance(have, int | float) and have >= float(wanted)
        elif wanted == "*":
            ok = have is not None
        elif isinstance(have, list):
            ok = wanted in have
        else:
            ok = str(have).lower() == wanted.lower()
        return ok, text[match.end() :]

    value, rest = one(expression)
    assert rest == ""
    return value


def host(vendor: str, name: str, gib: float, count: int = 1) -> GpuSnapshot:
    runtime = {"nvidia": "cuda", "amd": "rocm", "apple": "metal"}[vendor]
    devices = tuple(
        fake_reading(i, vendor=vendor, name=name, memory_total_bytes=int(gib * GIB))
        for i in range(count)
    )
    info = SourceInfo(vendor, vendor, count, runtime=runtime, runtime_version="12.4")
    return GpuSnapshot(backend=vendor, info=info, devices=devices)


HOSTS = {
    "cpu-only": GpuSnapshot(),
    "rtx-3060": host("nvidia", "NVIDIA GeForce RTX 3060", 11.99),
    "2x-rtx-4090": host("nvidia", "NVIDIA GeForce RTX 4090", 23.99, count=2),
    "rx-7600": host("amd", "AMD Radeon RX 7600", 7.98),
}
TEMPLATES = {
    "cpu": ("cpu", "nvidia"),
    "nvidia-8": ("gpu-8gb", "nvidia"),
    "nvidia-24": ("gpu-24gb", "nvidia"),
    "amd-8": ("gpu-8gb", "amd"),
}
EXPECTED = {
    "cpu-only": {"cpu"},
    "rtx-3060": {"nvidia-8"},
    "2x-rtx-4090": {"nvidia-8", "nvidia-24"},
    "rx-7600": {"amd-8"},
}


@pytest.mark.parametrize("name", sorted(HOSTS))
def test_each_template_finds_exactly_the_hosts_that_serve_it(name: str) -> None:
    offer = offer_properties(HOSTS[name], TIERS, IDENTITY)
    tiers = {t.name: t for t in TIERS}
    found = {
        template
        for template, (tier, vendor) in TEMPLATES.items()
        if matches(demand_for(tiers[tier], vendor).constraints, offer)
    }
    assert found == EXPECTED[name]


def test_gap35_keys_per_card_group_and_the_log_identity() -> None:
    offer = offer_properties(HOSTS["2x-rtx-4090"], TIERS, IDENTITY)
    gpu = {k: v for k, v in offer.items() if k.startswith("golem.!exp.gap-35.v1.inf.gpu.")}
    assert gpu == {
        "golem.!exp.gap-35.v1.inf.gpu.d0.model": "NVIDIA GeForce RTX 4090",
        "golem.!exp.gap-35.v1.inf.gpu.d0.quantity": 2,
        "golem.!exp.gap-35.v1.inf.gpu.d0.memory.total.gib": 23.99,
        "golem.!exp.gap-35.v1.inf.gpu.d0.cuda.enabled": True,
        "golem.!exp.gap-35.v1.inf.gpu.d0.cuda.version": "12.4",
    }
    assert offer["golem.!exp.ollama-sidecar.v1.inf.gpu.d0.vendor"] == "nvidia"
    assert offer["golem.!exp.ollama-sidecar.v1.receipts.verifier-key"] == IDENTITY.verifier_key
    assert "golem.!exp.ollama-sidecar.v1.receipts.witnesses" not in offer
    amd = offer_properties(HOSTS["rx-7600"], TIERS, IDENTITY)
    assert not any(".cuda." in k for k in amd)
    assert amd["golem.!exp.ollama-sidecar.v1.inf.gpu.d0.vendor"] == "amd"
