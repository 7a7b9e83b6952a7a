from __future__ import annotations

from dataclasses import replace

from alerts import RuleSettings
from alerts._component_alerts import GPU_MISSING, component_alerts
from telemetry import Config
from telemetry.core._config import GpuConfig, ReceiptsConfig


def _by_name(config: Config) -> dict[str, str]:
    return {rule.alert: rule.severity for rule in component_alerts(config, RuleSettings())}


def test_missing_gpu_pages_only_where_the_config_requires_one() -> None:
    assert _by_name(Config())[GPU_MISSING] == "info"
    required = replace(Config(), gpu=GpuConfig(require_gpu=True))
    assert _by_name(required)[GPU_MISSING] == "critical"


def test_checkpoint_staleness_follows_the_checkpoint_interval() -> None:
    slow = replace(Config(), receipts=ReceiptsConfig(checkpoint_interval_seconds=120.0))
    rules = {r.alert: r.expr for r in component_alerts(slow, RuleSettings())}
    assert "> 1440\n" in rules["OllamaSidecarCheckpointStale"]
