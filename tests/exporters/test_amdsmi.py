"""`AmdSmiSource` against a scenario fake of the `amdsmi` module (gpu.md §3.1 units)."""

import enum
from typing import Any

import pytest

from exporters import AmdSmiSource, BackendUnavailable, DeviceFailed, GpuProcess, GpuSampler

MIB = 1024 * 1024
DRIVER_NOT_LOADED = 34


class AmdSmiException(Exception):
    pass


class AmdSmiLibraryException(AmdSmiException):
    def __init__(self, err_code: int) -> None:
        super().__init__(f"amdsmi error {err_code}")
        self.err_code = err_code


class Fails:
    """An answer that raises `AmdSmiLibraryException(code)`, as the real wrapper does."""

    def __init__(self, code: int) -> None:
        self.code = code


NOT_SUPPORTED, UNKNOWN_ERROR = Fails(2), Fails(0xFFFFFFFF)


class FakeAmdSmi:
    """The slice of `amdsmi` the source uses, with one dict of answers per device.

    A `Fails` answer raises; "N/A" strings stand where the library's raw value was 0xFFFF.
    """

    AmdSmiException = AmdSmiException
    AmdSmiLibraryException = AmdSmiLibraryException
    AmdSmiInitFlags = enum.Enum("AmdSmiInitFlags", "INIT_AMD_GPUS")
    AmdSmiTemperatureType = enum.Enum("AmdSmiTemperatureType", "EDGE HOTSPOT VRAM")
    AmdSmiTemperatureMetric = enum.Enum("AmdSmiTemperatureMetric", "CURRENT")

    def __init__(self, devices: list[dict[str, Any]], init_error: int | None = None) -> None:
        self.devices = devices
        self.init_error = init_error
        self.initialised = False
        self.now = 0.0  # seconds on the fake's clock; the energy accumulator follows power

    @classmethod
    def mi300x(cls, count: int = 1) -> "FakeAmdSmi":
        return cls([_mi300x(i) for i in range(count)])

    def amdsmi_init(self, flags: Any) -> None:
        assert flags is self.AmdSmiInitFlags.INIT_AMD_GPUS
        if self.init_error is not None:
            raise AmdSmiLibraryException(self.init_error)
        self.initialised = True

    def amdsmi_shut_down(self) -> None:
        self.initialised = False

    def amdsmi_get_processor_handles(self) -> list[int]:
        return list(range(len(self.devices)))

    def _answer(self, handle: int, key: str) -> Any:
        assert self.initialised
        value = self.devices[handle][key]
        if isinstance(value, Fails):
            raise AmdSmiLibraryException(value.code)
        return value

    def amdsmi_get_gpu_driver_info(self, h: int) -> Any:
        return self._answer(h, "driver")

    def amdsmi_get_gpu_asic_info(self, h: int) -> Any:
        return self._answer(h, "asic")

    def amdsmi_get_gpu_device_uuid(self, h: int) -> Any:
        return self._answer(h, "uuid")

    def amdsmi_get_gpu_device_bdf(self, h: int) -> Any:
        return self._answer(h, "bdf")

    def amdsmi_get_gpu_activity(self, h: int) -> Any:
        return self._answer(h, "activity")

    def amdsmi_get_gpu_vram_usage(self, h: int) -> Any:
        return self._answer(h, "vram")

    def amdsmi_get_power_info(self, h: int) -> Any:
        return self._answer(h, "power")

    def amdsmi_get_power_cap_info(self, h: int) -> Any:
        return self._answer(h, "cap")

    def amdsmi_get_gpu_process_list(self, h: int) -> Any:
        return self._answer(h, "processes")

    def amdsmi_get_gpu_process_info(self, h: int, process: Any) -> Any:
        return {"pid": process, "memory_usage": {"vram_mem": 1 << 30}}

    def amdsmi_get_energy_count(self, h: int) -> Any:
        """amdsmi 6.2+ shape: 15.3 µJ ticks advancing with the current socket power."""
        resolution = self._answer(h, "energy_resolution")
        power = self.devices[h]["power"]
        watts = power.get("current_socket_power") if isinstance(power, dict) else None
        if not isinstance(watts, int):
            raise AmdSmiLibraryException(2)  # the fake meters only a numeric current power
        return {
            "energy_accumulator": int(watts * self.now * 1e6 / resolution),
            "counter_resolution": resolution,
            "timestamp": int(self.now * 1e9),
        }

    def amdsmi_get_gpu_total_ecc_count(self, h: int) -> Any:
        return self._answer(h, "ecc")

    def amdsmi_get_temp_metric(self, h: int, sensor: Any, metric: Any) -> Any:
        assert metric is self.AmdSmiTemperatureMetric.CURRENT
        return self._answer(h, "temp_" + sensor.name.lower())


def _mi300x(i: int) -> dict[str, Any]:
    return {
        "driver": {"driver_name": "amdgpu", "driver_version": "6.8.5"},
        "asic": {"market_name": "AMD Instinct MI300X", "vendor_id": "0x1002"},
        "uuid": f"1fff74a1-0000-1000-80e9-{i:012x}",
        "bdf": f"0000:{0x0C + i:02x}:00.0",
        "activity": {"gfx_activity": 37, "umc_activity": 5, "mm_activity": "N/A"},
        "vram": {"vram_total": 196592, "vram_used": 49152},
        # MI3xx: current socket power only, average reads N/A (0xFFFF).
        "power": {"current_socket_power": 312, "average_socket_power": "N/A"},
        "cap": {"power_cap": 750_000_000, "default_power_cap": 750_000_000},
        "temp_edge": NOT_SUPPORTED,  # MI300X has no edge sensor
        "temp_hotspot": 48,
        "temp_vram": 41,
        "energy_resolution": 15.3,
        "ecc": {"correctable_count": 7, "uncorrectable_count": 0, "deferred_count": 2},
        # amdsmi 6+ shape (ROCm docs); not checked on hardware
        "processes": [
            {"name": "ollama", "pid": 4242, "mem": 0, "memory_usage": {"vram_mem": 5 << 30}}
        ],
    }


def test_mi300x_readings_in_base_units() -> None:
    source = AmdSmiSource(FakeAmdSmi.mi300x(2))
    info = source.open()
    assert (info.backend, info.vendor, info.device_count) == ("amdsmi", "amd", 2)
    assert (info.driver_version, info.runtime) == ("6.8.5", "rocm")
    r = source.read(1)
    assert (r.index, r.vendor, r.name) == (1, "amd", "AMD Instinct MI300X")
    assert r.uuid == "1fff74a1-0000-1000-80e9-000000000001" and r.pci_bus_id == "0000:0d:00.0"
    assert r.memory_total_bytes == 196592 * MIB and r.memory_used_bytes == 49152 * MIB
    assert r.utilization_ratio == pytest.approx(0.37)
    assert r.power_watts == 312.0 and r.power_limit_watts == 750.0
    assert r.temperatures_celsius == (("hotspot", 48.0), ("vram", 41.0))
    assert r.clock_events is None  # not offered: absent, not 0


def test_compute_processes_in_both_list_shapes() -> None:
    smi = FakeAmdSmi.mi300x(1)
    source = AmdSmiSource(smi, is_ollama=lambda pid: pid == 4242)
    source.open()
    (runner,) = source.read(0).processes or ()
    assert (runner.pid, runner.used_memory_bytes, runner.ollama) == (4242, 5 << 30, True)
    smi.devices[0]["processes"] = [77]  # amdsmi 5: handles, resolved one by one
    assert source.read(0).processes == (GpuProcess(77, 1 << 30, False),)
    smi.devices[0]["processes"] = NOT_SUPPORTED
    assert source.read(0).processes is None


def test_the_energy_accumulator_advances_with_power_in_joules() -> None:
    smi = FakeAmdSmi.mi300x(1)
    source = AmdSmiSource(smi)
    source.open()
    smi.now = 100.0
    first = source.read(0)
    smi.now = 102.0
    second = source.read(0)
    assert first.energy_joules == pytest.approx(312 * 100.0, rel=1e-6)
    assert second.energy_joules - first.energy_joules == pytest.approx(312 * 2.0, rel=1e-4)  # type: ignore[operator]
    assert first.energy_wrap_joules == pytest.approx(2**64 * 15.3e-6)
    smi.now = 0.0  # a zero accumulator (an MI200/MI300 secondary die): absent, not 0 J
    assert source.read(0).energy_joules is None
    smi.devices[0]["energy_resolution"] = NOT_SUPPORTED
    assert source.read(0).energy_joules is None


def test_ecc_totals_are_the_nvidia_ecc_fields() -> None:
    smi = FakeAmdSmi.mi300x(1)
    source = AmdSmiSource(smi)
    source.open()
    r = source.read(0)
    assert (r.ecc_corrected_errors, r.ecc_uncorrected_errors) == (7, 0)
    smi.devices[0]["ecc"] = NOT_SUPPORTED  # ECC off or not offered: absent, not 0
    r = source.read(0)
    assert r.ecc_corrected_errors is None and r.ecc_uncorrected_errors is None
    smi.devices[0]["ecc"] = {"correctable_count": 0xFFFF_FFFF_FFFF_FFFF}
    assert source.read(0).ecc_corrected_errors is None


def test_average_power_preferred_and_na_fields_are_absent() -> None:
    dev = _mi300x(0)
    dev["power"] = {"current_socket_power": "N/A", "average_socket_power": 250}
    dev["activity"] = {"gfx_activity": "N/A"}
    dev["vram"] = {"vram_total": 65520, "vram_used": "N/A"}
    dev["cap"] = {"power_cap": "N/A"}
    dev["temp_hotspot"] = "N/A"
    source = AmdSmiSource(FakeAmdSmi([dev]))
    source.open()
    r = source.read(0)
    assert r.power_watts == 250.0
    assert r.utilization_ratio is None and r.memory_used_bytes is None
    assert r.memory_total_bytes == 65520 * MIB
    assert r.power_limit_watts is None
    assert r.temperatures_celsius == (("vram", 41.0),)


def test_unsupported_answers_are_absent_not_zero() -> None:
    dev = _mi300x(0)
    for key in ("activity", "vram", "power", "cap", "temp_hotspot", "temp_vram"):
        dev[key] = NOT_SUPPORTED
    source = AmdSmiSource(FakeAmdSmi([dev]))
    source.open()
    r = source.read(0)
    assert r.healthy and r.name == "AMD Instinct MI300X"
    assert r.memory_total_bytes is None and r.utilization_ratio is None
    assert r.power_watts is None and r.power_limit_watts is None
    assert r.temperatures_celsius == ()


def test_a_failing_call_fails_only_that_device() -> None:
    smi = FakeAmdSmi.mi300x(2)
    sampler = GpuSampler([AmdSmiSource(smi)], hang_timeout=1.0)
    assert len(sampler.run_once().healthy) == 2
    smi.devices[0]["vram"] = UNKNOWN_ERROR
    source = AmdSmiSource(smi)
    source.open()
    with pytest.raises(DeviceFailed) as failed:
        source.read(0)
    assert failed.value.reason == "error"
    snap = sampler.run_once()
    assert [d.healthy for d in snap.devices] == [False, True]
    assert snap.devices[0].uuid == "1fff74a1-0000-1000-80e9-000000000000"
    assert ("amdsmi", "error", 1) in snap.errors
    smi.devices[0]["vram"] = {"vram_total": 196592, "vram_used": 0}
    assert len(sampler.run_once().healthy) == 2
    sampler.stop()


def test_driver_not_loaded_and_no_device_are_unavailable() -> None:
    with pytest.raises(BackendUnavailable) as no_driver:
        AmdSmiSource(FakeAmdSmi([], init_error=DRIVER_NOT_LOADED)).open()
    assert no_driver.value.reason == "init_failed"
    smi = FakeAmdSmi([])
    with pytest.raises(BackendUnavailable) as none:
        AmdSmiSource(smi).open()
    assert none.value.reason == "no_device" and not smi.initialised  # shut down again


def test_close_shuts_the_library_down() -> None:
    smi = FakeAmdSmi.mi300x()
    source = AmdSmiSource(smi)
    source.open()
    assert smi.initialised
    source.close()
    source.close()
    assert not smi.initialised


def test_without_the_package_the_library_is_missing() -> None:
    # amdsmi is not installed in this environment (and fails with KeyError without ROCm).
    with pytest.raises(BackendUnavailable) as missing:
        AmdSmiSource().open()
    assert missing.value.reason == "library_missing"
