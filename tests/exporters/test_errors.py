import pytest

from exporters import (
    BackendUnavailable,
    DeviceFailed,
    ExporterError,
    OllamaUnavailable,
    SourceFailed,
)


@pytest.mark.parametrize(
    "kind", [BackendUnavailable, SourceFailed, DeviceFailed, OllamaUnavailable]
)
def test_one_root_with_a_label_safe_reason(kind: type[ExporterError]) -> None:
    err = kind("no_device", "nvmlInit: NVML_ERROR_DRIVER_NOT_LOADED")
    assert isinstance(err, ExporterError)
    assert (err.reason, err.detail) == ("no_device", "nvmlInit: NVML_ERROR_DRIVER_NOT_LOADED")
    assert str(err) == "no_device: nvmlInit: NVML_ERROR_DRIVER_NOT_LOADED"
    assert str(kind("hung")) == "hung"
