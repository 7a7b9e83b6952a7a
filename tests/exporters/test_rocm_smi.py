from pathlib import Path

import pytest

from exporters import BackendUnavailable, RocmSmiLibSource
from exporters._rocm_smi import _bdf, has_amd_device, load_library


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
