from __future__ import annotations

from dataclasses import replace

from alerts import RuleSettings, over_budget_ratio, recording_rules, requests_rate, timeout_ratio
from telemetry import Config, Tier


def _rules(config: Config) -> dict[tuple[str, str], str]:
    return {
        (rule.record, dict(rule.labels).get("tier", "")): rule.expr
        for group in recording_rules(config, RuleSettings())
        for rule in group.rules
        if hasattr(rule, "record")
    }


def test_names_follow_level_metric_operations() -> None:
    assert requests_rate("5m") == "instance_tier:ollama_sidecar_requests:rate5m"
    assert timeout_ratio("1h") == "instance_tier:ollama_sidecar_requests_timeout:ratio_rate1h"
    assert over_budget_ratio("p95", "6h") == (
        "instance_tier:gen_ai_server_request_duration_seconds:over_p95_budget_ratio_rate6h"
    )


def test_timeout_ratio_divides_sums_and_counts_missing_timeouts_as_zero() -> None:
    expr = _rules(Config())[(timeout_ratio("5m"), "")]
    assert 'outcome="timeout"' in expr
    assert " or 0 * " in expr
    assert "avg" not in expr


def test_latency_sli_reads_the_bucket_at_each_tier_budget() -> None:
    config = Config()
    tier: Tier = replace(config.tier_named("gpu-8gb"), p95_seconds=12.5, p50_seconds=3.0)
    custom = replace(config, tiers=(tier,))
    rules = _rules(custom)
    assert 'le=~"12\\\\.5(\\\\.0+)?"' in rules[(over_budget_ratio("p95", "1h"), "gpu-8gb")]
    assert 'le=~"3(\\\\.0+)?"' in rules[(over_budget_ratio("p50", "30m"), "gpu-8gb")]
    assert not any(key[1] == "cpu" for key in rules)
