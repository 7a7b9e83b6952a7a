import asyncio
import shutil
import subprocess
import threading
import time
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from exporters import GpuMonitor, GpuProcess, GpuSource, NvmlSource
from exporters import metric_names as m
from exporters.testing import FakeGpuSource, FakeNvml, FakeOllamaClient, fake_reading
from telemetry import UNKNOWN_PLACEMENT, Config, Outcome, Placement, Processor, RequestRecord
from telemetry.core._config import GpuConfig
from telemetry.emulator import EmulatedModel, EmulatorConfig, EmulatorServer
from telemetry.observe._admin import build_admin_app

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


def _sample(monitor: GpuMonitor, name: str, labels: dict[str, str] | None = None) -> float | None:
    """What `registry.get_sample_value` answers, read from the monitor's rendered text."""
    for family in text_string_to_metric_families(monitor.exposition().decode()):
        for s in family.samples:
            if s.name == name and s.labels == (labels or {}):
                return float(s.value)
    return None


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

        def sample(name: str, labels: dict[str, str] | None = None) -> float | None:
            return _sample(monitor, name, labels)

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
        # the per-request counter is on the shared registry; the rest only in exposition()
        shared = registry.get_sample_value
        assert shared(m.REQUESTS_BY_PROCESSOR, {"processor": "gpu", "tier": "gpu-8gb"}) == 1.0
        assert shared(m.REQUESTS_BY_PROCESSOR, {"processor": "cpu", "tier": "gpu-8gb"}) == 0.0
        assert shared(m.GPU_DEVICES) is None and shared(m.MODELS_LOADED) is None
        assert m.REQUESTS_BY_PROCESSOR.removesuffix("_total") not in monitor.exposition().decode()
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
        text = monitor.exposition().decode()
        assert 'hw_gpu_up{gpu="0"' in text and 'hw_power_watts{gpu="0"' not in text
        assert 'hw_power_watts{gpu="1"' in text
        assert _sample(monitor, m.OLLAMA_UP) == 0.0
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


async def test_admin_scrape_with_a_hung_backend_exports_each_family_once() -> None:
    source = FakeGpuSource([fake_reading(i) for i in range(2)], backend="nvml")
    registry = CollectorRegistry()
    monitor = GpuMonitor(
        _config(), registry, sources=[source], ollama=FakeOllamaClient(), hang_timeout=0.1
    )
    await monitor.start()
    runner = web.AppRunner(build_admin_app(registry, {}, expositions=[monitor.exposition]))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        await _until(lambda: len(monitor.snapshot.healthy) == 2)
        source.hang[0] = threading.Event()
        await _until(lambda: len(monitor.snapshot.healthy) == 1)
        async with aiohttp.ClientSession() as session:
            started = time.perf_counter()
            async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                body = await response.read()
            assert time.perf_counter() - started < 1.0
        text = body.decode()
        assert 'hw_gpu_up{gpu="0",name="NVIDIA H100 80GB HBM3"' in text
        assert 'hw_power_watts{gpu="0"' not in text and 'hw_power_watts{gpu="1"' in text
        assert 'ollama_sidecar_gpu_sample_errors_total{backend="nvml",reason="hung"} 1.0' in text
        types = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]
        assert {m.GPU_UP, m.OLLAMA_UP, m.REQUESTS_BY_PROCESSOR} <= set(types)
        assert len(types) == len(set(types)), "a metric family is exported twice"
        assert body == generate_latest(registry) + monitor.exposition()
        if shutil.which("promtool") is not None:
            done = subprocess.run(
                ["promtool", "check", "metrics"],
                input=body,
                capture_output=True,
                timeout=30,
                check=False,
            )
            assert done.returncode == 0, done.stdout + done.stderr
    finally:
        source.hang[0].set()
        await runner.cleanup()
        await monitor.stop()


async def test_exposition_is_rendered_per_sample_not_per_scrape() -> None:
    monitor = GpuMonitor(_config(), CollectorRegistry(), sources=[FakeGpuSource([fake_reading(0)])])
    before = monitor.exposition()
    assert f"{m.GPU_DEVICES} 0.0" in before.decode()  # no sample yet: no devices, no GPU series
    await monitor.start()
    try:
        await _until(lambda: monitor.snapshot.rounds > 0 and monitor.exposition() is not before)
        await monitor.stop()  # no more samples or polls: every read is the same rendered bytes
        text = monitor.exposition()
        assert monitor.exposition() is text
        assert _sample(monitor, m.GPU_DEVICES) == 1.0
    finally:
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
            await _until(lambda: _sample(monitor, m.OLLAMA_UP) == 1.0)
            assert _sample(monitor, m.MODELS_LOADED) == 0.0
            for model in models:
                assert monitor.placement(model.name).processor is Processor.UNKNOWN
            async with aiohttp.ClientSession() as session:
                for model in models:
                    body = {"model": model.name, "prompt": "x", "stream": False}
                    async with session.post(f"{emu.url}/api/generate", json=body) as response:
                        assert response.status == 200
            await _until(lambda: _sample(monitor, m.MODELS_LOADED) == 3.0)
            full = monitor.placement("full:7b")
            assert full.processor is Processor.GPU
            assert full.size_bytes == full.size_vram_bytes == 4 * GIB
            assert [g.uuid for g in full.gpus] == [fake_reading(0).uuid]
            split = monitor.placement("split:7b")
            assert split.processor is Processor.PARTIAL and split.size_vram_bytes == 2 * GIB
            assert monitor.placement("cpu:7b").processor is Processor.CPU
            assert monitor.placement("never:1b").processor is Processor.UNKNOWN
            assert monitor.digest("full:7b") == f"{1:064x}"
            vram = _sample(monitor, m.MODEL_VRAM, {m.LABEL_MODEL: "split:7b"})
            assert vram == 2 * GIB
            assert _sample(monitor, m.OLLAMA_INFO, {"version": config.version}) == 1.0
        finally:
            await monitor.stop()


async def test_unknown_models_do_not_raise_the_ollama_poll_rate() -> None:
    # One unknown model used to poll /api/ps and /api/tags every 0.25 s for a minute, and
    # every new name woke the poller at once.
    ollama = FakeOllamaClient({"/api/version": {"version": "0.12.3"}, "/api/tags": {"models": []}})
    ollama.set_ps()
    config = _config(ollama_poll_interval_seconds=2.0, enabled=False)
    monitor = GpuMonitor(config, CollectorRegistry(), sources=[], ollama=ollama)
    await monitor.start()
    try:
        await _until(lambda: "/api/ps" in ollama.requests)
        for n in range(30):  # one request a model, and a client inventing names
            monitor.note_request(f"no-such-model-{n}:1b")
            await asyncio.sleep(0.05)
    finally:
        await monitor.stop()
    # 1.5 s: the first poll, then 0.25 s, 0.5 s, 1 s apart; /api/tags once per new name batch.
    assert ollama.requests.count("/api/ps") <= 4
    assert ollama.requests.count("/api/tags") <= 4


async def test_the_configured_tolerance_decides_which_runner_matches() -> None:
    runner = GpuProcess(4242, int(6.4 * GIB), ollama=True)  # 6.7 % over the model's size_vram
    other = GpuProcess(5151, 40 * GIB, ollama=True)  # another runner, for no loaded model
    gpus = [fake_reading(0, processes=(other,)), fake_reading(1, processes=(runner,))]
    found = {}
    for tolerance in (0.25, 0.05):
        ollama = FakeOllamaClient({"/api/version": {"version": "0.12.3"}})
        ollama.set_ps(("m:8b", 6 * GIB, 6 * GIB))
        config = _config(runner_match_tolerance=tolerance)
        monitor = GpuMonitor(
            config, CollectorRegistry(), sources=[FakeGpuSource(gpus)], ollama=ollama
        )
        await monitor.start()
        try:
            await _until(lambda: bool(monitor.placement("m:8b").gpus))  # noqa: B023
            found[tolerance] = [g.uuid for g in monitor.placement("m:8b").gpus]
        finally:
            await monitor.stop()
    assert found[0.25] == [gpus[1].uuid]  # matched: only the GPU its runner holds
    assert found[0.05] == [gpus[0].uuid, gpus[1].uuid]  # unmatched: every Ollama GPU


def test_the_default_sources_get_the_configured_xid_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[dict[str, float]] = []

    def sources(**kwargs: float) -> list[GpuSource]:
        asked.append(kwargs)
        return []

    monkeypatch.setattr("exporters._monitor.default_sources", sources)
    GpuMonitor(_config(xid_hold_seconds=42.0), CollectorRegistry(), ollama=FakeOllamaClient())
    assert asked == [{"xid_hold_seconds": 42.0}]


async def test_remote_work_never_holds_a_gpu_share() -> None:
    """A cloud model /api/tags names occupies no GPU from its start; one the monitor did not know
    leaves the GPU when placed remote; a placement still unknown at the first token keeps it."""
    host = "https://ollama.com:443"
    cloud = {"name": "cloud:1b", "model": "cloud:1b", "digest": "d1", "remote_host": host}
    ollama = FakeOllamaClient(
        {"/api/version": {"version": "0.12.3"}, "/api/tags": {"models": [cloud]}}
    )
    ollama.set_ps(("full:7b", 5 * GIB, 5 * GIB))
    nvml = FakeNvml.h100s(1)
    nvml.draw(0, 300.0)
    monitor = GpuMonitor(_config(), CollectorRegistry(), sources=[NvmlSource(nvml)], ollama=ollama)
    await monitor.start()
    try:
        await _until(
            lambda: (
                monitor.placement("full:7b").gpus != ()
                and monitor.placement("cloud:1b").processor is Processor.REMOTE
            )
        )
        on_gpu = monitor.placement("full:7b")
        known = monitor.begin("cloud:1b")
        unplaced = monitor.begin("new:1b")  # not in /api/ps nor /api/tags: every GPU
        monitor.place(unplaced, UNKNOWN_PLACEMENT)
        turned_remote = monitor.begin("new:1b")
        monitor.place(turned_remote, Placement(Processor.REMOTE, remote_host=host))
        await asyncio.sleep(0.3)
        # even claimed at the end, a GPU the request did not occupy gives it nothing
        assert monitor.end(known, on_gpu) is None
        assert monitor.end(turned_remote, on_gpu) is None
        kept = monitor.end(unplaced, on_gpu)
        assert kept is not None and kept.energy_joules is not None and kept.energy_joules > 0
    finally:
        await monitor.stop()
