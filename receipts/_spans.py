"""An OpenTelemetry span exporter that stores finished spans next to the receipts.

Spans travel through the log writer's queue and are committed in the same transactions as the
receipts, so `receipts.trace_id = spans.trace_id` joins a request's receipt and its trace.
Attribute values that are not JSON scalars or lists are stored as their `str()`.

The trace ID comes from the client's `traceparent`, so two clients can share one: the spans of a
receipt are only its own request's span and the spans below it (`_store.request_spans`), never
everything in the trace.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import format_span_id, format_trace_id

from receipts._store import SpanRow


def span_row(span: ReadableSpan) -> SpanRow | None:
    """The stored form of a finished span; None for a span without a valid context or times."""
    context = span.context
    if context is None or not context.is_valid or span.start_time is None:
        return None
    attributes = {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in (span.attributes or {}).items()
    }
    status = span.status.status_code.name
    if span.status.description:
        status = f"{status}: {span.status.description}"
    return SpanRow(
        trace_id=format_trace_id(context.trace_id),
        span_id=format_span_id(context.span_id),
        parent_span_id=format_span_id(span.parent.span_id) if span.parent else None,
        name=span.name,
        kind=span.kind.name,
        start_unix_ns=span.start_time,
        end_unix_ns=span.end_time if span.end_time is not None else span.start_time,
        attributes=json.dumps(attributes, sort_keys=True, default=str),
        status=status,
    )


class StoreSpanExporter(SpanExporter):
    """Hands finished spans to `submit` (the writer's queue); never blocks, never raises."""

    def __init__(
        self,
        submit: Callable[[SpanRow], None],
        flush: Callable[[float], bool] | None = None,
    ) -> None:
        self._submit = submit
        self._flush = flush
        self._shut_down = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shut_down:
            return SpanExportResult.FAILURE
        for span in spans:
            row = span_row(span)
            if row is not None:
                self._submit(row)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self._shut_down = True

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._flush(timeout_millis / 1000) if self._flush is not None else True
