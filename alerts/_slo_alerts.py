"""Alerts on the service-level objectives: timeouts and latency budgets per tier.

Multi-window, multi-burn-rate (SRE Workbook ch. 5): one alert per window pair, fired when both
the long and the short window burn the error budget `factor` times faster than the SLO allows,
and only while the tier carries at least `slo.min_request_rate` requests per second.
"""

from __future__ import annotations

from collections.abc import Callable

from alerts._model import ALERT_PREFIX, AlertRule
from alerts._promql import duration
from alerts._recording import over_budget_ratio, requests_rate, timeout_ratio
from alerts._settings import BurnWindow, RuleSettings
from telemetry.core import Config
from telemetry.core import metric_names as proxy

TIMEOUT_BURN = f"{ALERT_PREFIX}TimeoutBudgetBurn"
LATENCY_BURN = f"{ALERT_PREFIX}LatencyBudgetBurn"
MEDIAN_OVER_BUDGET = f"{ALERT_PREFIX}MedianLatencyOverBudget"
SLI_ABSENT = f"{ALERT_PREFIX}SliAbsent"


def _threshold(value: float) -> str:
    return f"{value:.6g}"


def _burn_expr(
    ratio: Callable[[str], str], window: BurnWindow, budget: float, min_rate: float
) -> str:
    long_w, short_w = duration(window.long_seconds), duration(window.short_seconds)
    limit = _threshold(window.factor * budget)
    return (
        f"(\n  {ratio(long_w)} > {limit}\nand\n  {ratio(short_w)} > {limit}\n)\n"
        f"and on (instance, tier)\n  {requests_rate(long_w)} > {_threshold(min_rate)}"
    )


def _burn_alerts(
    config: Config,
    settings: RuleSettings,
    *,
    alert: str,
    ratio: Callable[[str], str],
    budget: float,
    summary: str,
    what: str,
) -> tuple[AlertRule, ...]:
    rules = []
    for window in settings.burn_windows:
        long_w, short_w = duration(window.long_seconds), duration(window.short_seconds)
        rules.append(
            AlertRule(
                alert=alert,
                expr=_burn_expr(ratio, window, budget, config.slo.min_request_rate),
                severity=window.severity,
                for_seconds=window.for_seconds,
                labels=(("long", long_w), ("short", short_w)),
                summary=summary,
                description=(
                    f"{what} of tier {{{{ $labels.tier }}}} on {{{{ $labels.instance }}}} burn "
                    f"the {budget:.0%} error budget more than {window.factor:g}x too fast over "
                    f"both {long_w} and {short_w}."
                ),
            )
        )
    return tuple(rules)


def timeout_burn_alerts(config: Config, settings: RuleSettings) -> tuple[AlertRule, ...]:
    return _burn_alerts(
        config,
        settings,
        alert=TIMEOUT_BURN,
        ratio=timeout_ratio,
        budget=1 - config.slo.timeout_objective,
        summary="Requests are timing out fast enough to exhaust the timeout SLO budget.",
        what="Timeouts",
    )


def latency_burn_alerts(config: Config, settings: RuleSettings) -> tuple[AlertRule, ...]:
    return _burn_alerts(
        config,
        settings,
        alert=LATENCY_BURN,
        ratio=lambda window: over_budget_ratio("p95", window),
        budget=1 - settings.latency_objective,
        summary="Requests exceed the tier's p95 latency budget too often.",
        what="Requests slower than the p95 budget",
    )


def median_alert(config: Config, settings: RuleSettings) -> AlertRule:
    window = duration(settings.median_window_seconds)
    return AlertRule(
        alert=MEDIAN_OVER_BUDGET,
        expr=(
            f"{over_budget_ratio('p50', window)} > 0.5\n"
            f"and on (instance, tier)\n"
            f"  {requests_rate(window)} > {_threshold(config.slo.min_request_rate)}"
        ),
        severity="warning",
        for_seconds=settings.median_for_seconds,
        summary="Median request latency is over the tier's p50 budget.",
        description=(
            "More than half of the requests of tier {{ $labels.tier }} on {{ $labels.instance }} "
            f"took longer than the tier's p50 budget over the last {window}."
        ),
    )


def sli_absent_alert(settings: RuleSettings) -> AlertRule:
    return AlertRule(
        alert=SLI_ABSENT,
        expr=f"absent({proxy.REQUESTS})\nor\nabsent({proxy.REQUEST_DURATION}_count)",
        severity="warning",
        for_seconds=settings.absent_for_seconds,
        summary="The request metrics behind the SLOs are missing.",
        description=(
            f"No {proxy.REQUESTS} or {proxy.REQUEST_DURATION} series have been scraped for "
            f"{duration(settings.absent_for_seconds)}{{{{ if $labels.job }}}} "
            "(job {{ $labels.job }}){{ end }}: the SLO alerts cannot fire."
        ),
    )


def slo_alerts(config: Config, settings: RuleSettings) -> tuple[AlertRule, ...]:
    return (
        *timeout_burn_alerts(config, settings),
        *latency_burn_alerts(config, settings),
        median_alert(config, settings),
        sli_absent_alert(settings),
    )
