import time

from exporters import GpuSampler, NvmlSource
from exporters.testing import FakeGpuSource, FakeNvml, fake_reading


def _wait(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_a_hanging_call_isolates_its_device_and_recovers() -> None:
    nv = FakeNvml.h100s(3)
    sampler = GpuSampler([NvmlSource(nv)], 0.02, hang_timeout=0.1)
    sampler.start()
    try:
        _wait(lambda: len(sampler.snapshot.healthy) == 3)
        nv.hang(1)
        _wait(lambda: [d.healthy for d in sampler.snapshot.devices] == [True, False, True])
        assert sampler.snapshot.devices[1].error == "hung"
        rounds = sampler.snapshot.rounds
        _wait(lambda: sampler.snapshot.rounds > rounds + 3)  # the others keep reporting
        assert ("nvml", "hung", 1) in sampler.snapshot.errors
        nv.release(1)
        _wait(lambda: len(sampler.snapshot.healthy) == 3)
    finally:
        nv.release(1)
        sampler.stop()


def test_lost_device_reads_down_then_recovers() -> None:
    nv = FakeNvml.h100s(2)
    sampler = GpuSampler([NvmlSource(nv)])
    sampler.run_once()
    nv.lose(0)
    snap = sampler.run_once()
    assert [d.healthy for d in snap.devices] == [False, True]
    assert snap.devices[0].uuid == "GPU-6a1c2e3f-0000-0000-0000-000000000000"
    assert snap.devices[0].power_watts is None
    nv.lose(0, False)
    assert len(sampler.run_once().healthy) == 2
    assert ("nvml", "lost", 1) in snap.errors


def test_library_missing_falls_back_to_cpu_and_recovers_without_restart() -> None:
    source = FakeGpuSource([fake_reading(0)], backend="nvml", unavailable="library_missing")
    sampler = GpuSampler([source], reprobe_interval=0.0)
    snap = sampler.run_once()
    assert snap.backend == "cpu" and snap.devices == ()
    assert [(b.backend, b.up, b.reason) for b in snap.backends] == [
        ("nvml", False, "library_missing"),
        ("cpu", True, "no_gpu"),
    ]
    source.unavailable = None
    snap = sampler.run_once()
    assert snap.backend == "nvml" and len(snap.healthy) == 1


def test_probe_takes_the_first_source_that_opens() -> None:
    first = FakeGpuSource([], backend="nvml", unavailable="no_device")
    second = FakeGpuSource([fake_reading(0, vendor="amd")], backend="rocm_smi")
    snap = GpuSampler([first, second]).run_once()
    assert snap.backend == "rocm_smi"
    assert [b.up for b in snap.backends] == [False, True]
