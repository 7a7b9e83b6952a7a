"""Recording rules: the SLIs the burn-rate alerts and the SLO dashboard read.

Names follow `level:metric:operations`. Numerators and denominators are aggregated separately and
then divided; a missing numerator (no timeouts yet) counts as zero, so a healthy tier records 0
rather than nothing.
"""

from __future__ import annotations

from alerts._model import RecordingRule, RuleGroup
from alerts._promql import duration, le_matcher
from alerts._settings import RuleSettings
from telemetry.core import Config, Tier
from telemetry.core import metric_names as proxy

LEVEL = "instance_tier"
BY = "sum by (instance, tier)"
_HISTOGRAM = proxy.REQUEST_DURATION


def requests_rate(window: str) -> str:
    return f"{LEVEL}:{proxy.counter_base(proxy.REQUESTS)}:rate{window}"


def timeout_ratio(window: str) -> str:
    return f"{LEVEL}:{proxy.counter_base(proxy.REQUESTS)}_timeout:ratio_rate{window}"


def over_budget_ratio(quantile: str, window: str) -> str:
    """Share of requests slower than the tier's `quantile` budget ("p50" or "p95")."""
    return f"{LEVEL}:{_HISTOGRAM}:over_{quantile}_budget_ratio_rate{window}"


def _timeout_ratio_expr(window: str) -> str:
    total = f"{BY} (rate({proxy.REQUESTS}[{window}]))"
    timeouts = f'{BY} (rate({proxy.REQUESTS}{{{proxy.LABEL_OUTCOME}="timeout"}}[{window}]))'
    return f"({timeouts} or 0 * {total})\n/\n{total}"


def _over_budget_expr(tier: Tier, budget: float, window: str) -> str:
    selector = f'{proxy.LABEL_TIER}="{tier.name}"'
    good = f"{BY} (rate({_HISTOGRAM}_bucket{{{selector},{le_matcher(budget)}}}[{window}]))"
    total = f"{BY} (rate({_HISTOGRAM}_count{{{selector}}}[{window}]))"
    return f"1 - (\n  {good}\n/\n  {total}\n)"


def recording_rules(config: Config, settings: RuleSettings) -> tuple[RuleGroup, ...]:
    """One group per SLI, each evaluated over every window the burn-rate alerts use.

    Latency rules are per tier (each has its own bucket edge); the static `tier` label keeps
    them distinct for promtool's duplicate-rule lint.
    """
    windows = [duration(s) for s in settings.sli_windows()]
    traffic = tuple(
        RecordingRule(requests_rate(w), f"{BY} (rate({proxy.REQUESTS}[{w}]))") for w in windows
    )
    timeouts = tuple(RecordingRule(timeout_ratio(w), _timeout_ratio_expr(w)) for w in windows)
    slow = tuple(
        RecordingRule(
            over_budget_ratio("p95", w),
            _over_budget_expr(tier, tier.p95_seconds, w),
            labels=((proxy.LABEL_TIER, tier.name),),
        )
        for w in windows
        for tier in config.tiers
    )
    median_window = duration(settings.median_window_seconds)
    median = tuple(
        RecordingRule(
            over_budget_ratio("p50", median_window),
            _over_budget_expr(tier, tier.p50_seconds, median_window),
            labels=((proxy.LABEL_TIER, tier.name),),
        )
        for tier in config.tiers
    )
    return (
        RuleGroup("ollama-sidecar-traffic.rules", traffic),
        RuleGroup("ollama-sidecar-timeouts.rules", timeouts),
        RuleGroup("ollama-sidecar-latency.rules", slow + median),
    )
