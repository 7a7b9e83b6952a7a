"""GPU energy and time per request, through the real proxy and emulator, signed in the receipt:
a fake NVML GPU (or, where parametrized, a fake ROCm SMI library's) draws a constant power and
its energy counter advances with wall time."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from exporters import GpuMonitor, GpuSource, NvmlSource, RocmSmiLibSource
from exporters.testing import FakeNvml, FakeRocmSmi
from receipts import ReceiptService
from telemetry.app._sidecar import Components, Sidecar
from telemetry.core import Processor, load_config
from telemetry.emulator import DEFAULT_MODELS, EmulatorConfig, EmulatorServer

WATTS = 250.0
GPU_MODEL, PARTIAL_MODEL, CPU_MODEL = "llama3.1:8b", "llama3.3:70b", "llama3.2:3b"
FRACTIONS = {GPU_MODEL: 1.0, PARTIAL_MODEL: 0.52, CPU_MODEL: 0.0}
# 12 tokens at 30/s after a 0.1 s first token: about half a second per request.
EMULATOR = EmulatorConfig(ttft_seconds=0.1, tokens_per_second=30, output_tokens=12)


@dataclasses.dataclass
class Stack:
    sidecar: Sidecar
    nvml: FakeNvml
    url: str
    admin: str


@pytest.fixture
async def stack(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Stack]:
    models = tuple(
        dataclasses.replace(m, vram_fraction=FRACTIONS.get(m.name, m.vram_fraction))
        for m in DEFAULT_MODELS
    )
    nvml = FakeNvml.h100s(1)
    nvml.draw(0, WATTS)
    async with EmulatorServer(dataclasses.replace(EMULATOR, models=models)) as emu:
        config = load_config(
            env={},
            overrides={
                "proxy": {
                    "listen": "127.0.0.1:0",
                    "admin_listen": "127.0.0.1:0",
                    "upstream": emu.url,
                    "data_dir": tmp_path,
                    "log_requests": False,
                },
                "gpu": {"ollama_poll_interval_seconds": 0.1, "sample_interval_seconds": 0.1},
                "receipts": {"flush_interval_seconds": 0.05},
            },
        )
        registry = CollectorRegistry()
        source: GpuSource = NvmlSource(nvml, is_ollama=lambda pid: False)
        if getattr(request, "param", "nvml") == "rocm_smi":
            smi = FakeRocmSmi.mi300x(1)
            smi.draw(0, WATTS)
            source = RocmSmiLibSource(smi, check_sysfs=False)
        components = Components(
            receipts=ReceiptService(config, registry=registry),
            gpu=GpuMonitor(config, registry, sources=[source]),
        )
        sidecar = Sidecar(config, env={}, registry=registry, components=components)
        await sidecar.start()
        try:
            stack = Stack(
                sidecar,
                nvml,
                f"http://127.0.0.1:{sidecar.listen_port}",
                f"http://127.0.0.1:{sidecar.admin_port}",
            )
            async with aiohttp.ClientSession() as session:
                for model in FRACTIONS:  # loaded, and shown by /api/ps, before the tests
                    await generate(session, stack, model)
            async with asyncio.timeout(5):
                while any(
                    sidecar.gpu is None or sidecar.gpu.placement(m).processor is Processor.UNKNOWN
                    for m in FRACTIONS
                ):
                    await asyncio.sleep(0.05)
            yield stack
        finally:
            await sidecar.stop()


async def generate(session: aiohttp.ClientSession, stack: Stack, model: str) -> str:
    body = {"model": model, "prompt": "x", "stream": True}
    async with session.post(stack.url + "/api/generate", json=body) as r:
        await r.read()
        assert r.status == 200
        return r.headers["X-Request-ID"]


async def receipt(session: aiohttp.ClientSession, stack: Stack, request_id: str) -> Any:
    assert stack.sidecar.receipts is not None
    await asyncio.to_thread(stack.sidecar.receipts.flush, 5.0)
    async with session.get(f"{stack.admin}/receipts/receipt/{request_id}") as response:
        row = (await response.json())["receipt"]
    return json.loads(base64.b64decode(row["raw"]))["receipt"]


def seconds(body: Any) -> float:
    return int(body["duration_ns"]) / 1e9


@pytest.mark.parametrize(
    ("stack", "vendor"), [("nvml", "nvidia"), ("rocm_smi", "amd")], indirect=["stack"]
)
async def test_energy_is_power_times_request_time(stack: Stack, vendor: str) -> None:
    async with aiohttp.ClientSession() as session:
        body = await receipt(session, stack, await generate(session, stack, GPU_MODEL))
    assert [g["vendor"] for g in body["placement"]["gpus"]] == [vendor]
    usage = body["gpu_usage"]
    assert usage["energy_mj"] / 1000 == pytest.approx(WATTS * seconds(body), rel=0.05)
    assert seconds(body) > 0.3
    assert isinstance(usage["utilization_basis_points"], int)
    assert int(usage["gpu_time_ns"]) >= 0


async def test_overlapping_requests_share_the_measured_total(stack: Stack) -> None:
    async with aiohttp.ClientSession() as session:
        first = asyncio.ensure_future(generate(session, stack, GPU_MODEL))
        await asyncio.sleep(0.25)
        second = await generate(session, stack, GPU_MODEL)
        bodies = [await receipt(session, stack, rid) for rid in (await first, second)]
    start = min(int(b["start_unix_ns"]) for b in bodies)
    end = max(int(b["end_unix_ns"]) for b in bodies)
    shares = [b["gpu_usage"]["energy_mj"] / 1000 for b in bodies]
    assert sum(shares) == pytest.approx(WATTS * (end - start) / 1e9, rel=0.05)
    # Each got less than it would alone: the overlap was split.
    assert all(s < WATTS * seconds(b) * 0.95 for s, b in zip(shares, bodies, strict=True))


async def test_cpu_request_has_no_gpu_energy_and_partial_has_its_share(stack: Stack) -> None:
    async with aiohttp.ClientSession() as session:
        cpu = await receipt(session, stack, await generate(session, stack, CPU_MODEL))
        partial = await receipt(session, stack, await generate(session, stack, PARTIAL_MODEL))
    assert cpu["placement"]["processor"] == "cpu" and "gpu_usage" not in cpu
    assert partial["placement"]["processor"] == "partial"
    energy = partial["gpu_usage"]["energy_mj"] / 1000
    assert energy == pytest.approx(WATTS * seconds(partial), rel=0.05)
    registry = stack.sidecar.registry
    by_model = registry.get_sample_value(
        "ollama_sidecar_gpu_request_energy_joules_total",
        {"gen_ai_request_model": PARTIAL_MODEL, "tier": partial["tier"]},
    )
    assert by_model is not None and by_model >= energy * 0.99
    assert (
        registry.get_sample_value(
            "ollama_sidecar_gpu_request_energy_joules_total",
            {"gen_ai_request_model": CPU_MODEL, "tier": cpu["tier"]},
        )
        is None
    )
    per_token = registry.get_sample_value(
        "ollama_sidecar_gpu_energy_per_output_token_joules_count",
        {"gen_ai_request_model": PARTIAL_MODEL},
    )
    assert per_token is not None and per_token >= 1


async def test_a_driver_reload_during_a_request_omits_its_energy(stack: Stack) -> None:
    async with aiohttp.ClientSession() as session:
        running = asyncio.ensure_future(generate(session, stack, GPU_MODEL))
        await asyncio.sleep(0.25)
        stack.nvml.reload_driver(0)
        body = await receipt(session, stack, await running)
        after = await receipt(session, stack, await generate(session, stack, GPU_MODEL))
    assert "energy_mj" not in body.get("gpu_usage", {})
    assert after["gpu_usage"]["energy_mj"] > 0
    unmetered = stack.sidecar.registry.get_sample_value(
        "ollama_sidecar_gpu_requests_unmetered_total", {"tier": "gpu-8gb"}
    )
    assert unmetered == 1
