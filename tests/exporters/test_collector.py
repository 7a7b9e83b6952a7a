"""`GpuCollector`: families and their text built on update, served as they are on every scrape."""

import shutil
import subprocess

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from exporters import (
    BackendState,
    GpuCollector,
    GpuProcess,
    GpuSampler,
    GpuSnapshot,
    ModelResidency,
    OllamaView,
    RocmSmiLibSource,
    SourceInfo,
)
from exporters import metric_names as m
from exporters.testing import FakeRocmSmi, fake_reading


def _snapshot(*devices: object) -> GpuSnapshot:
    return GpuSnapshot(
        backend="nvml",
        info=SourceInfo("nvml", "nvidia", len(devices)),
        devices=tuple(devices),  # type: ignore[arg-type]
        backends=(BackendState("nvml", True, "ok"),),
        errors=(("nvml", "lost", 2),),
        sample_seconds=0.004,
        rounds=3,
    )


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _value(registry: CollectorRegistry, metric: str, /, **labels: str) -> float | None:
    for (sample, pairs), value in _samples(registry).items():
        if sample == metric and labels.items() <= dict(pairs).items():
            return value
    return None


def test_a_scrape_serves_the_families_of_the_last_update_without_rebuilding() -> None:
    collector = GpuCollector()
    registry = CollectorRegistry()
    registry.register(collector)
    assert _value(registry, m.GPU_DEVICES) == 0.0
    assert _value(registry, m.GPU_UP) is None
    collector.update_gpu(_snapshot(fake_reading(0), fake_reading(1, memory_used_bytes=5)))
    first = list(collector.collect())
    assert list(collector.collect()) == first  # the same objects, not rebuilt per scrape
    assert all(a is b for a, b in zip(collector.collect(), first, strict=True))
    assert _value(registry, m.GPU_DEVICES) == 2.0
    assert _value(registry, m.GPU_MEMORY_USAGE, gpu="1") == 5.0
    assert _value(registry, m.GPU_SAMPLE_ERRORS, backend="nvml", reason="lost") == 2.0
    assert _value(registry, m.GPU_SAMPLE_DURATION) == 0.004


def test_per_gpu_labels_and_base_units() -> None:
    collector = GpuCollector(_snapshot(fake_reading(0)))
    registry = CollectorRegistry()
    registry.register(collector)
    labels = {
        "gpu": "0",
        "uuid": "GPU-00000000-0000-0000-0000-000000000000",
        "name": "NVIDIA H100 80GB HBM3",
        "vendor": "nvidia",
    }
    assert _value(registry, m.GPU_UP, **labels) == 1.0
    assert _value(registry, m.GPU_MEMORY_LIMIT, **labels) == 85_520_809_984
    assert _value(registry, m.GPU_TEMPERATURE, sensor="gpu", **labels) == 31.0
    assert _value(registry, m.GPU_POWER, **labels) == 70.5


def test_unsupported_fields_are_absent_and_a_down_gpu_keeps_only_up_and_size() -> None:
    bare = fake_reading(
        0,
        utilization_ratio=None,
        power_watts=None,
        temperatures_celsius=(),
        clock_events=None,
        ecc_corrected_errors=None,
        ecc_uncorrected_errors=None,
    )
    lost = fake_reading(1).down("lost")
    registry = CollectorRegistry()
    registry.register(GpuCollector(_snapshot(bare, lost)))
    names_for = {
        gpu: {name for (name, pairs) in _samples(registry) if ("gpu", gpu) in pairs}
        for gpu in ("0", "1")
    }
    for missing in (m.GPU_UTILIZATION, m.GPU_POWER, m.GPU_TEMPERATURE, m.GPU_CLOCK_EVENT):
        assert missing not in names_for["0"]
    assert m.GPU_ERRORS not in names_for["0"]
    assert m.GPU_MEMORY_USAGE in names_for["0"]
    assert names_for["1"] == {m.GPU_UP, m.GPU_MEMORY_LIMIT}
    assert _value(registry, m.GPU_UP, gpu="1") == 0.0


def test_ollama_memory_only_when_every_ollama_process_reports_it() -> None:
    known = fake_reading(0, processes=(GpuProcess(7, 3 << 30, True), GpuProcess(8, 1 << 30)))
    unknown = fake_reading(1, processes=(GpuProcess(9, None, True),))
    registry = CollectorRegistry()
    registry.register(GpuCollector(_snapshot(known, unknown)))
    assert _value(registry, m.GPU_OLLAMA_MEMORY, gpu="0") == float(3 << 30)
    assert _value(registry, m.GPU_OLLAMA_MEMORY, gpu="1") is None
    assert _value(registry, m.GPU_PROCESSES, gpu="0") == 2.0


def test_ollama_view_families_follow_updates() -> None:
    collector = GpuCollector()
    registry = CollectorRegistry()
    registry.register(collector)
    assert _value(registry, m.OLLAMA_UP) is None
    model = ModelResidency("qwen3:8b", "qwen3:8b", 6 << 30, 3 << 30)
    collector.update_ollama(OllamaView(True, "0.12.3", (model,)))
    assert _value(registry, m.OLLAMA_UP) == 1.0
    assert _value(registry, m.OLLAMA_INFO, version="0.12.3") == 1.0
    assert _value(registry, m.MODELS_LOADED) == 1.0
    assert _value(registry, m.MODEL_VRAM, **{m.LABEL_MODEL: "qwen3:8b"}) == float(3 << 30)
    collector.update_ollama(OllamaView(False, "0.12.3"))
    assert _value(registry, m.OLLAMA_UP) == 0.0
    assert _value(registry, m.MODELS_LOADED) is None  # unknown while down, not 0
    collector.update_ollama(None)
    assert _value(registry, m.OLLAMA_UP) is None


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_exposition_passes_promtool() -> None:
    collector = GpuCollector(_snapshot(fake_reading(0), fake_reading(1).down("hung")))
    collector.update_ollama(OllamaView(True, "0.12.3", (ModelResidency("a:1b", "a:1b", 10, 10),)))
    registry = CollectorRegistry()
    registry.register(collector)
    assert collector.exposition() == generate_latest(registry)
    done = subprocess.run(
        ["promtool", "check", "metrics"],
        input=collector.exposition(),
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_exposition_is_the_registry_rendering_cached_between_updates() -> None:
    collector = GpuCollector()
    registry = CollectorRegistry()
    registry.register(collector)
    assert collector.exposition() == generate_latest(registry)
    collector.update_gpu(_snapshot(fake_reading(0), fake_reading(1)))
    first = collector.exposition()
    assert first is collector.exposition()  # a read formats nothing
    assert first == generate_latest(registry) and b'hw_gpu_up{gpu="1"' in first
    collector.update_ollama(OllamaView(True, "0.12.3", ()))
    both = collector.exposition()
    assert both.startswith(first) and both == generate_latest(registry)
    assert f"{m.OLLAMA_UP} 1.0".encode() in both
    collector.update_gpu(_snapshot(fake_reading(0)))
    assert b'hw_gpu_up{gpu="1"' not in collector.exposition()
    assert collector.exposition() == generate_latest(registry)  # the Ollama part is kept
    collector.update_ollama(None)
    assert m.OLLAMA_UP.encode() not in collector.exposition()


def test_amd_ecc_and_energy_are_the_families_nvidia_uses() -> None:
    sampler = GpuSampler([RocmSmiLibSource(FakeRocmSmi.mi300x(1), check_sysfs=False)])
    snapshot = sampler.run_once()
    sampler.stop()
    registry = CollectorRegistry()
    collector = GpuCollector()
    registry.register(collector)
    collector.update_gpu(snapshot)
    assert _value(registry, m.GPU_ERRORS, vendor="amd", error_type="corrected") == 4
    assert _value(registry, m.GPU_ERRORS, vendor="amd", error_type="uncorrected") == 1
    energy = _value(registry, m.GPU_ENERGY, vendor="amd")
    assert energy == pytest.approx(2_000_000_000 * 15.3e-6, rel=1e-3)
