"""The ctypes-level fake holds callers to the C prototypes, as the real library's ABI would."""

import ctypes

import pytest

from exporters._fake_rocm_smi import NOT_SUPPORTED, SUCCESS, ErrorCount
from exporters.testing import FakeRocmSmi


def initialised(count: int = 1) -> FakeRocmSmi:
    smi = FakeRocmSmi.mi300x(count)
    smi.rsmi_init.argtypes = [ctypes.c_uint64]
    assert smi.rsmi_init(0) == SUCCESS
    return smi


def test_pointers_must_point_at_the_prototypes_types() -> None:
    smi = initialised()
    ticks, stamp, resolution = ctypes.c_uint64(), ctypes.c_uint64(), ctypes.c_float()
    refs = (ctypes.byref(ticks), ctypes.byref(resolution), ctypes.byref(stamp))
    assert smi.rsmi_dev_energy_count_get(0, *refs) == SUCCESS
    assert resolution.value == pytest.approx(15.3) and ticks.value > 0
    wide = ctypes.c_double()  # float *counter_resolution is 4 bytes, not 8
    with pytest.raises(TypeError, match="argument 2"):
        smi.rsmi_dev_energy_count_get(0, refs[0], ctypes.byref(wide), refs[2])


def test_a_64_bit_value_needs_c_uint64_or_declared_argtypes() -> None:
    smi = initialised()
    count = ErrorCount()
    with pytest.raises(TypeError, match="64-bit"):
        smi.rsmi_dev_ecc_count_get(0, 1, ctypes.byref(count))
    assert smi.rsmi_dev_ecc_count_get(0, ctypes.c_uint64(1), ctypes.byref(count)) == SUCCESS
    assert (count.correctable_err, count.uncorrectable_err) == (3, 0)
    smi.rsmi_dev_ecc_count_get.argtypes = [
        ctypes.c_uint32,
        ctypes.c_uint64,
        ctypes.POINTER(ErrorCount),
    ]
    assert smi.rsmi_dev_ecc_count_get(0, 4, ctypes.byref(count)) == SUCCESS


def test_unsupported_missing_and_restarting_like_the_library() -> None:
    smi = initialised()
    value = ctypes.c_uint64()
    smi.devices[0].unsupported.add("rsmi_dev_power_cap_get")
    assert smi.rsmi_dev_power_cap_get(0, 0, ctypes.byref(value)) == NOT_SUPPORTED
    assert not hasattr(smi.without("rsmi_dev_power_cap_get"), "rsmi_dev_power_cap_get")
    now = [0.0]
    smi.clock = lambda: now[0]
    smi.draw(0, 153.0)  # 153 W = 10^7 ticks of 15.3 µJ a second
    before = smi.energy_ticks(0)
    now[0] = 1.0
    assert smi.energy_ticks(0) - before == pytest.approx(10_000_000, abs=1)
    smi.reload_driver(0)
    assert smi.energy_ticks(0) == 0
