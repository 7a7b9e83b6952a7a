"""The proxy is transparent: same status, end-to-end headers and body bytes as Ollama directly."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from telemetry import Outcome
from tests.telemetry.conftest import Running, StartSidecar

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "date"}
ADDED = {"x-request-id", "x-receipt-salt"}
_VOLATILE = re.compile(
    rb'"(created_at|expires_at|created|id|(?:total|load|prompt_eval|eval)_duration)":'
    rb'("[^"]*"|\d+)'
)


def masked(body: bytes) -> bytes:
    """Timestamps and durations differ between two runs; everything else must not."""
    return _VOLATILE.sub(rb'"\1":"*"', body)


def end_to_end_headers(headers: Any) -> list[tuple[str, str]]:
    return sorted(
        (k.lower(), v)
        for k, v in headers.items()
        if k.lower() not in HOP_BY_HOP | ADDED | {"content-length"}
    )


REQUESTS: list[tuple[str, str, Any]] = [
    ("GET", "/", None),
    ("HEAD", "/", None),
    ("GET", "/api/version", None),
    ("GET", "/api/tags", None),
    ("POST", "/api/show", {"model": "llama3.1:8b"}),
    ("POST", "/api/generate", {"model": "llama3.1:8b", "prompt": "hi"}),
    ("POST", "/api/generate", {"model": "llama3.1:8b", "prompt": "hi", "stream": False}),
    (
        "POST",
        "/api/chat",
        {"model": "llama3.1:8b", "messages": [{"role": "user", "content": "hi"}]},
    ),
    (
        "POST",
        "/api/chat",
        {"model": "llama3.1:8b", "think": True, "messages": [{"role": "user", "content": "hi"}]},
    ),
    ("POST", "/api/embed", {"model": "nomic-embed-text:latest", "input": ["a", "b"]}),
    ("POST", "/api/embeddings", {"model": "nomic-embed-text:latest", "prompt": "a"}),
    ("POST", "/api/pull", {"model": "llama3.1:8b"}),
    ("POST", "/api/generate", {"model": "missing:1b", "prompt": "hi"}),
    ("POST", "/api/generate", None),
    (
        "POST",
        "/v1/chat/completions",
        {
            "model": "llama3.1:8b",
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "hi"}],
        },
    ),
    (
        "POST",
        "/v1/chat/completions",
        {"model": "llama3.1:8b", "messages": [{"role": "user", "content": "hi"}]},
    ),
    ("POST", "/v1/completions", {"model": "llama3.1:8b", "prompt": "hi", "stream": True}),
    ("POST", "/v1/embeddings", {"model": "nomic-embed-text:latest", "input": "a"}),
    ("GET", "/v1/models", None),
    ("GET", "/v1/models/llama3.1:8b", None),
    ("GET", "/no/such/route", None),
    ("DELETE", "/api/delete", {"model": "missing:1b"}),
]


async def fetch(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    payload: Any,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, bytes]:
    data = json.dumps(payload).encode() if payload is not None else None
    async with session.request(method, url, data=data, headers=headers) as response:
        return response.status, response.headers, await response.read()


@pytest.mark.parametrize(
    ("method", "path", "payload"), REQUESTS, ids=[f"{m} {p}" for m, p, _ in REQUESTS]
)
async def test_same_status_headers_and_bytes_as_direct(
    proxied: Running, client: aiohttp.ClientSession, method: str, path: str, payload: Any
) -> None:
    direct = await fetch(client, method, proxied.upstream + path, payload)
    through = await fetch(client, method, proxied.url + path, payload)
    assert through[0] == direct[0]
    assert end_to_end_headers(through[1]) == end_to_end_headers(direct[1])
    assert masked(through[2]) == masked(direct[2])
    assert "Server" not in through[1]


async def test_every_request_ends_with_one_record(
    proxied: Running, client: aiohttp.ClientSession
) -> None:
    for method, path, payload in REQUESTS:
        await fetch(client, method, proxied.url + path, payload)
    records = await proxied.sink.wait_for(len(REQUESTS))
    assert len(records) == len(REQUESTS)
    assert len({r.request_id for r in records}) == len(REQUESTS)
    by_path = {(r.method, r.path, r.status): r for r in records}
    missing = by_path[("POST", "/api/generate", 404)]
    assert missing.outcome is Outcome.ERROR and missing.error_type == "404"
    ok = [r for r in records if r.path == "/api/chat"]
    assert all(r.outcome is Outcome.OK for r in ok)
    assert all(r.output_tokens == 8 and r.input_tokens for r in ok)


async def test_host_header_is_rewritten(
    start_sidecar: StartSidecar, client: aiohttp.ClientSession
) -> None:
    # A local name the client used becomes Ollama's address (a foreign one is refused: 403,
    # tests/telemetry/app/test_security.py).
    runner, url, seen = await _echo_upstream()
    try:
        running: Running = await start_sidecar(url)
        status, _, _ = await fetch(
            client, "GET", running.url + "/api/tags", None, {"Host": "gpu-box.local:11435"}
        )
        assert status == 200
        assert seen[-1]["Host"] == url.removeprefix("http://")
    finally:
        await runner.cleanup()


async def _echo_upstream() -> tuple[web.AppRunner, str, list[dict[str, str]]]:
    seen: list[dict[str, str]] = []

    async def echo(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        body = await request.read()
        return web.Response(
            body=body,
            headers={"X-Upstream": "yes", "Set-Cookie": "a=1"},
            content_type="application/octet-stream",
        )

    app = web.Application(client_max_size=1 << 30)
    app.router.add_route("*", "/{tail:.*}", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}", seen


async def test_request_id_and_traceparent_are_kept_and_forwarded(
    start_sidecar: StartSidecar, client: aiohttp.ClientSession
) -> None:
    runner, url, seen = await _echo_upstream()
    try:
        running: Running = await start_sidecar(url)
        parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        headers = {
            "X-Request-ID": "client-id-1",
            "traceparent": parent,
            "Connection": "keep-alive, X-Private",
            "X-Private": "hop",
        }
        status, got, body = await fetch(
            client, "POST", running.url + "/anything?q=1", {"x": 1}, headers
        )
        assert status == 200 and body == b'{"x": 1}'
        assert got["X-Request-ID"] == "client-id-1" and got["X-Upstream"] == "yes"
        upstream_saw = seen[-1]
        assert upstream_saw["X-Request-ID"] == "client-id-1"
        assert upstream_saw["traceparent"].startswith("00-0af7651916cd43dd8448eb211c80319c-")
        assert upstream_saw["traceparent"] != parent
        assert "X-Private" not in upstream_saw
        assert upstream_saw["Host"] == url.removeprefix("http://")
        assert "User-Agent" in upstream_saw  # aiohttp's client sent one; it is forwarded as is
        record = (await running.sink.wait_for(1))[0]
        assert record.trace_id == "0af7651916cd43dd8448eb211c80319c"
        span = running.spans.get_finished_spans()[0]
        assert span.parent is not None and span.parent.span_id == 0xB7AD6B7169203331

        status, got, _ = await fetch(
            client, "GET", running.url + "/", None, {"X-Request-ID": "bad id with spaces"}
        )
        assert re.fullmatch(r"[0-9a-f-]{36}", got["X-Request-ID"])
        assert seen[-1]["X-Request-ID"] == got["X-Request-ID"]
    finally:
        await runner.cleanup()


async def test_no_auto_headers_are_added_upstream(start_sidecar: StartSidecar) -> None:
    runner, url, seen = await _echo_upstream()
    try:
        running: Running = await start_sidecar(url)
        reader, writer = await __import__("asyncio").open_connection(
            "127.0.0.1", running.sidecar.listen_port
        )
        writer.write(b"GET /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        await writer.drain()
        raw = await reader.read()
        writer.close()
        assert raw.startswith(b"HTTP/1.1 200")
        assert set(seen[-1]) <= {"Host", "X-Request-ID", "traceparent"}
    finally:
        await runner.cleanup()


async def test_large_streamed_upload_to_blobs(
    start_sidecar: StartSidecar, client: aiohttp.ClientSession
) -> None:
    runner, url, _seen = await _echo_upstream()
    try:
        running: Running = await start_sidecar(url, max_body_bytes=1024)
        blob = bytes(range(256)) * 8192  # 2 MiB: above the JSON body limit, blobs stream
        async with client.post(
            running.url + "/api/blobs/sha256:abc", data=io.BytesIO(blob)
        ) as response:
            assert response.status == 200
            assert await response.read() == blob
        status, _, body = await fetch(
            client, "POST", running.url + "/api/generate", {"model": "m", "prompt": "x" * 2000}
        )
        assert status == 413 and json.loads(body) == {"error": "request body too large"}
        status, _, body = await fetch(
            client,
            "POST",
            running.url + "/v1/chat/completions",
            {"model": "m", "prompt": "x" * 2000},
        )
        assert status == 413 and json.loads(body)["error"]["type"] == "invalid_request_error"
        records = await running.sink.wait_for(3)
        assert [r.status for r in records] == [200, 413, 413]
        assert records[0].response_bytes == len(blob)
    finally:
        await runner.cleanup()
