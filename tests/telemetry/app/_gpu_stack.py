"""A real sidecar with a GPU monitor over fake sources (and, if asked, the real receipt
service) in front of an upstream such as the emulator, for the GPU app tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from prometheus_client import CollectorRegistry

from exporters import GpuMonitor, GpuSource, OllamaClient
from receipts import ReceiptService
from telemetry.app._sidecar import Components, Sidecar
from telemetry.core import load_config


@asynccontextmanager
async def gpu_sidecar(
    upstream: str,
    data_dir: Path,
    sources: Sequence[GpuSource],
    *,
    gpu: Mapping[str, object],
    receipts: Mapping[str, object] | None = None,
    ollama: OllamaClient | None = None,
) -> AsyncIterator[tuple[Sidecar, CollectorRegistry]]:
    """Started, and stopped on exit; `receipts=None` runs it without a receipt service."""
    overrides: dict[str, dict[str, object]] = {
        "proxy": {
            "listen": "127.0.0.1:0",
            "admin_listen": "127.0.0.1:0",
            "upstream": upstream,
            "data_dir": data_dir,
            "log_requests": False,
        },
        "gpu": dict(gpu),
    }
    if receipts is not None:
        overrides["receipts"] = dict(receipts)
    config = load_config(env={}, overrides=overrides)
    registry = CollectorRegistry()
    components = Components(
        receipts=None if receipts is None else ReceiptService(config, registry=registry),
        gpu=GpuMonitor(config, registry, sources=sources, ollama=ollama),
    )
    sidecar = Sidecar(config, env={}, registry=registry, components=components)
    await sidecar.start()
    try:
        yield sidecar, registry
    finally:
        await sidecar.stop()
