from pathlib import Path

import pytest

from exporters import (
    BackendUnavailable,
    RocmSmiCliSource,
    SourceFailed,
    parse_amd_smi_json,
    parse_rocm_smi_json,
)

FIXTURES = Path(__file__).parent / "fixtures"


def test_rocm_smi_json_units_and_missing_fields() -> None:
    readings, driver = parse_rocm_smi_json((FIXTURES / "rocm_smi_mi300x.json").read_text())
    assert driver == "6.8.5"
    first, second = readings
    assert first.name == "AMD Instinct MI300X" and first.uuid == "0x18f68e602b8a790f"
    assert first.memory_total_bytes == 206_141_652_992
    assert first.memory_used_bytes == 52_613_349_376
    assert first.utilization_ratio == pytest.approx(0.37)
    assert first.power_watts == 412.0
    assert first.temperatures_celsius == (("junction", 58.0), ("memory", 47.0))  # edge N/A
    assert second.utilization_ratio is None  # key missing: unsupported, not 0
    assert second.power_watts == 139.0  # average power when current is absent
    # --showenergycounter: 2e9 ticks, 3.06e10 µJ (15.3 µJ a tick); 0 on a secondary die.
    assert first.energy_joules == pytest.approx(30_600.0)
    assert first.energy_wrap_joules == pytest.approx(2**64 * 15.3e-6)
    assert second.energy_joules is None and second.energy_wrap_joules is None


def test_amd_smi_json_converts_mb_to_bytes() -> None:
    (r,) = parse_amd_smi_json((FIXTURES / "amd_smi_metric.json").read_text())
    assert r.memory_total_bytes == 196_592 * 1024 * 1024
    assert r.memory_used_bytes == 283 * 1024 * 1024
    assert r.utilization_ratio == pytest.approx(0.12) and r.power_watts == 155.0
    assert r.temperatures_celsius == (("hotspot", 43.0), ("mem", 35.0))


def test_garbage_is_a_source_failure() -> None:
    with pytest.raises(SourceFailed):
        parse_rocm_smi_json("not json")


def test_cli_source_reads_through_a_runner() -> None:
    text = (FIXTURES / "rocm_smi_mi300x.json").read_text()
    calls: list[tuple[str, ...]] = []

    def runner(argv: tuple[str, ...]) -> str:
        calls.append(argv)
        return text

    source = RocmSmiCliSource(runner, executable="rocm-smi")
    assert source.open().device_count == 2
    assert source.read(0).power_watts == 412.0 and source.read(1).name == "AMD Instinct MI300X"
    assert "--json" in calls[0] and "--showenergycounter" in calls[0]


def test_cli_listing_no_card_is_no_device() -> None:
    with pytest.raises(BackendUnavailable) as err:
        RocmSmiCliSource(lambda argv: "{}", executable="rocm-smi").open()
    assert err.value.reason == "no_device"
