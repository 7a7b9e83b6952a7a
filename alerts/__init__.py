"""Prometheus recording and alert rules for the sidecar, generated from the tier config.

`write_alert_files(out, config, settings)` writes `rules/recording.yaml`, `rules/alerts.yaml` and
`tests/alerts_test.yaml` (promtool unit tests); `ollama-sidecar dashboards` calls it.
"""

from alerts._catalog import alert_groups, all_alerts
from alerts._errors import AlertsError, PromtoolError, SettingsError
from alerts._model import ALERT_PREFIX, AlertRule, RecordingRule, RuleGroup, runbook_url
from alerts._promql import duration, le_matcher, metric_names
from alerts._promtool import Promtool, PromtoolResult
from alerts._promtool_tests import Scenario, scenarios, unit_tests
from alerts._recording import over_budget_ratio, recording_rules, requests_rate, timeout_ratio
from alerts._render import (
    ALERTS_DIR,
    alert_files,
    rule_files,
    write_alert_files,
)
from alerts._settings import DEFAULT_BURN_WINDOWS, BurnWindow, RuleSettings

__all__ = [
    "ALERTS_DIR",
    "ALERT_PREFIX",
    "DEFAULT_BURN_WINDOWS",
    "AlertRule",
    "AlertsError",
    "BurnWindow",
    "Promtool",
    "PromtoolError",
    "PromtoolResult",
    "RecordingRule",
    "RuleGroup",
    "RuleSettings",
    "Scenario",
    "SettingsError",
    "alert_files",
    "alert_groups",
    "all_alerts",
    "duration",
    "le_matcher",
    "metric_names",
    "over_budget_ratio",
    "recording_rules",
    "requests_rate",
    "rule_files",
    "runbook_url",
    "scenarios",
    "timeout_ratio",
    "unit_tests",
    "write_alert_files",
]
