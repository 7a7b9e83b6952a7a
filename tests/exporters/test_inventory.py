from pathlib import Path

from exporters import GpuSnapshot, SourceInfo, fake_reading, tier_for_host
from exporters._inventory import cgroup_version
from telemetry._config import DEFAULT_TIERS

GIB = 1024**3


def _snap(*totals: int, vendor: str = "nvidia") -> GpuSnapshot:
    devices = tuple(
        fake_reading(i, memory_total_bytes=t, vendor=vendor) for i, t in enumerate(totals)
    )
    return GpuSnapshot(backend="x", info=SourceInfo("x", vendor, len(devices)), devices=devices)


def test_tier_by_largest_single_gpu_with_slack() -> None:
    assert tier_for_host(GpuSnapshot(), DEFAULT_TIERS)[0] == "cpu"
    assert tier_for_host(_snap(24564 * 1024**2), DEFAULT_TIERS)[0] == "gpu-24gb"  # RTX 4090
    assert tier_for_host(_snap(12 * GIB, 12 * GIB, 12 * GIB), DEFAULT_TIERS)[0] == "gpu-8gb"
    assert tier_for_host(_snap(81559 * 1024**2), DEFAULT_TIERS)[0] == "gpu-40gb"
    assert tier_for_host(_snap(4 * GIB), DEFAULT_TIERS)[0] == "cpu"
    assert tier_for_host(_snap(32 * GIB, vendor="apple"), DEFAULT_TIERS)[0] == "gpu-24gb"


def test_cgroup_detection(tmp_path: Path) -> None:
    assert cgroup_version(tmp_path) == "none"
    (tmp_path / "sys/fs/cgroup").mkdir(parents=True)
    (tmp_path / "sys/fs/cgroup/cgroup.controllers").write_text("cpu memory\n")
    assert cgroup_version(tmp_path) == "v2"
