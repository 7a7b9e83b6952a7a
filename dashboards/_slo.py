"""SLO dashboard: the timeout objective, its error budget, burn rates and per-model latency."""

from __future__ import annotations

from typing import Any

from alerts import RuleSettings, duration, over_budget_ratio, timeout_ratio
from dashboards._dashboard import INSTANCE, MODEL, RATE, TIER, dashboard, layout, sel
from dashboards._panels import Query, stat, table, timeseries
from telemetry.core import Config
from telemetry.core import metric_names as proxy

REQ = proxy.REQUESTS
BY_MODEL = f"{proxy.LABEL_MODEL}, {proxy.LABEL_TIER}"


def _timeouts(window: str, by: str = "") -> str:
    group = f" by ({by})" if by else ""
    filt = sel(INSTANCE, TIER, MODEL)
    timeouts = sel(INSTANCE, TIER, MODEL, f'{proxy.LABEL_OUTCOME}="timeout"')
    return (
        f"(sum{group} (increase({REQ}{timeouts}[{window}])) or 0 * sum{group} "
        f"(increase({REQ}{filt}[{window}])))\n/\nsum{group} (increase({REQ}{filt}[{window}]))"
    )


def _quantile(q: str, by: str) -> str:
    bucket = f"{proxy.REQUEST_DURATION}_bucket{sel(INSTANCE, TIER, MODEL)}"
    return f"histogram_quantile({q}, sum by ({by}, le) (rate({bucket}[{RATE}])))"


def _budget(quantile: str) -> str:
    traffic = f"sum by ({BY_MODEL}) (rate({REQ}{sel(INSTANCE, TIER, MODEL)}[{RATE}]))"
    matcher = f'{proxy.LABEL_QUANTILE}="{quantile}"'
    budget = f"{proxy.TIER_BUDGET}{sel(INSTANCE, TIER, matcher)}"
    return f"0 * {traffic}\n+ on ({proxy.LABEL_TIER}) group_left\nmax by (tier) ({budget})"


def slo_dashboard(config: Config, settings: RuleSettings) -> dict[str, Any]:
    budget = 1 - config.slo.timeout_objective
    latency_budget = 1 - settings.latency_objective
    windows = sorted({w for b in settings.burn_windows for w in (b.long_seconds, b.short_seconds)})
    filt = sel(INSTANCE, TIER)
    objective = stat(
        "Timeout ratio over the range",
        f"Share of requests that timed out in the selected time range; the objective is below "
        f"{budget:.0%}.",
        "percentunit",
        Query(_timeouts("$__range"), instant=True),
        thresholds=(("green", None), ("red", budget)),
    )
    remaining = stat(
        "Error budget remaining",
        f"1 - (timeout ratio over the range / {budget:.0%} budget). Below 0 the objective is "
        "missed for this range.",
        "percentunit",
        Query(f"1 - (\n{_timeouts('$__range')}\n) / {budget:g}", instant=True),
        thresholds=(("red", None), ("orange", 0.25), ("green", 0.5)),
    )
    ratio = timeseries(
        "Timeout ratio against the objective",
        "Share of requests that timed out, per tier, with the objective as a line.",
        "percentunit",
        Query(_timeouts(RATE, proxy.LABEL_TIER), "{{tier}}"),
        Query(f"vector({budget:g})", "objective"),
    )
    burn = timeseries(
        "Timeout budget burn rate",
        "Timeout ratio divided by the budget over each window the burn-rate alerts read; "
        "1 spends the budget exactly over the SLO period.",
        "short",
        *(
            Query(
                f"max by (tier) ({timeout_ratio(duration(w))}{filt}) / {budget:g}",
                f"{{{{tier}}}} {duration(w)}",
            )
            for w in windows
        ),
    )
    latency_burn = timeseries(
        "p95 latency budget burn rate",
        f"Share of requests over the tier's p95 budget divided by the {latency_budget:.0%} "
        "allowance, over each alert window.",
        "short",
        *(
            Query(
                f"max by (tier) ({over_budget_ratio('p95', duration(w))}{filt}) "
                f"/ {latency_budget:g}",
                f"{{{{tier}}}} {duration(w)}",
            )
            for w in windows
        ),
    )
    models = table(
        "Per model: traffic, timeouts and latency against the tier budget",
        "Requests per second, timeout share, p50 and p95 request duration, and the tier's p50 "
        "and p95 budgets, per model.",
        "short",
        Query(
            f"sum by ({BY_MODEL}) (rate({REQ}{sel(INSTANCE, TIER, MODEL)}[{RATE}]))",
            "req/s",
            instant=True,
            unit="reqps",
        ),
        Query(_timeouts(RATE, BY_MODEL), "timeout %", instant=True, unit="percentunit"),
        Query(_quantile("0.5", BY_MODEL), "p50", instant=True, unit="s"),
        Query(_quantile("0.95", BY_MODEL), "p95", instant=True, unit="s"),
        Query(_budget("0.5"), "p50 budget", instant=True, unit="s"),
        Query(_budget("0.95"), "p95 budget", instant=True, unit="s"),
        by=(proxy.LABEL_MODEL, proxy.LABEL_TIER),
    )
    panels = layout(
        [
            [(objective, 6), (remaining, 6), (ratio, 12)],
            [(burn, 12), (latency_burn, 12)],
            [(models, 24)],
        ]
    )
    return dashboard(
        "ollama-sidecar-slo",
        "Ollama sidecar / SLO",
        f"Fewer than {budget:.0%} of requests time out; latency against each tier's budget.",
        panels,
    )
