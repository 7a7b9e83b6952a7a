"""One GenAI span per request, with the expected names and attributes and no content."""

from __future__ import annotations

import aiohttp
from opentelemetry.trace import SpanKind, StatusCode

from telemetry.observe._tracing import otlp_exporter, parent_context
from tests.telemetry.conftest import Running

PROMPT = "the secret prompt text"


async def test_inference_span_follows_genai_conventions(
    proxied: Running, client: aiohttp.ClientSession
) -> None:
    payload = {
        "model": "llama3.1:8b",
        "messages": [{"role": "user", "content": PROMPT}],
        "options": {"temperature": 0.5, "num_predict": 100, "seed": 3},
    }
    async with client.post(proxied.url + "/api/chat", json=payload) as response:
        request_id = response.headers["X-Request-ID"]
        await response.read()
    record = (await proxied.sink.wait_for(1))[0]
    (span,) = proxied.spans.get_finished_spans()
    assert span.name == "chat llama3.1:8b" and span.kind is SpanKind.CLIENT
    attrs = dict(span.attributes or {})
    port = int(proxied.upstream.rsplit(":", 1)[1])
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "ollama"
    assert attrs["gen_ai.request.model"] == "llama3.1:8b"
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["gen_ai.request.temperature"] == 0.5
    assert attrs["gen_ai.request.max_tokens"] == 100 and attrs["gen_ai.request.seed"] == 3
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert attrs["gen_ai.usage.output_tokens"] == 8
    assert attrs["gen_ai.usage.input_tokens"] == record.input_tokens
    assert 0 < float(str(attrs["gen_ai.response.time_to_first_chunk"])) < 1
    assert (attrs["server.address"], attrs["server.port"]) == ("127.0.0.1", port)
    assert attrs["ollama_sidecar.request_id"] == request_id
    assert "gen_ai.system" not in attrs and "error.type" not in attrs
    assert PROMPT not in repr(span.to_json())
    assert f"{span.context.trace_id:032x}" == record.trace_id


async def test_failed_request_span_has_error_type(
    proxied: Running, client: aiohttp.ClientSession
) -> None:
    async with client.post(
        proxied.url + "/api/generate", json={"model": "missing:1b", "prompt": "x"}
    ) as response:
        await response.read()
    await proxied.sink.wait_for(1)
    (span,) = proxied.spans.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == "404"


async def test_management_route_gets_http_style_span(
    proxied: Running, client: aiohttp.ClientSession
) -> None:
    async with client.get(proxied.url + "/api/tags") as response:
        await response.read()
    await proxied.sink.wait_for(1)
    (span,) = proxied.spans.get_finished_spans()
    assert span.name == "GET /api/tags"
    assert "gen_ai.operation.name" not in (span.attributes or {})


def test_otlp_exporter_only_when_configured() -> None:
    assert otlp_exporter({}) is None
    assert (
        otlp_exporter(
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_TRACES_EXPORTER": "none"}
        )
        is None
    )
    http = otlp_exporter({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"})
    assert type(http).__module__.endswith("http.trace_exporter")
    grpc = otlp_exporter(
        {
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:1",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        }
    )
    assert type(grpc).__module__.endswith("grpc.trace_exporter")
    for exporter in (http, grpc):
        assert exporter is not None
        exporter.shutdown()


def test_malformed_traceparent_is_ignored() -> None:
    assert parent_context("garbage", None) is None
    assert parent_context("00-" + "0" * 32 + "-b7ad6b7169203331-01", None) is None
    assert parent_context(None, "a=b") is None
