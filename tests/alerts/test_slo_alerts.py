from __future__ import annotations

from dataclasses import replace

from alerts import BurnWindow, RuleSettings
from alerts._slo_alerts import latency_burn_alerts, median_alert, timeout_burn_alerts
from telemetry import Config
from telemetry.core._config import SloConfig


def test_timeout_thresholds_come_from_the_objective() -> None:
    rules = timeout_burn_alerts(Config(), RuleSettings())
    assert rules[0].expr.count("> 0.288") == 2
    assert "> 0.12" in rules[1].expr and "> 0.06" in rules[2].expr and "> 0.02" in rules[3].expr
    strict = replace(Config(), slo=SloConfig(timeout_objective=0.99, min_request_rate=1.0))
    first = timeout_burn_alerts(strict, RuleSettings())[0]
    assert "> 0.144" in first.expr
    assert "instance_tier:ollama_sidecar_requests:rate1h > 1\n" in first.expr + "\n"


def test_latency_thresholds_use_the_p95_allowance() -> None:
    assert "> 0.72" in latency_burn_alerts(Config(), RuleSettings())[0].expr


def test_windows_are_data() -> None:
    short = RuleSettings(burn_windows=(BurnWindow("critical", 20, 5, 10.0, 0),))
    (rule,) = timeout_burn_alerts(Config(), short)
    assert "ratio_rate20s > 0.2" in rule.expr and "ratio_rate5s > 0.2" in rule.expr
    assert dict(rule.labels) == {"long": "20s", "short": "5s"}
    assert rule.for_seconds == 0


def test_median_alert_has_a_traffic_guard() -> None:
    rule = median_alert(Config(), RuleSettings())
    assert "over_p50_budget_ratio_rate30m > 0.5" in rule.expr
    assert "rate30m > 0.05" in rule.expr
