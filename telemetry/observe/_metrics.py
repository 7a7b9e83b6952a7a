"""Request metrics in Prometheus form, written from finished records.

Names and label sets come from `telemetry.core.metric_names`; bucket edges are the GenAI-convention
edges plus every tier's latency budget, so a budget can be read as `_bucket{le="<budget>"}`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from telemetry.core import metric_names as n
from telemetry.core._config import Config, Tier
from telemetry.core._record import Outcome, RequestRecord
from telemetry.core._text import ELLIPSIS
from telemetry.observe._logs import suppressed_log_lines

DURATION_BUCKETS = (
    0.01,
    0.02,
    0.04,
    0.08,
    0.16,
    0.32,
    0.64,
    1.28,
    2.56,
    5.12,
    10.24,
    20.48,
    40.96,
    81.92,
)
TTFT_BUCKETS = (
    0.001,
    0.005,
    0.01,
    0.02,
    0.04,
    0.06,
    0.08,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
)
TPOT_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5)
TOKEN_BUCKETS = (
    1,
    4,
    16,
    64,
    256,
    1024,
    4096,
    16384,
    65536,
    262144,
    1048576,
    4194304,
    16777216,
    67108864,
)
TOKENS_PER_SECOND_BUCKETS = (1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000)

OTHER_MODEL = "_other"
MAX_MODEL_LABELS = 256
_OP_LABELS = (n.LABEL_OPERATION, n.LABEL_PROVIDER, n.LABEL_MODEL, n.LABEL_TIER)


def with_budgets(base: Iterable[float], budgets: Iterable[float]) -> tuple[float, ...]:
    return tuple(sorted(set(base) | set(budgets)))


class ProxyMetrics:
    """The proxy's metrics on an injected registry. `submit` is a RecordSink."""

    def __init__(self, config: Config, registry: CollectorRegistry, version: str) -> None:
        tiers = config.tiers
        duration_edges = with_budgets(
            DURATION_BUCKETS, [b for t in tiers for b in (t.p50_seconds, t.p95_seconds)]
        )
        ttft_edges = with_budgets(TTFT_BUCKETS, [t.ttft_p95_seconds for t in tiers])
        self._models: set[str] = set()
        self._request_children: dict[tuple[str, str, str, str], Counter] = {}
        self._series: dict[tuple[str, str, str], _Series] = {}
        self.requests = Counter(
            n.counter_base(n.REQUESTS),
            "Requests through the proxy, by how they ended.",
            (n.LABEL_ENDPOINT, n.LABEL_MODEL, n.LABEL_TIER, n.LABEL_OUTCOME),
            registry=registry,
        )
        self.duration = Histogram(
            n.REQUEST_DURATION,
            "Inference request duration seen by the proxy (GenAI semconv).",
            (*_OP_LABELS, n.LABEL_ERROR_TYPE),
            buckets=duration_edges,
            registry=registry,
        )
        self.ttft = Histogram(
            n.TIME_TO_FIRST_TOKEN,
            "Time from request arrival to the first content chunk.",
            _OP_LABELS,
            buckets=ttft_edges,
            registry=registry,
        )
        self.tpot = Histogram(
            n.TIME_PER_OUTPUT_TOKEN,
            "(duration - TTFT) / (output tokens - 1), successful streams.",
            _OP_LABELS,
            buckets=TPOT_BUCKETS,
            registry=registry,
        )
        self.token_usage = Histogram(
            n.TOKEN_USAGE,
            "Tokens per request as reported by Ollama (GenAI semconv).",
            (*_OP_LABELS, n.LABEL_TOKEN_TYPE),
            buckets=TOKEN_BUCKETS,
            registry=registry,
        )
        self.tokens = Counter(
            n.counter_base(n.TOKENS),
            "Tokens processed, as reported by Ollama.",
            (n.LABEL_MODEL, n.LABEL_TIER, n.LABEL_TOKEN_TYPE),
            registry=registry,
        )
        self.decode_rate = Histogram(
            n.OUTPUT_TOKENS_PER_SECOND,
            "Decode speed per request: eval_count / eval_duration.",
            (n.LABEL_MODEL, n.LABEL_TIER),
            buckets=TOKENS_PER_SECOND_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            n.IN_FLIGHT,
            "Requests being proxied now.",
            (n.LABEL_TIER,),
            registry=registry,
        )
        self.upstream_errors = Counter(
            n.counter_base(n.UPSTREAM_ERRORS),
            "Upstream failures by kind (connect, http_5xx, busy, stream_error, malformed).",
            (n.LABEL_KIND,),
            registry=registry,
        )
        self.timeouts = Counter(
            n.counter_base(n.TIMEOUTS),
            "Requests ended by a sidecar timeout, by kind.",
            (n.LABEL_MODEL, n.LABEL_TIER, n.LABEL_KIND),
            registry=registry,
        )
        self.telemetry_errors = Counter(
            n.counter_base(n.TELEMETRY_ERRORS),
            "Failures inside telemetry sinks; requests are never failed for them.",
            (n.LABEL_SINK,),
            registry=registry,
        )
        self.model_mismatches = Counter(
            n.counter_base(n.MODEL_MISMATCHES),
            "Responses that named another model than the request was classified as.",
            (n.LABEL_ENDPOINT,),
            registry=registry,
        )
        self.connections_refused = Counter(
            n.counter_base(n.CONNECTIONS_REFUSED),
            "Client connections a listener's guard refused or cut off, by reason.",
            (n.LABEL_LISTENER, n.LABEL_REASON),
            registry=registry,
        )
        self.body_timeouts = self.connections_refused.labels("proxy", "body_timeout")
        self.foreign_host_refusals = Counter(
            n.counter_base(n.FOREIGN_HOST_REFUSALS),
            "Requests answered 403 for a Host header outside the allow-list.",
            (n.LABEL_LISTENER,),
            registry=registry,
        )
        registry.register(SuppressedLogLines())
        self.upstream_up = Gauge(
            n.UPSTREAM_UP,
            "1 when Ollama answered the last readiness probe.",
            registry=registry,
        )
        budget = Gauge(
            n.TIER_BUDGET,
            "Latency budgets of each tier from the config.",
            (n.LABEL_TIER, n.LABEL_QUANTILE),
            registry=registry,
        )
        for tier in tiers:
            _set_budgets(budget, tier)
        Gauge(n.BUILD_INFO, "Build information.", ("version",), registry=registry).labels(
            version
        ).set(1)
        self.in_flight_by_tier = {tier.name: self.in_flight.labels(tier.name) for tier in tiers}
        for kind in ("connect", "disconnected", "http_5xx", "busy", "stream_error", "malformed"):
            self.upstream_errors.labels(kind)

    def model_label(self, record: RequestRecord) -> str:
        """Bound the label's cardinality: unknown models (404), names that had to be escaped or
        cut (no real model's name), and every name after the first MAX_MODEL_LABELS share one
        value."""
        model = record.model or ""
        if record.status == 404 or "\\" in model or model.endswith(ELLIPSIS):
            return OTHER_MODEL
        if model in self._models:
            return model
        if len(self._models) >= MAX_MODEL_LABELS:
            return OTHER_MODEL
        self._models.add(model)
        return model

    def submit(self, record: RequestRecord) -> None:
        model = self.model_label(record)
        key = (record.endpoint, model, record.tier, record.outcome.value)
        counter = self._request_children.get(key)
        if counter is None:
            counter = self._request_children[key] = self.requests.labels(*key)
        counter.inc()
        if record.response_model is not None:
            self.model_mismatches.labels(record.endpoint).inc()
        if record.outcome is Outcome.TIMEOUT and record.error_type:
            kind = record.error_type.removesuffix("_timeout")
            self.timeouts.labels(model, record.tier, kind).inc()
        upstream_kind = upstream_error_kind(record)
        if upstream_kind is not None:
            self.upstream_errors.labels(upstream_kind).inc()
        if record.operation is None:
            return
        series = self._series_for(record.operation, model, record.tier)
        error_type = record.error_type or ""
        duration = series.duration.get(error_type)
        if duration is None:
            duration = series.duration[error_type] = self.duration.labels(
                record.operation, n.PROVIDER_NAME, model, record.tier, error_type
            )
        duration.observe(record.duration_ns / 1e9)
        if record.outcome is not Outcome.OK or record.done_reason in ("load", "unload"):
            return
        if record.streaming and record.ttft_ns is not None:
            series.ttft.observe(record.ttft_ns / 1e9)
            if record.output_tokens is not None and record.output_tokens > 1:
                per_token = (record.duration_ns - record.ttft_ns) / (record.output_tokens - 1)
                series.tpot.observe(per_token / 1e9)
        if record.input_tokens is not None:
            series.input_usage.observe(record.input_tokens)
            series.input_tokens.inc(record.input_tokens)
        if record.output_tokens is not None:
            series.output_usage.observe(record.output_tokens)
            series.output_tokens.inc(record.output_tokens)
        eval_ns = record.ollama.eval_ns
        if record.output_tokens and eval_ns:
            series.decode_rate.observe(record.output_tokens * 1e9 / eval_ns)

    def _series_for(self, operation: str, model: str, tier: str) -> _Series:
        """The labelled children of one (operation, model, tier), looked up once."""
        key = (operation, model, tier)
        series = self._series.get(key)
        if series is None:
            op = (operation, n.PROVIDER_NAME, model, tier)
            series = self._series[key] = _Series(
                duration={},
                ttft=self.ttft.labels(*op),
                tpot=self.tpot.labels(*op),
                input_usage=self.token_usage.labels(*op, "input"),
                output_usage=self.token_usage.labels(*op, "output"),
                input_tokens=self.tokens.labels(model, tier, "input"),
                output_tokens=self.tokens.labels(model, tier, "output"),
                decode_rate=self.decode_rate.labels(model, tier),
            )
        return series


class SuppressedLogLines(Collector):
    """The aiohttp log lines the rate limit dropped, read from the log filter at each scrape."""

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(
            n.counter_base(n.LOG_LINES_SUPPRESSED),
            "aiohttp log lines (malformed requests and the like) dropped by the rate limit.",
            value=suppressed_log_lines(),
        )


@dataclass(slots=True)
class _Series:
    duration: dict[str, Histogram]
    ttft: Histogram
    tpot: Histogram
    input_usage: Histogram
    output_usage: Histogram
    input_tokens: Counter
    output_tokens: Counter
    decode_rate: Histogram


_UPSTREAM_KINDS = {
    "upstream_unavailable": "connect",
    "upstream_disconnected": "disconnected",
    "stream_error": "stream_error",
    "malformed_response": "malformed",
    "incomplete_response": "disconnected",
}


def upstream_error_kind(record: RequestRecord) -> str | None:
    """Which upstream failure a record shows, if any (client errors like 404 are not ones)."""
    error_type = record.error_type
    if error_type is None:
        return None
    if error_type == "503":
        return "busy"
    if error_type.isdigit() and 500 <= int(error_type) < 600:
        return "http_5xx"
    return _UPSTREAM_KINDS.get(error_type)


def _set_budgets(gauge: Gauge, tier: Tier) -> None:
    gauge.labels(tier.name, "0.5").set(tier.p50_seconds)
    gauge.labels(tier.name, "0.95").set(tier.p95_seconds)
    gauge.labels(tier.name, "ttft_0.95").set(tier.ttft_p95_seconds)
