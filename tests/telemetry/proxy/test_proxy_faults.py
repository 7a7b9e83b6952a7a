"""Every fault an upstream can show, every outcome, and the error shapes the client gets."""

from __future__ import annotations

import asyncio
import json
import socket

import aiohttp
import pytest
from aiohttp import web

from telemetry import Outcome
from telemetry.emulator import EmulatorConfig, EmulatorServer
from tests._net import free_port
from tests.telemetry.conftest import Running, StartSidecar

SHORT = """
[tiers.gpu-8gb]
connect_timeout_seconds = 0.5
ttft_timeout_seconds = 0.4
idle_timeout_seconds = 0.3
total_timeout_seconds = 3
"""
GENERATE = {"model": "llama3.1:8b", "prompt": "hi"}
CHAT_V1 = {"model": "llama3.1:8b", "stream": True, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
async def slow_emulator() -> object:
    async with EmulatorServer(
        EmulatorConfig(ttft_seconds=0.01, tokens_per_second=100, output_tokens=6)
    ) as emu:
        yield emu


@pytest.fixture
async def short(slow_emulator: EmulatorServer, start_sidecar: StartSidecar) -> Running:
    running: Running = await start_sidecar(slow_emulator.url, SHORT)
    running.extra["emulator"] = slow_emulator
    return running


async def post(
    client: aiohttp.ClientSession, url: str, payload: object, fault: str | None = None
) -> tuple[int, str, bytes]:
    headers = {"X-Emulator-Fault": fault} if fault else {}
    async with client.post(url, json=payload, headers=headers) as response:
        return response.status, response.headers.get("Content-Type", ""), await response.read()


async def last_record(running: Running, count: int = 1) -> object:
    return (await running.sink.wait_for(count))[count - 1]


async def test_ok_stream(short: Running, client: aiohttp.ClientSession) -> None:
    status, _, body = await post(client, short.url + "/api/generate", GENERATE)
    assert status == 200 and body.endswith(b'"done":true' + body.split(b'"done":true')[-1])
    record = await last_record(short)
    assert record.outcome is Outcome.OK and record.done_reason == "stop"
    assert record.output_tokens == 6 and record.ttft_ns is not None
    assert record.ollama.eval_ns is not None


async def test_error_before_streaming_is_passed_through(
    short: Running, client: aiohttp.ClientSession
) -> None:
    status, _ctype, body = await post(client, short.url + "/api/generate", GENERATE, "error_before")
    assert status == 500 and "error" in json.loads(body)
    record = await last_record(short)
    assert (record.outcome, record.error_type) == (Outcome.ERROR, "500")
    assert short.sample("ollama_sidecar_upstream_errors_total", kind="http_5xx") == 1


async def test_busy_is_counted_as_queue_full(short: Running, client: aiohttp.ClientSession) -> None:
    status, _, body = await post(client, short.url + "/api/chat", GENERATE, "busy")
    assert status == 503 and b"maximum pending requests exceeded" in body
    await last_record(short)
    assert short.sample("ollama_sidecar_upstream_errors_total", kind="busy") == 1


async def test_midstream_error_under_200_is_an_error(
    short: Running, client: aiohttp.ClientSession
) -> None:
    status, _, body = await post(client, short.url + "/api/generate", GENERATE, "error_midstream")
    assert status == 200 and b'{"error"' in body and b'"done":true' not in body
    record = await last_record(short)
    assert (record.outcome, record.error_type) == (Outcome.ERROR, "stream_error")
    assert short.sample("ollama_sidecar_upstream_errors_total", kind="stream_error") == 1


async def test_garbage_is_forwarded_and_classified(
    short: Running, client: aiohttp.ClientSession
) -> None:
    direct = await post(client, short.upstream + "/api/generate", GENERATE, "garbage")
    through = await post(client, short.url + "/api/generate", GENERATE, "garbage")
    assert through[0] == direct[0]
    record = await last_record(short)
    assert (record.outcome, record.error_type) == (Outcome.ERROR, "malformed_response")


async def test_stall_before_first_token_gives_504(
    short: Running, client: aiohttp.ClientSession
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    status, ctype, body = await post(client, short.url + "/api/generate", GENERATE, "stall_before")
    assert 0.35 < loop.time() - started < 2.0
    assert status == 504 and ctype.startswith("application/json")
    assert "first token" in json.loads(body)["error"]
    record = await last_record(short)
    assert (record.outcome, record.error_type) == (Outcome.TIMEOUT, "ttft_timeout")
    labels = {"gen_ai_request_model": "llama3.1:8b", "tier": "gpu-8gb", "kind": "ttft"}
    assert short.sample("ollama_sidecar_timeouts_total", **labels) == 1
    status, _, body = await post(
        client, short.url + "/v1/chat/completions", {**CHAT_V1, "stream": False}, "stall_before"
    )
    assert status == 504 and json.loads(body)["error"]["type"] == "api_error"


async def test_stall_midstream_ends_with_error_line(
    short: Running, client: aiohttp.ClientSession
) -> None:
    status, _, body = await post(client, short.url + "/api/generate", GENERATE, "stall_midstream")
    assert status == 200
    lines = body.strip().split(b"\n")
    assert json.loads(lines[0])["response"]
    assert "next chunk" in json.loads(lines[-1])["error"]
    record = await last_record(short)
    assert (record.outcome, record.error_type) == (Outcome.TIMEOUT, "idle_timeout")
    assert record.output_tokens is None and record.ttft_ns is not None


async def test_stall_midstream_on_v1_ends_with_sse_error_event(
    short: Running, client: aiohttp.ClientSession
) -> None:
    status, ctype, body = await post(
        client, short.url + "/v1/chat/completions", CHAT_V1, "stall_midstream"
    )
    assert status == 200 and ctype.startswith("text/event-stream")
    events = [e for e in body.split(b"\n\n") if e]
    last = json.loads(events[-1].removeprefix(b"data: "))
    assert last["error"]["type"] == "api_error"


async def test_total_timeout(
    slow_emulator: EmulatorServer, start_sidecar: StartSidecar, client: aiohttp.ClientSession
) -> None:
    slow_emulator.config.tokens_per_second = 10
    slow_emulator.config.output_tokens = 50
    running: Running = await start_sidecar(
        slow_emulator.url, SHORT.replace("total_timeout_seconds = 3", "total_timeout_seconds = 0.6")
    )
    status, _, body = await post(client, running.url + "/api/generate", GENERATE)
    assert status == 200 and b"whole request" in body.strip().split(b"\n")[-1]
    record = await last_record(running)
    assert (record.outcome, record.error_type) == (Outcome.TIMEOUT, "total_timeout")


async def test_upstream_disconnect_midstream(short: Running, client: aiohttp.ClientSession) -> None:
    status, _, body = await post(client, short.url + "/api/generate", GENERATE, "disconnect")
    assert status == 200
    assert b"closed the connection" in body.strip().split(b"\n")[-1]
    record = await last_record(short)
    assert record.outcome is Outcome.ERROR
    assert record.error_type == "upstream_disconnected"


async def test_unreachable_upstream_gives_502(
    start_sidecar: StartSidecar, client: aiohttp.ClientSession
) -> None:
    running: Running = await start_sidecar(f"http://127.0.0.1:{free_port()}")
    status, _, body = await post(client, running.url + "/api/chat", GENERATE)
    assert status == 502 and "unreachable" in json.loads(body)["error"]
    status, _, body = await post(client, running.url + "/v1/chat/completions", CHAT_V1)
    assert status == 502 and "unreachable" in json.loads(body)["error"]["message"]
    records = await running.sink.wait_for(2)
    assert {r.outcome for r in records} == {Outcome.UPSTREAM_UNAVAILABLE}
    assert running.sample("ollama_sidecar_upstream_errors_total", kind="connect") == 2
    async with client.get(running.admin + "/readyz") as response:
        assert response.status == 503
        assert (await response.json())["checks"]["upstream"]["ok"] is False
    assert running.sample("ollama_sidecar_upstream_up") == 0


async def test_client_disconnect_cancels_upstream_at_once(
    slow_emulator: EmulatorServer, start_sidecar: StartSidecar
) -> None:
    slow_emulator.config.tokens_per_second = 5
    slow_emulator.config.output_tokens = 100
    running: Running = await start_sidecar(slow_emulator.url)
    async with aiohttp.ClientSession() as session:
        response = await session.post(running.url + "/api/generate", json=GENERATE)
        await response.content.readline()
        response.close()
    record = await last_record(running)
    assert record.outcome is Outcome.CANCELLED
    async with asyncio.timeout(2):
        while slow_emulator.stats.cancelled < 1:
            await asyncio.sleep(0.02)
    assert slow_emulator.stats.active == 0


async def test_proxy_keeps_serving_after_faults(
    short: Running, client: aiohttp.ClientSession
) -> None:
    for fault in ("disconnect", "garbage", "stall_before", "error_midstream"):
        await post(client, short.url + "/api/generate", GENERATE, fault)
    status, _, _ = await post(client, short.url + "/api/generate", GENERATE)
    assert status == 200
    records = await short.sink.wait_for(5)
    assert records[-1].outcome is Outcome.OK
    assert sum(1 for r in records if r.outcome is not Outcome.OK) == 4


async def _slow_pull_upstream(gap: float, chunks: int) -> tuple[web.AppRunner, str]:
    async def pull(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        try:
            for i in range(chunks):
                await asyncio.sleep(gap)
                await response.write(json.dumps({"status": f"pulling {i}"}).encode() + b"\n")
            await response.write(b'{"status":"success"}\n')
        except ConnectionError:
            pass  # the proxy gave up on us: expected in the timeout test
        return response

    app = web.Application()
    app.router.add_post("/api/pull", pull)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def test_management_streams_move_their_idle_deadline(
    start_sidecar: StartSidecar, client: aiohttp.ClientSession
) -> None:
    runner, url = await _slow_pull_upstream(gap=0.1, chunks=8)
    try:
        running: Running = await start_sidecar(url, management_idle_timeout=0.3)
        status, _, body = await post(client, running.url + "/api/pull", {"model": "m"})
        assert status == 200 and body.endswith(b'{"status":"success"}\n')
        assert (await last_record(running)).outcome is Outcome.OK
    finally:
        await runner.cleanup()


async def test_management_stream_silent_too_long_times_out(
    start_sidecar: StartSidecar, client: aiohttp.ClientSession
) -> None:
    runner, url = await _slow_pull_upstream(gap=0.6, chunks=2)
    try:
        running: Running = await start_sidecar(url, management_idle_timeout=0.3)
        status, _, body = await post(client, running.url + "/api/pull", {"model": "m"})
        # Headers were already forwarded, so the stream ends with an error line.
        assert status == 200
        assert "next chunk" in json.loads(body.strip().split(b"\n")[-1])["error"]
        record = await last_record(running)
        assert (record.outcome, record.error_type) == (Outcome.TIMEOUT, "idle_timeout")
    finally:
        await runner.cleanup()


async def test_connect_timeout_gives_504(
    start_sidecar: StartSidecar, client: aiohttp.ClientSession
) -> None:
    # A listener that never accepts, with its backlog already full: SYNs go unanswered.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        await asyncio.sleep(0.1)
        quick_connect = "[tiers.gpu-8gb]\nconnect_timeout_seconds = 0.2\n"
        running: Running = await start_sidecar(f"http://127.0.0.1:{port}", quick_connect)
        status, _, body = await post(client, running.url + "/api/generate", GENERATE)
        assert status == 504 and "connecting" in json.loads(body)["error"]
        record = await last_record(running)
        assert (record.outcome, record.error_type) == (Outcome.TIMEOUT, "connect_timeout")
    finally:
        for sock in (*fillers, listener):
            sock.close()
