"""Slow and silent clients are cut off, and the connection cap refuses clearly, on both listeners.

The timeouts are configured short so each test takes a second or two; what is checked is that
the sidecar closes the connection while the client is still (slowly) talking.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import time

import pytest

from telemetry.app._listener import REFUSAL, raise_file_limit
from telemetry.emulator import EmulatorServer
from tests._net import raw_exchange
from tests.telemetry.conftest import Running, StartSidecar

REFUSED = "ollama_sidecar_connections_refused_total"

SHORT = {
    "header_timeout_seconds": 0.5,
    "keepalive_timeout_seconds": 1.0,
    "body_timeout_seconds": 0.5,
}


async def _trickle_until_closed(
    port: int, first: bytes, drip: bytes, every: float = 0.1, limit: float = 5.0
) -> tuple[float, bytes]:
    """Send `first`, then `drip` every `every` seconds until the server closes the connection;
    the seconds that took and what the server sent."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    received = b""
    try:
        writer.write(first)
        async with asyncio.timeout(limit):
            while True:
                try:
                    chunk = await asyncio.wait_for(reader.read(65536), every)
                except TimeoutError:
                    writer.write(drip)
                    continue
                if not chunk:
                    return time.monotonic() - started, received
                received += chunk
    finally:
        writer.close()


@pytest.fixture
async def short(emulator: EmulatorServer, start_sidecar: StartSidecar) -> Running:
    running: Running = await start_sidecar(emulator.url, **SHORT)
    return running


@pytest.mark.parametrize("listener", ["proxy", "admin"])
async def test_a_trickled_request_head_is_cut_off(short: Running, listener: str) -> None:
    port = short.sidecar.listen_port if listener == "proxy" else short.sidecar.admin_port
    took, answer = await _trickle_until_closed(
        port, b"GET /api/tags HTTP/1.1\r\nHost: 127.0.0.1\r\n", b"X-Slow: 1\r\n"
    )
    assert answer == b"" and took < 2.0
    assert await short.scraped(REFUSED, listener=listener, reason="header_timeout") == 1
    other = "admin" if listener == "proxy" else "proxy"
    assert await short.scraped(REFUSED, listener=other, reason="header_timeout") == 0


async def test_a_silent_connection_is_closed_after_the_keepalive_timeout(short: Running) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", short.sidecar.listen_port)
    try:
        async with asyncio.timeout(3):
            assert await reader.read() == b""
    finally:
        writer.close()


async def test_an_idle_keepalive_connection_is_closed(short: Running) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", short.sidecar.listen_port)
    try:
        writer.write(b"GET /api/version HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        async with asyncio.timeout(3):
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 OK")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            assert await reader.read() == b""
    finally:
        writer.close()


async def test_a_trickled_request_body_gets_408(short: Running) -> None:
    took, answer = await _trickle_until_closed(
        short.sidecar.listen_port,
        b"POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n{",
        b" ",
    )
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n") and took < 3.0
    assert b"Connection: close" in answer
    assert answer.endswith(b'{"error":"request body timeout"}')
    (record,) = await short.sink.wait_for(1)
    assert record.status == 408
    assert await short.scraped(REFUSED, listener="proxy", reason="body_timeout") == 1
    assert await short.scraped(REFUSED, listener="proxy", reason="header_timeout") == 0


async def test_the_head_timer_stops_at_the_request_and_restarts_at_the_next_head(
    emulator: EmulatorServer, start_sidecar: StartSidecar
) -> None:
    """A body slower than the head timeout (within the body timeout) is served, twice on one
    connection; a trickled third head on it is then cut off."""
    running: Running = await start_sidecar(
        emulator.url,
        header_timeout_seconds=0.3,
        keepalive_timeout_seconds=3.0,
        body_timeout_seconds=3.0,
    )
    body = b'{"model":"llama3.1:8b","messages":[],"stream":false}'
    head = (
        b"POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", running.sidecar.listen_port)
    try:
        async with asyncio.timeout(5):
            for _ in range(2):
                writer.write(head)
                for start in range(0, len(body), 14):  # 4 pieces over 0.6 s: twice the timeout
                    await asyncio.sleep(0.15)
                    writer.write(body[start : start + 14])
                answer = await reader.readuntil(b"\r\n\r\n")
                assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
                length = int(answer.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
            assert await running.scraped(REFUSED, listener="proxy", reason="header_timeout") == 0
            writer.write(b"GET /api/tags HTTP/1.1\r\n")
            assert await reader.read() == b""
        assert await running.scraped(REFUSED, listener="proxy", reason="header_timeout") == 1
    finally:
        writer.close()


async def test_connections_beyond_the_cap_are_refused(
    emulator: EmulatorServer, start_sidecar: StartSidecar
) -> None:
    running: Running = await start_sidecar(emulator.url, max_client_connections=2)
    port = running.sidecar.listen_port
    held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
    try:
        await asyncio.sleep(0.05)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        async with asyncio.timeout(3):
            assert await reader.read() == REFUSAL
        writer.close()
        assert await running.scraped(REFUSED, listener="proxy", reason="max_connections") == 1
        assert await running.scraped(REFUSED, listener="admin", reason="max_connections") == 0
        for _, held_writer in held:
            held_writer.close()
        async with asyncio.timeout(3):
            while True:  # the slots free up once the server has seen the closes
                request = (
                    b"GET /api/version HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                )
                with contextlib.suppress(ConnectionError):
                    if (await raw_exchange(port, request)).startswith(b"HTTP/1.1 200"):
                        break
                await asyncio.sleep(0.05)
    finally:
        for _, held_writer in held:
            held_writer.close()


def test_the_soft_file_limit_is_raised_to_the_hard_limit() -> None:
    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    soft, hard = before
    lowered = min(soft, 512) if hard == resource.RLIM_INFINITY else min(soft, hard // 2, 512)
    resource.setrlimit(resource.RLIMIT_NOFILE, (lowered, hard))
    try:
        assert raise_file_limit() == (hard, hard)
        assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, before)
