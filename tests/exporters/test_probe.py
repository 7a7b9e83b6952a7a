"""The default probe order, and what it finds on this GPU-less host."""

from exporters import GpuSampler, NvmlSource, default_sources


def test_probe_order() -> None:
    assert [s.backend for s in default_sources()] == [
        "nvml",
        "amdsmi",
        "rocm_smi",
        "rocm_smi_cli",
        "apple",
    ]


def test_a_gpu_less_host_falls_back_to_cpu_with_a_reason_per_backend() -> None:
    sampler = GpuSampler(default_sources(), hang_timeout=10.0)
    try:
        snap = sampler.run_once()
    finally:
        sampler.stop(timeout=1.0)
    assert snap.backend == "cpu" and snap.devices == ()
    reasons = {s.backend: (s.up, s.reason) for s in snap.backends}
    assert list(reasons) == ["nvml", "amdsmi", "rocm_smi", "rocm_smi_cli", "apple", "cpu"]
    assert reasons["cpu"] == (True, "no_gpu")
    assert reasons["rocm_smi"] == (False, "no_device")  # the real Debian library loads
    assert all(not up and reason for b, (up, reason) in reasons.items() if b != "cpu")


def test_the_nvml_source_gets_the_configured_xid_hold() -> None:
    nvml = default_sources(xid_hold_seconds=42.0)[0]
    assert isinstance(nvml, NvmlSource) and nvml.xid_hold_seconds == 42.0
