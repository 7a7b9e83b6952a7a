import pytest

from exporters import BackendUnavailable, DeviceFailed, NvmlSource, SourceFailed
from exporters.testing import FakeNvml


def test_eight_healthy_h100s_in_base_units() -> None:
    nv = FakeNvml.h100s(8)
    nv.devices[3].processes = [(4242, 40 * 1024**3), (4243, None)]
    source = NvmlSource(nv, is_ollama=lambda pid: pid == 4242)
    info = source.open()
    assert (info.device_count, info.driver_version, info.runtime_version) == (
        8,
        "560.35.03",
        "12.6",
    )
    readings = [source.read(i) for i in range(8)]
    assert len({r.uuid for r in readings}) == 8
    r = readings[3]
    assert r.name == "NVIDIA H100 80GB HBM3" and r.pci_bus_id == "00000000:1B:00.0"
    assert r.memory_total_bytes == 85_520_809_984
    assert r.utilization_ratio == pytest.approx(0.3)
    assert r.power_watts == pytest.approx(70.5) and r.power_limit_watts == 700.0
    assert r.energy_joules == pytest.approx(123_456.789)
    assert r.sm_clock_hertz == 345e6 and r.memory_clock_hertz == 2619e6
    assert dict(r.clock_events or ())["gpu_idle"] is True
    assert r.temperatures_celsius == (("gpu", 33.0),)
    assert r.processes is not None and [p.ollama for p in r.processes] == [True, False]
    assert r.processes[1].used_memory_bytes is None
    source.close()
    assert nv.initialised == 0


def test_unsupported_fields_are_none_not_zero() -> None:
    nv = FakeNvml.h100s(1)
    nv.devices[0].unsupported = {
        "nvmlDeviceGetPowerUsage",
        "nvmlDeviceGetTotalEccErrors",
        "nvmlDeviceGetCurrentClocksEventReasons",
        "nvmlDeviceGetMemoryInfo_v2",
    }
    source = NvmlSource(nv)
    source.open()
    r = source.read(0)
    assert r.power_watts is None and r.ecc_corrected_errors is None and r.clock_events is None
    assert r.memory_total_bytes == 85_520_809_984  # fell back to the v1 memory call
    assert r.power_limit_watts == 700.0


def test_lost_gpu_fails_only_that_device() -> None:
    nv = FakeNvml.h100s(2)
    source = NvmlSource(nv)
    source.open()
    nv.lose(1)
    assert source.read(0).healthy
    with pytest.raises(DeviceFailed) as err:
        source.read(1)
    assert err.value.reason == "lost"


def test_library_missing_and_no_device() -> None:
    with pytest.raises(BackendUnavailable) as err:
        NvmlSource(FakeNvml().library_missing()).open()
    assert err.value.reason == "library_missing"
    with pytest.raises(BackendUnavailable) as err:
        NvmlSource(FakeNvml([])).open()
    assert err.value.reason == "no_device"


def test_driver_gone_mid_run_fails_the_source() -> None:
    nv = FakeNvml.h100s(1)
    source = NvmlSource(nv)
    source.open()
    nv.initialised = 0
    with pytest.raises(SourceFailed):
        source.read(0)


def test_real_pynvml_without_driver_is_unavailable() -> None:
    with pytest.raises(BackendUnavailable) as err:
        NvmlSource().open()
    assert err.value.reason in ("library_missing", "driver_not_loaded")
