"""Requests dashboard: traffic by model and outcome, latency, first token, tokens, errors."""

from __future__ import annotations

from typing import Any

from dashboards._dashboard import INSTANCE, MODEL, RATE, TIER, dashboard, layout, sel
from dashboards._panels import Query, heatmap, stat, timeseries
from telemetry.core import metric_names as proxy

FILTER = sel(INSTANCE, TIER, MODEL)


def _quantiles(metric: str, title: str, description: str, unit: str) -> dict[str, Any]:
    bucket = f"{metric}_bucket{FILTER}"
    return timeseries(
        title,
        description,
        unit,
        *(
            Query(f"histogram_quantile({q}, sum by (le) (rate({bucket}[{RATE}])))", f"p{label}")
            for q, label in (("0.5", "50"), ("0.95", "95"), ("0.99", "99"))
        ),
    )


def requests_dashboard() -> dict[str, Any]:
    by_outcome = timeseries(
        "Requests by model and outcome",
        "Requests per second through the proxy, by model and outcome "
        "(ok, error, timeout, cancelled, upstream_unavailable).",
        "reqps",
        Query(
            f"sum by ({proxy.LABEL_MODEL}, {proxy.LABEL_OUTCOME}) "
            f"(rate({proxy.REQUESTS}{FILTER}[{RATE}]))",
            "{{gen_ai_request_model}} {{outcome}}",
        ),
        stack=True,
    )
    latency = _quantiles(
        proxy.REQUEST_DURATION,
        "Request duration percentiles",
        "p50, p95 and p99 of the whole request, from the duration histogram.",
        "s",
    )
    latency_map = heatmap(
        "Request duration distribution",
        "Requests per duration bucket over time.",
        "s",
        Query(f"sum by (le) (rate({proxy.REQUEST_DURATION}_bucket{FILTER}[{RATE}]))", "{{le}}"),
    )
    ttft = _quantiles(
        proxy.TIME_TO_FIRST_TOKEN,
        "Time to first token",
        "p50, p95 and p99 of the wait for the first streamed token.",
        "s",
    )
    tokens = timeseries(
        "Tokens per second, in and out",
        "Prompt (input) and generated (output) tokens per second across all requests.",
        "suffix: tok/s",
        Query(
            f"sum by ({proxy.LABEL_TOKEN_TYPE}) (rate({proxy.TOKENS}{FILTER}[{RATE}]))",
            "{{gen_ai_token_type}}",
        ),
    )
    speed = _quantiles(
        proxy.OUTPUT_TOKENS_PER_SECOND,
        "Generation speed per request",
        "Percentiles of each request's output tokens per second.",
        "suffix: tok/s",
    )
    in_flight = timeseries(
        "Requests in flight",
        "Requests currently being proxied, per tier.",
        "short",
        Query(f"sum by (tier) ({proxy.IN_FLIGHT}{sel(INSTANCE, TIER)})", "{{tier}}"),
    )
    upstream_errors = timeseries(
        "Upstream errors by kind",
        "Failures reaching or reading from Ollama, per second, by kind.",
        "short",
        Query(
            f"sum by ({proxy.LABEL_KIND}) (rate({proxy.UPSTREAM_ERRORS}{sel(INSTANCE)}[{RATE}]))",
            "{{kind}}",
        ),
    )
    timeouts = timeseries(
        "Timeouts by kind",
        "Timed-out requests per second by which limit fired: connect, ttft, idle or total.",
        "short",
        Query(f"sum by ({proxy.LABEL_KIND}) (rate({proxy.TIMEOUTS}{FILTER}[{RATE}]))", "{{kind}}"),
    )
    upstream_up = stat(
        "Ollama reachable",
        "1 when the sidecar's last probe of Ollama succeeded, 0 otherwise (lowest over sidecars).",
        "bool_yes_no",
        Query(f"min({proxy.UPSTREAM_UP}{sel(INSTANCE)})", instant=True),
        thresholds=(("red", None), ("green", 1)),
    )
    telemetry_errors = timeseries(
        "Telemetry errors",
        "Failures inside the sidecar's own telemetry (metrics, traces, receipts), per sink. "
        "They never fail a request.",
        "short",
        Query(
            f"sum by ({proxy.LABEL_SINK}) (rate({proxy.TELEMETRY_ERRORS}{sel(INSTANCE)}[{RATE}]))",
            "{{sink}}",
        ),
    )
    panels = layout(
        [
            [(by_outcome, 12), (latency, 12)],
            [(latency_map, 12), (ttft, 12)],
            [(tokens, 12), (speed, 12)],
            [(in_flight, 8), (upstream_errors, 8), (timeouts, 8)],
            [(upstream_up, 6), (telemetry_errors, 18)],
        ]
    )
    return dashboard(
        "ollama-sidecar-requests",
        "Ollama sidecar / Requests",
        "Traffic, latency, tokens and errors of the requests going through the sidecar.",
        panels,
    )
