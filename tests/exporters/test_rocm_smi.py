"""`RocmSmiLibSource` against the real Debian library (no AMD device here) and against the
ctypes-level fake `FakeRocmSmi` (gpu.md §3.2 units)."""

from pathlib import Path

import pytest

from exporters import BackendUnavailable, RocmSmiLibSource
from exporters._fake_rocm_smi import (
    BLOCK_GFX,
    BLOCK_SDMA,
    BLOCK_UMC,
    INIT_ERROR,
    NEWER_THAN_DEBIAN,
    PROTOTYPES,
)
from exporters._rocm_smi import _bdf, has_amd_device, load_library
from exporters.testing import FakeRocmSmi

RESOLUTION_J = 15.3e-6


def opened(smi: FakeRocmSmi) -> RocmSmiLibSource:
    source = RocmSmiLibSource(smi, check_sysfs=False)
    source.open()
    return source


def test_the_real_debian_library_loads() -> None:
    lib = load_library()
    assert hasattr(lib, "rsmi_init")


def test_real_library_without_amd_device_is_a_clean_no_device() -> None:
    with pytest.raises(BackendUnavailable) as err:
        RocmSmiLibSource().open()
    assert err.value.reason == "no_device"


def test_real_rsmi_init_without_device_is_no_device(tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailable) as err:
        RocmSmiLibSource(sysfs=tmp_path, check_sysfs=False).open()
    assert err.value.reason == "no_device"
    assert "rsmi_init" in err.value.detail


def test_missing_library_is_library_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ctypes.util.find_library", lambda name: None)
    with pytest.raises(BackendUnavailable) as err:
        load_library(("/nonexistent/librocm_smi64.so",))
    assert err.value.reason == "library_missing"


def test_amd_device_detection_from_sysfs(tmp_path: Path) -> None:
    assert not has_amd_device(tmp_path)
    vendor = tmp_path / "class" / "drm" / "card0" / "device" / "vendor"
    vendor.parent.mkdir(parents=True)
    vendor.write_text("0x1002\n")
    assert has_amd_device(tmp_path)


def test_bdf_decoding() -> None:
    assert _bdf((0 << 32) | (0x0C << 8) | (0 << 3) | 0) == "0000:0c:00.0"


def test_mi300x_readings_in_base_units() -> None:
    source = RocmSmiLibSource(FakeRocmSmi.mi300x(2), check_sysfs=False)
    info = source.open()
    assert (info.backend, info.vendor, info.device_count, info.driver_version) == (
        "rocm_smi",
        "amd",
        2,
        "6.8.5",
    )
    r = source.read(1)
    assert (r.name, r.uuid, r.pci_bus_id) == (
        "AMD Instinct MI300X",
        "18f68e602b8a7910",
        "0000:0d:00.0",
    )
    assert r.memory_total_bytes == 206_141_652_992 and r.utilization_ratio == pytest.approx(0.37)
    assert r.temperatures_celsius == (("junction", 58.0), ("memory", 47.0))
    assert (r.power_watts, r.power_limit_watts) == (312.0, 750.0)


def test_the_energy_accumulator_in_joules_advances_with_power() -> None:
    now = [100.0]
    smi = FakeRocmSmi.mi300x(1)
    smi.clock = lambda: now[0]
    smi.draw(0, 400.0)
    source = opened(smi)
    first = source.read(0)
    now[0] = 102.5
    second = source.read(0)
    assert first.energy_joules == pytest.approx(2_000_000_000 * RESOLUTION_J)
    assert second.energy_joules - first.energy_joules == pytest.approx(1000.0, abs=RESOLUTION_J)  # type: ignore[operator]
    assert first.energy_wrap_joules == pytest.approx(2**64 * RESOLUTION_J, rel=1e-6)


def test_energy_is_absent_not_zero_where_the_library_has_none() -> None:
    smi = FakeRocmSmi.mi300x(2)
    source = opened(smi)
    smi.devices[1].energy_ticks = 0  # an MI200/MI300 secondary die reports 0 (rocm-smi's test)
    smi.devices[0].unsupported.add("rsmi_dev_energy_count_get")
    assert source.read(0).energy_joules is None and source.read(1).energy_joules is None
    smi.devices[0].unsupported.clear()
    smi.devices[0].energy_ticks = 2**64 - 1  # gpu_metrics' "not supported" value
    assert source.read(0).energy_joules is None
    old = opened(FakeRocmSmi.mi300x(1).without("rsmi_dev_energy_count_get"))
    reading = old.read(0)
    assert reading.energy_joules is None and reading.energy_wrap_joules is None


def test_ecc_counts_are_summed_over_the_enabled_blocks() -> None:
    smi = FakeRocmSmi.mi300x(1)
    source = opened(smi)
    r = source.read(0)
    assert (r.ecc_corrected_errors, r.ecc_uncorrected_errors) == (4, 1)  # UMC 3/0 + GFX 1/1
    smi.devices[0].ecc[BLOCK_SDMA] = (50, 50)  # counted only while its ECC is enabled
    assert source.read(0).ecc_corrected_errors == 4
    smi.devices[0].ecc_enabled = BLOCK_UMC | BLOCK_GFX | BLOCK_SDMA
    assert source.read(0).ecc_corrected_errors == 54
    smi.devices[0].ecc_enabled = 0  # ECC off: no count, not 0
    r = source.read(0)
    assert r.ecc_corrected_errors is None and r.ecc_uncorrected_errors is None
    smi.devices[0].ecc_enabled = BLOCK_GFX
    smi.devices[0].unsupported.add("rsmi_dev_ecc_count_get")
    assert source.read(0).ecc_uncorrected_errors is None


def test_debians_library_without_current_socket_power_falls_back_to_average() -> None:
    source = opened(FakeRocmSmi.mi300x(1).without("rsmi_dev_current_socket_power_get"))
    assert source.read(0).power_watts == 312.0


def test_init_failure_and_no_device_are_unavailable() -> None:
    smi = FakeRocmSmi.mi300x(1)
    smi.init_status = INIT_ERROR
    with pytest.raises(BackendUnavailable) as failed:
        RocmSmiLibSource(smi, check_sysfs=False).open()
    assert failed.value.reason == "no_device" and "RSMI_STATUS_INIT_ERROR" in failed.value.detail
    empty = FakeRocmSmi([])
    with pytest.raises(BackendUnavailable) as none:
        RocmSmiLibSource(empty, check_sysfs=False).open()
    assert none.value.reason == "no_device" and not empty.initialised


def test_the_fakes_functions_are_the_real_librarys_exports() -> None:
    lib = load_library()
    missing = [name for name in PROTOTYPES if not hasattr(lib, name)]
    assert missing == sorted(NEWER_THAN_DEBIAN)
