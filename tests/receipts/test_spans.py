"""Finished spans go through the writer into the store and join their receipt by trace ID."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

from receipts import ReceiptService
from tests.receipts._support import config, record


def test_spans_are_stored_and_join_their_receipt(tmp_path: Path) -> None:
    service = ReceiptService(config(tmp_path))
    service.start()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(service.span_exporter()))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("POST /api/chat") as parent:
        parent.set_attribute("gen_ai.request.model", "llama3.2:3b")
        parent.set_attribute("tags", ("a", "b"))
        with tracer.start_as_current_span("chat llama3.2:3b") as child:
            child.set_status(Status(StatusCode.ERROR, "boom"))
    trace_id = f"{parent.get_span_context().trace_id:032x}"
    service.submit(replace(record(0), trace_id=trace_id))
    assert service.flush(10)
    spans = service.store.spans(trace_id)
    row = service.store.receipt("req-000000")
    service.stop()
    provider.shutdown()
    assert row is not None and row.trace_id == trace_id
    assert [s.name for s in spans] == ["POST /api/chat", "chat llama3.2:3b"]
    assert spans[1].parent_span_id == spans[0].span_id and spans[0].parent_span_id is None
    assert json.loads(spans[0].attributes) == {
        "gen_ai.request.model": "llama3.2:3b",
        "tags": ["a", "b"],
    }
    assert spans[1].status == "ERROR: boom"


def test_exporter_before_start_and_after_shutdown_never_raises(tmp_path: Path) -> None:
    service = ReceiptService(config(tmp_path))
    exporter = service.span_exporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("t").start_as_current_span("x"):
        pass
    assert exporter.force_flush(100) is False
    provider.shutdown()
