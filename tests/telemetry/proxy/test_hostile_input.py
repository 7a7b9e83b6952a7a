"""Hostile client text through the real proxy, emulator upstream and receipt service (issue 8,
findings 1, 2 and 5): invalid or huge model names reach no sink as such, and a request is
recorded as the model Ollama's Go decoder reads from it."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from receipts import ReceiptService
from telemetry import load_config
from telemetry.app._sidecar import Components, Sidecar
from telemetry.emulator import EmulatorConfig, EmulatorServer
from tests.telemetry.conftest import RecordingSink

CHAT = '"messages":[{"role":"user","content":"hi"}]'


@dataclass
class Stack:
    sidecar: Sidecar
    sink: RecordingSink
    spans: InMemorySpanExporter
    registry: CollectorRegistry

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sidecar.listen_port}"

    @property
    def admin(self) -> str:
        return f"http://127.0.0.1:{self.sidecar.admin_port}"

    async def post(self, path: str, body: bytes) -> tuple[str, int, bytes]:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                self.url + path, data=io.BytesIO(body), headers={"Content-Type": "application/json"}
            ) as response,
        ):
            return response.headers["X-Request-ID"], response.status, await response.read()

    async def receipt(self, request_id: str) -> dict[str, Any]:
        assert self.sidecar.receipts is not None
        assert await asyncio.to_thread(self.sidecar.receipts.flush, 5.0)
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{self.admin}/receipts/receipt/{request_id}") as response,
        ):
            assert response.status == 200, await response.text()
            row = (await response.json())["receipt"]
        body: dict[str, Any] = json.loads(base64.b64decode(row["raw"]))["receipt"]
        return body

    async def metrics(self) -> str:
        async with (
            aiohttp.ClientSession() as session,
            session.get(self.admin + "/metrics") as response,
        ):
            assert response.status == 200
            text = await response.text()
        list(text_string_to_metric_families(text))  # parses
        return text


async def start_stack(tmp_path: Path, upstream: str) -> Stack:
    config = load_config(
        env={},
        overrides={
            "proxy": {
                "listen": "127.0.0.1:0",
                "admin_listen": "127.0.0.1:0",
                "upstream": upstream,
                "data_dir": tmp_path,
                "log_requests": False,
            },
            "gpu": {"enabled": False},
            "receipts": {"flush_interval_seconds": 0.05},
        },
    )
    registry = CollectorRegistry()
    sink = RecordingSink()
    spans = InMemorySpanExporter()
    sidecar = Sidecar(
        config,
        env={},
        registry=registry,
        components=Components(receipts=ReceiptService(config, registry=registry)),
        extra_sinks=[("test", sink)],
        span_processors=[SimpleSpanProcessor(spans)],
    )
    await sidecar.start()
    return Stack(sidecar, sink, spans, registry)


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    config = EmulatorConfig(ttft_seconds=0.0, tokens_per_second=0.0, output_tokens=8)
    async with EmulatorServer(config) as emu:
        running = await start_stack(tmp_path, emu.url)
        try:
            yield running
        finally:
            await running.sidecar.stop()


async def test_invalid_text_in_a_model_name_reaches_no_sink(stack: Stack) -> None:
    # A JSON-escaped lone surrogate is U+FFFD to Go, so that is the name Ollama looks up.
    surrogate, _, answer = await stack.post(
        "/api/chat", b'{"model":"fake\\ud800",' + CHAT.encode() + b"}"
    )
    assert b"fake\xef\xbf\xbd" in answer  # the emulator, like Ollama, 404s "fake\ufffd"
    control, _, _ = await stack.post("/api/generate", b'{"model":"fa\\u0000ke\\\\","prompt":"x"}')
    records = await stack.sink.wait_for(2)
    assert [r.model for r in records] == ["fake\ufffd", "fa\\x00ke\\x5c"]
    assert (await stack.receipt(surrogate))["model"] == "fake\ufffd"
    assert (await stack.receipt(control))["model"] == "fa\\x00ke\\x5c"
    text = await stack.metrics()
    assert "fa\\\\x00ke" not in text  # an escaped name is no label: it collapses to _other
    for span in stack.spans.get_finished_spans():
        span.name.encode("utf-8")
        json.dumps(dict(span.attributes or {}), ensure_ascii=False).encode("utf-8")
    # A path no route template matched before (a decoded newline) is proxied and recorded too.
    newline, status, _ = await stack.post("/api/%0Ax", b"{}")
    assert status == 404
    assert (await stack.receipt(newline))["path"] == "/api/\\x0ax"
    # The log keeps working after it: a later, ordinary request gets its receipt too.
    later, status, _ = await stack.post("/api/generate", b'{"model":"llama3.2:3b","prompt":"x"}')
    assert status == 200
    assert (await stack.receipt(later))["model"] == "llama3.2:3b"


async def test_huge_model_names_leave_metrics_and_records_bounded(stack: Stack) -> None:
    await stack.post("/api/generate", b'{"model":"unknown","prompt":"x"}')  # the _other series
    await stack.sink.wait_for(1)
    before = len(await stack.metrics())
    names = [chr(ord("a") + i) * (256 << 10) for i in range(4)] + ["z" * (16 << 20)]
    ids = []
    for name in names:
        body = json.dumps({"model": name, "prompt": "x"}).encode()
        request_id, status, _ = await stack.post("/api/generate", body)
        assert status == 404
        ids.append(request_id)
    records = (await stack.sink.wait_for(len(names) + 1))[1:]
    assert all(len(r.model or "") <= 256 and r.tier == "gpu-8gb" for r in records)
    assert len((await stack.receipt(ids[-1]))["model"]) == 256
    growth = len(await stack.metrics()) - before
    assert growth < 2_000, growth  # counts grow; no new series (was 120 MB for the four names)
    assert stack.sidecar.config.tier_for("x" * (16 << 20)).name == "gpu-8gb"


async def test_case_variants_and_duplicate_keys_are_read_as_ollama_reads_them(
    stack: Stack,
) -> None:
    native, status, answer = await stack.post(
        "/api/chat",
        b'{"model":"llama3.2:3b","MODEL":"llama3.3:70b","stream":false,"Stream":true,'
        b'"options":{"num_predict":3},"Options":{"temperature":0.5},' + CHAT.encode() + b"}",
    )
    lines = [json.loads(line) for line in answer.splitlines()]
    assert status == 200 and len(lines) > 1  # Ollama (here the emulator) ran it streamed
    assert {line["model"] for line in lines} == {"llama3.3:70b"}
    openai, status, answer = await stack.post(
        "/v1/chat/completions",
        b'{"model":"llama3.2:3b","\xc5\xbfTREAM":true,"Model":"llama3.1:8b",'
        b'"max_tokens":2,' + CHAT.encode() + b"}",
    )
    events = [line[6:] for line in answer.splitlines() if line.startswith(b"data: {")]
    assert status == 200 and len(events) > 1  # the long s folds to s: streamed, as SSE
    assert {json.loads(event)["model"] for event in events} == {"llama3.1:8b"}
    first, second = await stack.sink.wait_for(2)
    assert (first.model, first.streaming, first.tier) == ("llama3.3:70b", True, "gpu-40gb")
    assert first.output_tokens == 3 and first.response_model is None
    assert (second.model, second.streaming, second.tier) == ("llama3.1:8b", True, "gpu-8gb")
    receipt = await stack.receipt(native)
    assert (receipt["model"], receipt["streaming"], receipt["tier"]) == (
        "llama3.3:70b",
        True,
        "gpu-40gb",
    )
    assert "response_model" not in receipt
    assert (await stack.receipt(openai))["model"] == "llama3.1:8b"
    span = next(s for s in stack.spans.get_finished_spans() if "llama3.3:70b" in s.name)
    assert span.attributes is not None
    assert span.attributes["gen_ai.request.max_tokens"] == 3
    assert span.attributes["gen_ai.request.temperature"] == 0.5
    assert stack.registry.get_sample_value(
        "ollama_sidecar_model_mismatches_total", {"endpoint": "/api/chat"}
    ) in (None, 0.0)


async def answer_another_model(request: web.Request) -> web.Response:
    await request.read()
    done = {"model": "llama3.3:70b", "message": {"role": "assistant", "content": "hi"}}
    return web.json_response({**done, "done": True, "done_reason": "stop", "eval_count": 1})


async def no_models(request: web.Request) -> web.Response:
    return web.json_response({"models": []})


async def test_a_response_naming_another_model_is_recorded_and_counted(tmp_path: Path) -> None:
    app = web.Application()
    app.router.add_post("/api/chat", answer_another_model)
    app.router.add_get("/api/tags", no_models)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    running = await start_stack(tmp_path, f"http://127.0.0.1:{port}")
    try:
        body = b'{"model":"llama3.2:3b","stream":false,' + CHAT.encode() + b"}"
        request_id, status, _ = await running.post("/api/chat", body)
        assert status == 200
        (record,) = await running.sink.wait_for(1)
        assert (record.model, record.response_model) == ("llama3.2:3b", "llama3.3:70b")
        receipt = await running.receipt(request_id)
        assert (receipt["model"], receipt["response_model"]) == ("llama3.2:3b", "llama3.3:70b")
        await running.metrics()
        assert (
            running.registry.get_sample_value(
                "ollama_sidecar_model_mismatches_total", {"endpoint": "/api/chat"}
            )
            == 1.0
        )
        (span,) = running.spans.get_finished_spans()
        assert span.attributes is not None
        assert span.attributes["gen_ai.response.model"] == "llama3.3:70b"
    finally:
        await running.sidecar.stop()
        await runner.cleanup()
