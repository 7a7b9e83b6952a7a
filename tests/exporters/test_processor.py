from exporters import GpuSnapshot, ModelResidency, SourceInfo, decide, ollama_processor
from exporters._processor import gpu_refs
from exporters._source import GpuProcess
from exporters.testing import fake_reading
from telemetry import Processor

GIB = 1024**3
NVML = SourceInfo("nvml", "nvidia", 2)


def _snap(*devices, info=NVML) -> GpuSnapshot:  # type: ignore[no-untyped-def]
    return GpuSnapshot(backend=info.backend if info else "cpu", info=info, devices=devices)


def _place(size: int, vram: int, snap: GpuSnapshot) -> Processor:
    return decide(
        ModelResidency("m:7b", "m:7b", size, vram), snap, gpu_refs(snap.devices)
    ).processor


def test_ollama_rule_in_order() -> None:
    assert ollama_processor(5 * GIB, 0) is Processor.CPU
    assert ollama_processor(5 * GIB, 5 * GIB) is Processor.GPU
    assert ollama_processor(5 * GIB, 6 * GIB) is Processor.UNKNOWN
    assert ollama_processor(0, 1) is Processor.UNKNOWN
    assert ollama_processor(10 * GIB, 5 * GIB) is Processor.PARTIAL


def test_gpu_partial_cpu_unloaded() -> None:
    snap = _snap(fake_reading(0), fake_reading(1))
    full = decide(ModelResidency("m", "m", 5 * GIB, 5 * GIB), snap, gpu_refs(snap.devices))
    assert full.processor is Processor.GPU and len(full.gpus) == 2
    assert full.gpus[0].uuid == "GPU-00000000-0000-0000-0000-000000000000"
    assert _place(10 * GIB, 4 * GIB, snap) is Processor.PARTIAL
    cpu = decide(ModelResidency("m", "m", 5 * GIB, 0), snap, gpu_refs(snap.devices))
    assert cpu.processor is Processor.CPU and cpu.gpus == ()
    assert decide(None, snap, ()).processor is Processor.UNKNOWN


def test_no_healthy_gpu() -> None:
    dead = _snap(fake_reading(0).down("lost"))
    assert _place(5 * GIB, 0, dead) is Processor.CPU
    assert _place(5 * GIB, 5 * GIB, dead) is Processor.UNKNOWN
    cpu_only = _snap(info=None)
    assert _place(5 * GIB, 0, cpu_only) is Processor.CPU
    no_view = decide(ModelResidency("m", "m", 5 * GIB, 5 * GIB), cpu_only, ())
    assert no_view.processor is Processor.GPU and no_view.gpus == ()


def test_apple_metal_full_offload_is_gpu() -> None:
    apple = fake_reading(0, vendor="apple", name="Apple M2 Max", uuid="apple-M2")
    snap = _snap(apple, info=SourceInfo("apple", "apple", 1))
    placement = decide(ModelResidency("m", "m", 5 * GIB, 5 * GIB), snap, gpu_refs(snap.devices))
    assert placement.processor is Processor.GPU and placement.gpus[0].vendor == "apple"


def test_gpus_running_ollama_are_preferred() -> None:
    busy = fake_reading(1, processes=(GpuProcess(7, GIB, ollama=True),))
    refs = gpu_refs((fake_reading(0, processes=()), busy))
    assert [r.uuid for r in refs] == [busy.uuid]
