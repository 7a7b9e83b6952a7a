"""One OpenTelemetry span per request, named and attributed per the GenAI conventions.

The span starts when the request arrives (so its IDs can be propagated upstream in `traceparent`)
and ends from the finished record. Content is never recorded. Exporters: OTLP when the standard
`OTEL_EXPORTER_OTLP_*` variables are set, plus whatever the caller adds (the receipts store).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.semconv.attributes.http_attributes import (
    HTTP_REQUEST_METHOD,
    HTTP_RESPONSE_STATUS_CODE,
)
from opentelemetry.semconv.attributes.server_attributes import SERVER_ADDRESS, SERVER_PORT
from opentelemetry.semconv.attributes.url_attributes import URL_PATH
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags, TraceState
from opentelemetry.trace.status import Status, StatusCode
from opentelemetry.util.types import AttributeValue

from telemetry.core import metric_names as n
from telemetry.core._record import Outcome, RequestRecord
from telemetry.tap._routes import RouteInfo

log = logging.getLogger("ollama_sidecar.tracing")

_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_INVALID_TRACE = "0" * 32
_INVALID_SPAN = "0" * 16


def otlp_exporter(env: Mapping[str, str]) -> SpanExporter | None:
    """The OTLP span exporter the standard variables ask for, or None when none is configured.

    The variables are read from `env` (not only the process environment), per the OTLP exporter
    spec: a signal-specific endpoint is used as is, the generic one gets `/v1/traces` on HTTP.
    """
    specific = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    generic = env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if not (specific or generic) or env.get("OTEL_TRACES_EXPORTER", "otlp") == "none":
        return None
    protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    headers = _headers(
        env.get("OTEL_EXPORTER_OTLP_TRACES_HEADERS") or env.get("OTEL_EXPORTER_OTLP_HEADERS", "")
    )
    timeout = float(env.get("OTEL_EXPORTER_OTLP_TIMEOUT", "10000")) / 1000
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcExporter,
        )

        endpoint = specific or generic or ""
        insecure = env.get("OTEL_EXPORTER_OTLP_INSECURE", "").lower() == "true" or (
            endpoint.startswith("http://")
        )
        return GrpcExporter(endpoint=endpoint, insecure=insecure, headers=headers, timeout=timeout)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpExporter,
    )

    endpoint = specific or (generic or "").rstrip("/") + "/v1/traces"
    return HttpExporter(endpoint=endpoint, headers=headers, timeout=timeout)


def _headers(text: str) -> dict[str, str]:
    pairs = (item.split("=", 1) for item in text.split(",") if "=" in item)
    return {key.strip(): value.strip() for key, value in pairs}


def build_tracer_provider(
    env: Mapping[str, str],
    exporters: Sequence[SpanExporter] = (),
    processors: Sequence[SpanProcessor] = (),
) -> TracerProvider:
    """Batches spans to `exporters` and the OTLP exporter the environment names; `processors`
    (e.g. a test's synchronous one) get every span as it ends."""
    service = env.get("OTEL_SERVICE_NAME") or "ollama-sidecar"
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    found = otlp_exporter(env)
    for exporter in (*exporters, *([found] if found else [])):
        provider.add_span_processor(BatchSpanProcessor(exporter))
    for processor in processors:
        provider.add_span_processor(processor)
    return provider


def parent_context(traceparent: str | None, tracestate: str | None) -> Context | None:
    """The W3C parent from the client, or None. Malformed headers are ignored, as the spec says."""
    if not traceparent:
        return None
    match = _TRACEPARENT.fullmatch(traceparent.strip())
    if match is None or match[1] == _INVALID_TRACE or match[2] == _INVALID_SPAN:
        return None
    state = TraceState.from_header([tracestate]) if tracestate else None
    parent = SpanContext(
        trace_id=int(match[1], 16),
        span_id=int(match[2], 16),
        is_remote=True,
        trace_flags=TraceFlags(int(match[3], 16)),
        trace_state=state,
    )
    return trace.set_span_in_context(NonRecordingSpan(parent))


def traceparent_of(span: trace.Span) -> str:
    ctx = span.get_span_context()
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


class Tracing:
    """Starts and ends the per-request span; server.* name Ollama, the server behind the proxy."""

    def __init__(self, provider: TracerProvider, server_address: str, server_port: int) -> None:
        self._provider = provider
        self._tracer = provider.get_tracer("ollama-sidecar")
        self._server: dict[str, AttributeValue] = {
            SERVER_ADDRESS: server_address,
            SERVER_PORT: server_port,
        }

    def start(
        self, route: RouteInfo, method: str, start_ns: int, parent: Context | None
    ) -> trace.Span:
        if route.operation is not None:
            name = f"{route.operation} {route.model}" if route.model else route.operation
        else:
            name = f"{method} {route.endpoint}"
        return self._tracer.start_span(
            name,
            context=parent,
            kind=SpanKind.CLIENT,
            start_time=start_ns,
            attributes=self._server,
        )

    def finish(self, span: trace.Span, route: RouteInfo, record: RequestRecord) -> None:
        if span.is_recording():
            span.set_attributes(_attributes(route, record))
            if record.outcome is not Outcome.OK:
                span.set_status(Status(StatusCode.ERROR, record.error_type))
        span.end(end_time=record.end_unix_ns)

    def flush(self, timeout: float = 5.0) -> bool:
        """Hand every finished span to the exporters now; True when done within `timeout`."""
        return bool(self._provider.force_flush(int(timeout * 1000)))

    def shutdown(self) -> None:
        self._provider.shutdown()


def _attributes(route: RouteInfo, record: RequestRecord) -> dict[str, AttributeValue]:
    attrs: dict[str, AttributeValue] = {
        HTTP_REQUEST_METHOD: record.method,
        URL_PATH: record.path,
        "ollama_sidecar.request_id": record.request_id,
        "ollama_sidecar.tier": record.tier,
        "ollama_sidecar.outcome": record.outcome.value,
        "ollama_sidecar.processor": record.placement.processor.value,
    }
    if record.status:
        attrs[HTTP_RESPONSE_STATUS_CODE] = record.status
    if record.error_type:
        attrs[ERROR_TYPE] = record.error_type
    if route.operation is None:
        return attrs
    attrs[gen_ai.GEN_AI_OPERATION_NAME] = route.operation
    attrs[gen_ai.GEN_AI_PROVIDER_NAME] = n.PROVIDER_NAME
    if route.model:
        attrs[gen_ai.GEN_AI_REQUEST_MODEL] = route.model
        attrs[gen_ai.GEN_AI_RESPONSE_MODEL] = record.response_model or route.model
    if route.streaming:
        attrs[gen_ai.GEN_AI_REQUEST_STREAM] = True
    params = route.params
    for key, value in (
        (gen_ai.GEN_AI_REQUEST_TEMPERATURE, params.temperature),
        (gen_ai.GEN_AI_REQUEST_TOP_P, params.top_p),
        (gen_ai.GEN_AI_REQUEST_TOP_K, params.top_k),
        (gen_ai.GEN_AI_REQUEST_MAX_TOKENS, params.max_tokens),
        (gen_ai.GEN_AI_REQUEST_SEED, params.seed),
    ):
        if value is not None:
            attrs[key] = value
    if record.done_reason:
        attrs[gen_ai.GEN_AI_RESPONSE_FINISH_REASONS] = (record.done_reason,)
    if record.input_tokens is not None:
        attrs[gen_ai.GEN_AI_USAGE_INPUT_TOKENS] = record.input_tokens
    if record.output_tokens is not None:
        attrs[gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS] = record.output_tokens
    if record.ttft_ns is not None:
        attrs[gen_ai.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = record.ttft_ns / 1e9
    return attrs
