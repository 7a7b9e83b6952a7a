"""Every alerting rule the sidecar ships, in its groups: what the rule files and the promtool
tests are both generated from."""

from __future__ import annotations

from alerts._component_alerts import component_alerts
from alerts._model import AlertRule, RuleGroup
from alerts._settings import RuleSettings
from alerts._slo_alerts import slo_alerts
from telemetry.core import Config


def alert_groups(config: Config, settings: RuleSettings) -> tuple[RuleGroup, ...]:
    return (
        RuleGroup("ollama-sidecar-slo.alerts", slo_alerts(config, settings)),
        RuleGroup("ollama-sidecar-components.alerts", component_alerts(config, settings)),
    )


def all_alerts(config: Config, settings: RuleSettings) -> tuple[AlertRule, ...]:
    return tuple(
        rule
        for group in alert_groups(config, settings)
        for rule in group.rules
        if isinstance(rule, AlertRule)
    )
