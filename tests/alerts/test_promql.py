from __future__ import annotations

import re

import pytest

from alerts import SettingsError, duration, le_matcher, metric_names


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(300, "5m"), (3600, "1h"), (5400, "1h30m"), (259200, "3d"), (10, "10s"), (90061, "1d1h1m1s")],
)
def test_duration(seconds: int, text: str) -> None:
    assert duration(seconds) == text


@pytest.mark.parametrize("bad", [0, -5, 1.5])
def test_duration_rejects_what_prometheus_cannot_read(bad: float) -> None:
    with pytest.raises(SettingsError):
        duration(bad)


@pytest.mark.parametrize(("bound", "matches"), [(15.0, ["15", "15.0"]), (0.5, ["0.5"])])
def test_le_matcher_accepts_both_spellings_of_an_edge(bound: float, matches: list[str]) -> None:
    pattern = le_matcher(bound)
    regex = pattern.split('"')[1].replace("\\\\", "\\")
    for text in matches:
        assert re.fullmatch(regex, text)
    assert not re.fullmatch(regex, "150")


def test_metric_names_ignores_functions_labels_and_groupings() -> None:
    expr = (
        'sum by (instance, tier) (rate(a_total{outcome="timeout", le=~"1(\\\\.0)?"}[5m]))\n'
        "/ on (instance) group_left (name) max by (x) (b:recorded:ratio_rate5m offset 1h)"
        ' and histogram_quantile(0.5, sum by (le) (rate(c_bucket{x="y"}[$__rate_interval])))'
        " > vector(1) unless time() - d"
    )
    assert metric_names(expr) == {"a_total", "b:recorded:ratio_rate5m", "c_bucket", "d"}
