from pathlib import Path

import pytest

from exporters import AppleSource, BackendUnavailable, SourceFailed, parse_powermetrics

FIXTURE = Path(__file__).parent / "fixtures" / "powermetrics_gpu.plist"


def test_last_complete_plist_wins_and_units_convert() -> None:
    power = parse_powermetrics(FIXTURE.read_bytes())
    assert power.active_ratio == pytest.approx(0.1)
    assert power.clock_hertz == 444e6
    assert power.power_watts == pytest.approx(1.5)  # 1500 mJ over 1 s
    assert power.thermal_pressure == "Nominal"


def test_no_gpu_section_is_a_failure() -> None:
    with pytest.raises(SourceFailed):
        parse_powermetrics(b"\0\0")


def _sysctl(name: str) -> str:
    return {
        "machdep.cpu.brand_string": "Apple M2 Max",
        "hw.memsize": str(64 * 1024**3),
        "kern.osproductversion": "14.5",
    }[name]


def test_without_privilege_static_facts_only() -> None:
    def denied(argv: tuple[str, ...]) -> bytes:
        raise SourceFailed("no_permission", "sudo: a password is required")

    source = AppleSource(system="Darwin", machine="arm64", runner=denied, sysctl=_sysctl)
    assert source.open().runtime == "metal"
    r = source.read(0)
    assert (r.vendor, r.name, r.memory_total_bytes) == ("apple", "Apple M2 Max", 64 * 1024**3)
    assert r.utilization_ratio is None and r.power_watts is None


def test_with_privilege_powermetrics_is_read() -> None:
    source = AppleSource(
        system="Darwin", machine="arm64", runner=lambda argv: FIXTURE.read_bytes(), sysctl=_sysctl
    )
    source.open()
    assert source.read(0).power_watts == pytest.approx(1.5)


def test_not_apple_silicon() -> None:
    with pytest.raises(BackendUnavailable) as err:
        AppleSource(system="Linux", machine="x86_64").open()
    assert err.value.reason == "not_apple_silicon"


def test_gpu_power_is_integrated_into_an_energy_counter() -> None:
    now = [10.0]
    answers = [FIXTURE.read_bytes()] * 3
    failing = False

    def runner(argv: tuple[str, ...]) -> bytes:
        if failing:
            raise SourceFailed("no_permission", "sudo: a password is required")
        return answers[0]

    source = AppleSource(
        system="Darwin", machine="arm64", runner=runner, sysctl=_sysctl, clock=lambda: now[0]
    )
    source.open()
    assert source.read(0).energy_joules == 0.0  # the counter starts at the first reading
    now[0] += 2.0
    assert source.read(0).energy_joules == pytest.approx(1.5 * 2.0)
    failing = True
    assert source.read(0).energy_joules is None  # a gap is not guessed across
    failing = False
    now[0] += 5.0
    assert source.read(0).energy_joules == 0.0  # restarted: a reset, not 7 s of a guess
