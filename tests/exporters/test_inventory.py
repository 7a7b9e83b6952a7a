from dataclasses import replace
from pathlib import Path

from exporters import GpuSnapshot, SourceInfo, tier_for_host
from exporters._inventory import cgroup_version, gather, gpu_summary, render
from exporters.testing import FakeOllamaClient, fake_reading
from telemetry.core._config import DEFAULT_TIERS

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


def test_gpu_summary_is_one_plain_line() -> None:
    assert gpu_summary(GpuSnapshot()) == "none found (CPU-only)"
    snap = _snap(80 * GIB, 80 * GIB)
    assert gpu_summary(snap) == "2 x NVIDIA H100 80GB HBM3 via x"
    lost = replace(snap, devices=(snap.devices[0], snap.devices[1].down("lost")))
    assert gpu_summary(lost) == "2 x NVIDIA H100 80GB HBM3 via x (1 down)"


async def test_render_without_gpu_states_it_once() -> None:
    inv = await gather(
        GpuSnapshot(), DEFAULT_TIERS, FakeOllamaClient(), "http://127.0.0.1:9", Path("/")
    )
    table = render(inv)
    assert "gpus" in table and table.count("CPU-only") == 1
    assert not any("no gpu" in n.lower() for n in inv.notes)
