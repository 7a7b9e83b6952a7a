from __future__ import annotations

import pytest

from alerts import DEFAULT_BURN_WINDOWS, BurnWindow, RuleSettings, SettingsError


def test_default_windows_follow_the_sre_workbook_table() -> None:
    table = [(w.long_seconds, w.short_seconds, w.factor, w.severity) for w in DEFAULT_BURN_WINDOWS]
    assert table == [
        (3600, 300, 14.4, "critical"),
        (21600, 1800, 6.0, "critical"),
        (86400, 7200, 3.0, "warning"),
        (259200, 21600, 1.0, "warning"),
    ]
    assert RuleSettings().sli_windows() == (300, 1800, 3600, 7200, 21600, 86400, 259200)


@pytest.mark.parametrize(
    "kwargs",
    [
        {
            "severity": "page",
            "long_seconds": 60,
            "short_seconds": 10,
            "factor": 1,
            "for_seconds": 0,
        },
        {
            "severity": "critical",
            "long_seconds": 60,
            "short_seconds": 60,
            "factor": 1,
            "for_seconds": 0,
        },
        {
            "severity": "critical",
            "long_seconds": 60,
            "short_seconds": 10,
            "factor": 0,
            "for_seconds": 0,
        },
    ],
)
def test_bad_burn_windows_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(SettingsError):
        BurnWindow(**kwargs)  # type: ignore[arg-type]


def test_bad_settings_are_refused() -> None:
    with pytest.raises(SettingsError):
        RuleSettings(burn_windows=())
    with pytest.raises(SettingsError):
        RuleSettings(latency_objective=1.0)


def test_checkpoint_staleness_scales_with_the_interval_but_has_a_floor() -> None:
    settings = RuleSettings()
    assert settings.checkpoint_stale_seconds(5.0) == 300
    assert settings.checkpoint_stale_seconds(60.0) == 720
