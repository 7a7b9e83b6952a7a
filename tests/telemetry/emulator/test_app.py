"""The app as a whole: raw wire checks, Host rule, gin 404s, control routes, counters."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from telemetry.emulator import EmulatorConfig, EmulatorServer, build_emulator_app


@pytest.fixture
async def emu() -> AsyncIterator[EmulatorServer]:
    config = EmulatorConfig(ttft_seconds=0.0, tokens_per_second=0, output_tokens=3)
    async with EmulatorServer(config) as server:
        yield server


async def _raw(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    data = await reader.read()
    writer.close()
    await writer.wait_closed()
    return data


def _headers(raw: bytes) -> dict[str, str]:
    head = raw.split(b"\r\n\r\n", 1)[0].decode().split("\r\n")[1:]
    return {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in head)}


@pytest.mark.parametrize(
    "request_line",
    [
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        b"GET /nope HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        b"POST /api/generate HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        b"Content-Length: 38\r\n\r\n"
        b'{"model":"llama3.2:3b","prompt":"hey"}',
    ],
)
async def test_no_server_header_on_the_wire(emu: EmulatorServer, request_line: bytes) -> None:
    raw = await _raw(emu.port, request_line)
    assert raw.startswith(b"HTTP/1.1 ")
    headers = _headers(raw)
    assert "server" not in headers and "date" in headers


async def test_streams_are_chunked_ndjson_on_the_wire(emu: EmulatorServer) -> None:
    body = b'{"model":"llama3.2:3b","prompt":"hey"}'
    raw = await _raw(
        emu.port,
        b"POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1:11434\r\nConnection: close\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body),
    )
    headers = _headers(raw)
    assert headers["transfer-encoding"] == "chunked"
    assert headers["content-type"] == "application/x-ndjson"


async def test_foreign_host_gets_empty_403(emu: EmulatorServer) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(emu.url + "/api/tags", headers={"Host": "example.com"}) as resp:
            assert resp.status == 403 and await resp.read() == b""
        async with session.get(emu.url + "/api/tags", headers={"Host": "localhost:1"}) as resp:
            assert resp.status == 200


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/nope"), ("GET", "/api/generate"), ("POST", "/api/tags")]
)
async def test_unknown_route_is_gin_404(emu: EmulatorServer, method: str, path: str) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.request(method, emu.url + path) as resp:
            assert resp.status == 404
            assert resp.headers["Content-Type"] == "text/plain"
            assert await resp.read() == b"404 page not found"


async def test_runtime_config_get_put(emu: EmulatorServer) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(emu.url + "/_emulator/config") as resp:
            before = await resp.json()
        assert before["ttft_seconds"] == 0.0 and len(before["models"]) == 6  # 5 local, 1 cloud
        update = {"output_tokens": 2, "fault": "busy", "fault_models": ["qwen*"]}
        async with session.put(emu.url + "/_emulator/config", json=update) as resp:
            after = await resp.json()
        assert after["output_tokens"] == 2 and after["ttft_seconds"] == 0.0
        assert emu.config.fault == "busy" and emu.config.fault_models == ("qwen*",)
        async with session.put(
            emu.url + "/_emulator/config", json={"fault": "meltdown", "output_tokens": 9}
        ) as resp:
            assert resp.status == 400 and "fault" in (await resp.json())["error"]
        assert emu.config.output_tokens == 2  # all or nothing
        body = {"model": "llama3.2:3b", "prompt": "x", "stream": False}
        async with session.post(emu.url + "/api/generate", json=body) as resp:
            assert (await resp.json())["eval_count"] == 2
        models = [m | {"vram_fraction": 0.0} for m in after["models"]]
        async with session.put(emu.url + "/_emulator/config", json={"models": models}) as resp:
            assert resp.status == 200
        assert all(m.size_vram == 0 for m in emu.config.models)


async def test_stats_count_cancelled_streams_at_once() -> None:
    config = EmulatorConfig(ttft_seconds=0.0, tokens_per_second=20, output_tokens=100)
    async with EmulatorServer(config) as emu, aiohttp.ClientSession() as session:
        body = {"model": "llama3.2:3b", "prompt": "x"}
        async with session.post(emu.url + "/api/generate", json=body) as resp:
            await resp.content.readline()
            assert emu.stats.active == 1
        start = time.monotonic()
        while emu.stats.cancelled == 0:
            assert time.monotonic() - start < 0.5
            await asyncio.sleep(0.005)
        async with session.get(emu.url + "/_emulator/stats") as resp:
            stats = await resp.json()
    assert stats == {"requests": 1, "active": 0, "cancelled": 1, "completed": 0}


async def test_client_leaving_is_noticed_without_handler_cancellation() -> None:
    config = EmulatorConfig(ttft_seconds=0.0, stall_seconds=30)
    app = build_emulator_app(config)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.2)) as session:
            with pytest.raises(asyncio.TimeoutError):
                await session.post(
                    f"http://127.0.0.1:{port}/api/generate",
                    json={"model": "llama3.2:3b", "prompt": "x"},
                    headers={"X-Emulator-Fault": "stall_before"},
                )
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + 2
            stats: dict[str, Any] = {}
            while stats.get("cancelled") != 1:
                assert time.monotonic() < deadline
                async with session.get(f"http://127.0.0.1:{port}/_emulator/stats") as resp:
                    stats = json.loads(await resp.read())
                await asyncio.sleep(0.02)
    finally:
        await runner.cleanup()


async def test_server_url_and_port(emu: EmulatorServer) -> None:
    assert emu.port > 0 and emu.url == f"http://127.0.0.1:{emu.port}"
