import asyncio
import threading
import time
from dataclasses import replace
from typing import Any

import aiohttp
from prometheus_client import CollectorRegistry, generate_latest

from exporters import (
    FakeGpuSource,
    FakeNvml,
    FakeOllamaClient,
    GpuMonitor,
    NvmlSource,
    fake_reading,
)
from exporters import metric_names as m
from telemetry import Config, Outcome, Placement, Processor, RequestRecord
from telemetry._config import GpuConfig
from telemetry.emulator import EmulatedModel, EmulatorConfig, EmulatorServer

GIB = 1024**3


def _config(**gpu: Any) -> Config:
    return Config(
        gpu=replace(
            GpuConfig(sample_interval_seconds=0.02, ollama_poll_interval_seconds=0.05), **gpu
        )
    )


async def _until(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)


def _record(placement: Placement) -> RequestRecord:
    return RequestRecord(
        "r",
        "t",
        "s",
        0,
        1,
        "POST",
        "/api/chat",
        "/api/chat",
        "chat",
        "m:7b",
        "gpu-8gb",
        True,
        200,
        Outcome.OK,
        1,
        placement=placement,
    )


async def test_placement_scenarios_follow_api_ps() -> None:
    ollama = FakeOllamaClient({"/api/version": {"version": "0.12.3"}, "/api/tags": {"models": []}})
    ollama.set_ps(
        ("full:7b", 5 * GIB, 5 * GIB), ("split:70b", 40 * GIB, 30 * GIB), ("cpu:7b", 5 * GIB, 0)
    )
    registry = CollectorRegistry()
    monitor = GpuMonitor(
        _config(), registry, sources=[NvmlSource(FakeNvml.h100s(2))], ollama=ollama
    )
    await monitor.start()
    try:
        await _until(
            lambda: (
                monitor.placement("full:7b").processor is Processor.GPU
                and len(monitor.placement("full:7b").gpus) == 2
            )
        )
        assert monitor.placement("split:70b").processor is Processor.PARTIAL
        assert monitor.placement("cpu:7b").processor is Processor.CPU
        assert monitor.digest("full:7b") == "sha-full:7b"
        assert monitor.placement("gone:1b").processor is Processor.UNKNOWN
        ollama.set_ps(("gone:1b", GIB, GIB))  # freshly loaded: the wanted model resolves fast
        await _until(lambda: monitor.placement("gone:1b").processor is Processor.GPU, 1.0)
        sample = registry.get_sample_value
        assert sample(m.MODELS_LOADED) == 1.0
        assert sample(m.MODEL_VRAM, {m.LABEL_MODEL: "gone:1b"}) == GIB
        assert sample(m.OLLAMA_INFO, {"version": "0.12.3"}) == 1.0
        labels = {
            "gpu": "1",
            "uuid": "GPU-6a1c2e3f-0000-0000-0000-000000000001",
            "name": "NVIDIA H100 80GB HBM3",
            "vendor": "nvidia",
        }
        assert sample(m.GPU_UP, labels) == 1.0
        assert sample(m.GPU_POWER, labels) == 70.5
        assert sample(m.GPU_DEVICES) == 2.0
        assert monitor.readiness() == (True, "gpu: 2/2 healthy via nvml")
        monitor.submit(_record(monitor.placement("gone:1b")))
        assert sample(m.REQUESTS_BY_PROCESSOR, {"processor": "gpu", "tier": "gpu-8gb"}) == 1.0
        assert sample(m.REQUESTS_BY_PROCESSOR, {"processor": "cpu", "tier": "gpu-8gb"}) == 0.0
    finally:
        await monitor.stop()


async def test_lost_gpu_series_read_down_and_others_report() -> None:
    nv = FakeNvml.h100s(2)
    registry = CollectorRegistry()
    monitor = GpuMonitor(_config(), registry, sources=[NvmlSource(nv)], ollama=FakeOllamaClient())
    await monitor.start()
    try:
        await _until(lambda: len(monitor.snapshot.healthy) == 2)
        nv.lose(0)
        await _until(lambda: len(monitor.snapshot.healthy) == 1)
        text = generate_latest(registry).decode()
        assert 'hw_gpu_up{gpu="0"' in text and 'hw_power_watts{gpu="0"' not in text
        assert 'hw_power_watts{gpu="1"' in text
        assert registry.get_sample_value(m.OLLAMA_UP) == 0.0
    finally:
        await monitor.stop()


async def test_readiness_cpu_fallback_and_require_gpu() -> None:
    missing = FakeGpuSource([fake_reading(0)], backend="nvml", unavailable="library_missing")
    for require, ready in ((False, True), (True, False)):
        monitor = GpuMonitor(
            _config(require_gpu=require),
            CollectorRegistry(),
            sources=[missing],
            ollama=FakeOllamaClient(),
        )
        await monitor.start()
        try:
            await _until(lambda: monitor.snapshot.rounds > 0)  # noqa: B023
            ok, detail = monitor.readiness()
            assert ok is ready and "nvml library_missing" in detail
        finally:
            await monitor.stop()


async def test_metrics_over_real_http_scrape_with_a_hung_backend() -> None:
    from prometheus_client import start_http_server

    source = FakeGpuSource([fake_reading(i) for i in range(2)], backend="nvml")
    registry = CollectorRegistry()
    monitor = GpuMonitor(
        _config(), registry, sources=[source], ollama=FakeOllamaClient(), hang_timeout=0.1
    )
    await monitor.start()
    server, thread = start_http_server(0, "127.0.0.1", registry)
    try:
        await _until(lambda: len(monitor.snapshot.healthy) == 2)
        source.hang[0] = threading.Event()
        await _until(lambda: len(monitor.snapshot.healthy) == 1)
        async with aiohttp.ClientSession() as session:
            started = time.perf_counter()
            url = f"http://127.0.0.1:{server.server_port}/metrics"
            async with session.get(url) as response:
                text = await response.text()
            assert time.perf_counter() - started < 1.0
        assert 'hw_gpu_up{gpu="0",name="NVIDIA H100 80GB HBM3"' in text
        assert 'hw_power_watts{gpu="0"' not in text and 'hw_power_watts{gpu="1"' in text
        assert 'ollama_sidecar_gpu_sample_errors_total{backend="nvml",reason="hung"} 1.0' in text
    finally:
        source.hang[0].set()
        server.shutdown()
        server.server_close()
        thread.join(5)
        await monitor.stop()


def _emulated(name: str, fraction: float, n: int) -> EmulatedModel:
    return EmulatedModel(
        name=name,
        digest=f"{n:064x}",
        size=4 * GIB,
        parameter_size="7B",
        family="llama",
        quantization="Q4_K_M",
        vram_fraction=fraction,
    )


async def test_placement_from_the_real_emulator_over_http() -> None:
    models = (
        _emulated("full:7b", 1.0, 1),
        _emulated("split:7b", 0.5, 2),
        _emulated("cpu:7b", 0, 3),
    )
    config = EmulatorConfig(ttft_seconds=0, tokens_per_second=0, models=models)
    async with EmulatorServer(config) as emu:
        cfg = _config()
        cfg = replace(cfg, proxy=replace(cfg.proxy, upstream=emu.url))
        registry = CollectorRegistry()
        monitor = GpuMonitor(cfg, registry, sources=[FakeGpuSource([fake_reading(0)])])
        await monitor.start()
        try:
            await _until(lambda: registry.get_sample_value(m.OLLAMA_UP) == 1.0)
            assert registry.get_sample_value(m.MODELS_LOADED) == 0.0
            for model in models:
                assert monitor.placement(model.name).processor is Processor.UNKNOWN
            async with aiohttp.ClientSession() as session:
                for model in models:
                    body = {"model": model.name, "prompt": "x", "stream": False}
                    async with session.post(f"{emu.url}/api/generate", json=body) as response:
                        assert response.status == 200
            await _until(lambda: registry.get_sample_value(m.MODELS_LOADED) == 3.0)
            full = monitor.placement("full:7b")
            assert full.processor is Processor.GPU
            assert full.size_bytes == full.size_vram_bytes == 4 * GIB
            assert [g.uuid for g in full.gpus] == [fake_reading(0).uuid]
            split = monitor.placement("split:7b")
            assert split.processor is Processor.PARTIAL and split.size_vram_bytes == 2 * GIB
            assert monitor.placement("cpu:7b").processor is Processor.CPU
            assert monitor.placement("never:1b").processor is Processor.UNKNOWN
            assert monitor.digest("full:7b") == f"{1:064x}"
            vram = registry.get_sample_value(m.MODEL_VRAM, {m.LABEL_MODEL: "split:7b"})
            assert vram == 2 * GIB
            assert registry.get_sample_value(m.OLLAMA_INFO, {"version": config.version}) == 1.0
        finally:
            await monitor.stop()
