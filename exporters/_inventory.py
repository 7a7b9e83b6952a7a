"""What `ollama-sidecar inventory` reports: GPUs, OS, CPU, memory, container runtime, Ollama, tier.

The host's tier is decided by the VRAM of its largest single GPU, not the sum: provider tiers
name a card class, and a model split across cards runs slower than the tier's latency budgets
assume. A card counts as N GiB when it reports at least 95% of N (a "24 GB" RTX 4090 reports
23.99 GiB). Apple Silicon counts 75% of unified memory, Metal's usual working-set limit.
"""

from __future__ import annotations

import os
import platform
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from exporters._ollama import OllamaClient, OllamaUnavailable, parse_ps, parse_tags, parse_version
from exporters._sampler import GpuSnapshot
from telemetry.core import Tier

_GIB = 1024**3
NO_GPU = "none found (CPU-only)"
_SLACK = 0.95
_APPLE_SHARE = 0.75
RUNTIMES = {
    "docker": ("/var/run/docker.sock", "/run/docker.sock"),
    "podman": ("/run/podman/podman.sock",),
    "containerd": ("/run/containerd/containerd.sock",),
}


@dataclass(frozen=True, slots=True)
class GpuFacts:
    index: int
    vendor: str
    name: str
    uuid: str
    memory_total_bytes: int | None
    healthy: bool


@dataclass(frozen=True, slots=True)
class HostInventory:
    gpu_backend: str
    gpu_backends: dict[str, str]
    gpus: tuple[GpuFacts, ...]
    driver_version: str | None
    runtime: str | None
    runtime_version: str | None
    os: str
    kernel: str
    cpu: str
    cpu_count: int
    memory_bytes: int | None
    container_runtimes: tuple[str, ...]
    cgroup: str
    ollama_url: str
    ollama_version: str | None
    ollama_models: tuple[str, ...] = ()
    ollama_loaded: tuple[str, ...] = ()
    tier: str = "cpu"
    tier_vram_bytes: int = 0
    gpu_summary: str = NO_GPU
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def tier_for_host(snapshot: GpuSnapshot, tiers: tuple[Tier, ...]) -> tuple[str, int]:
    """(tier name, VRAM bytes that decided it) by the largest healthy GPU."""
    vram = 0
    for d in snapshot.healthy:
        total = d.memory_total_bytes or 0
        vram = max(vram, int(total * _APPLE_SHARE) if d.vendor == "apple" else total)
    ranked = sorted(tiers, key=lambda t: t.min_vram_gib)
    chosen = ranked[0].name
    for tier in ranked:
        if vram >= tier.min_vram_gib * _GIB * _SLACK:
            chosen = tier.name
    return chosen, vram


def os_name(root: Path = Path("/")) -> str:
    try:
        for line in (root / "etc" / "os-release").read_text(encoding="utf-8").splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return f"{platform.system()} {platform.release()}"


def cpu_model(root: Path = Path("/")) -> str:
    try:
        for line in (root / "proc" / "cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_total(root: Path = Path("/")) -> int | None:
    try:
        for line in (root / "proc" / "meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def cgroup_version(root: Path = Path("/")) -> str:
    cgroup = root / "sys" / "fs" / "cgroup"
    if (cgroup / "cgroup.controllers").exists():
        return "v2"
    if (cgroup / "unified").is_dir():
        return "v1 (hybrid, v2 unified mounted)"
    if cgroup.is_dir() and any(cgroup.iterdir()):
        return "v1"
    return "none"


def container_runtimes(
    root: Path = Path("/"), which: Callable[[str], str | None] = shutil.which
) -> tuple[str, ...]:
    found = []
    for name, sockets in RUNTIMES.items():
        if which(name) or any((root / s.lstrip("/")).exists() for s in sockets):
            found.append(name)
    return tuple(found)


async def ollama_facts(client: OllamaClient) -> tuple[str | None, tuple[str, ...], tuple[str, ...]]:
    """(version, installed models, loaded models); (None, (), ()) when Ollama is unreachable."""
    try:
        version = parse_version(await client.get_json("/api/version"))
        models = tuple(sorted(parse_tags(await client.get_json("/api/tags"))))
        loaded = tuple(r.name for r in parse_ps(await client.get_json("/api/ps")))
    except OllamaUnavailable:
        return None, (), ()
    return version, models, loaded


async def gather(
    snapshot: GpuSnapshot,
    tiers: tuple[Tier, ...],
    client: OllamaClient,
    ollama_url: str,
    root: Path = Path("/"),
) -> HostInventory:
    version, models, loaded = await ollama_facts(client)
    tier, vram = tier_for_host(snapshot, tiers)
    info = snapshot.info
    notes = []
    if version is None:
        notes.append(f"Ollama not reachable at {ollama_url}")
    return HostInventory(
        gpu_backend=snapshot.backend,
        gpu_backends={s.backend: s.reason for s in snapshot.backends},
        gpus=tuple(
            GpuFacts(d.index, d.vendor, d.name, d.uuid, d.memory_total_bytes, d.healthy)
            for d in snapshot.devices
        ),
        driver_version=info.driver_version if info else None,
        runtime=info.runtime if info else None,
        runtime_version=info.runtime_version if info else None,
        os=os_name(root),
        kernel=platform.release(),
        cpu=cpu_model(root),
        cpu_count=os.cpu_count() or 1,
        memory_bytes=memory_total(root),
        container_runtimes=container_runtimes(root),
        cgroup=cgroup_version(root),
        ollama_url=ollama_url,
        ollama_version=version,
        ollama_models=models,
        ollama_loaded=loaded,
        tier=tier,
        tier_vram_bytes=vram,
        gpu_summary=gpu_summary(snapshot),
        notes=tuple(notes),
    )


def gpu_summary(snapshot: GpuSnapshot) -> str:
    """One plain line: `none found (CPU-only)`, or how many GPUs of which model, how many up."""
    if not snapshot.devices:
        return NO_GPU
    names = sorted({d.name for d in snapshot.devices})
    summary = f"{len(snapshot.devices)} x {', '.join(names)} via {snapshot.backend}"
    down = len(snapshot.devices) - len(snapshot.healthy)
    return summary + (f" ({down} down)" if down else "")


def _gib(value: int | None) -> str:
    return f"{value / _GIB:.1f} GiB" if value is not None else "-"


def render(inv: HostInventory) -> str:
    rows: list[tuple[str, str]] = [
        ("tier", f"{inv.tier} (largest GPU {_gib(inv.tier_vram_bytes)})"),
        ("gpus", inv.gpu_summary),
    ]
    tried = [f"{b}: {r}" for b, r in inv.gpu_backends.items() if r not in ("ok", "no_gpu")]
    if tried:
        rows.append(("gpu probe", ", ".join(tried)))
    for g in inv.gpus:
        rows.append(
            (
                f"gpu {g.index}",
                f"{g.name} {_gib(g.memory_total_bytes)} {g.uuid}"
                + ("" if g.healthy else " (DOWN)"),
            )
        )
    if inv.driver_version:
        rows.append(("driver", inv.driver_version))
    if inv.runtime:
        rows.append((inv.runtime, inv.runtime_version or "-"))
    rows += [
        ("os", inv.os),
        ("kernel", inv.kernel),
        ("cpu", f"{inv.cpu} ({inv.cpu_count} threads)"),
        ("memory", _gib(inv.memory_bytes)),
        ("containers", ", ".join(inv.container_runtimes) or "none found"),
        ("cgroup", inv.cgroup),
        ("ollama", f"{inv.ollama_url} version {inv.ollama_version or 'unreachable'}"),
        ("models", ", ".join(inv.ollama_models) or "-"),
        ("loaded", ", ".join(inv.ollama_loaded) or "-"),
    ]
    rows += [("note", n) for n in inv.notes]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows) + "\n"
