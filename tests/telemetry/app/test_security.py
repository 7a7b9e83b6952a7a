"""Secure defaults: loopback unless a bearer token is set; constant-time 401; no secrets logged."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest

from telemetry import ConfigError, SecurityError, load_config
from telemetry.app._sidecar import Components, Sidecar, is_loopback
from telemetry.emulator import EmulatorServer
from tests._net import free_port, raw_exchange
from tests.telemetry.conftest import Running, StartSidecar

FOREIGN_HOST = "ollama_sidecar_foreign_host_refusals_total"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.3.2.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("10.0.0.5", False),
        ("example.com", False),
    ],
)
def test_loopback_detection(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


async def test_refuses_non_loopback_without_token(tmp_path: Path) -> None:
    config = load_config(
        env={},
        overrides={
            "proxy": {"listen": "0.0.0.0:0", "admin_listen": "127.0.0.1:0", "data_dir": tmp_path}
        },
    )
    with pytest.raises(SecurityError, match="auth-token-file"):
        await Sidecar(config, env={}, components=Components()).start()


async def test_bearer_token_required(
    emulator: EmulatorServer, start_sidecar: StartSidecar, tmp_path: Path
) -> None:
    running: Running = await start_sidecar(emulator.url, auth_token_file=_token_file(tmp_path))
    async with aiohttp.ClientSession() as session:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret-token"}):
            async with session.get(running.url + "/api/tags", headers=headers) as response:
                assert response.status == 401
                assert json.loads(await response.read()) == {"error": "unauthorized"}
                assert response.headers["WWW-Authenticate"] == "Bearer"
        async with session.post(running.url + "/v1/chat/completions", json={}) as response:
            assert response.status == 401
            assert (await response.json())["error"]["type"] == "invalid_request_error"
        ok = {"Authorization": "Bearer s3cret-token"}
        async with session.get(running.url + "/api/tags", headers=ok) as response:
            assert response.status == 200
    records = await running.sink.wait_for(5)
    assert [r.status for r in records] == [401, 401, 401, 401, 200]


async def test_empty_token_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("\n")
    config = load_config(
        env={},
        overrides={
            "proxy": {
                "listen": "127.0.0.1:0",
                "admin_listen": "127.0.0.1:0",
                "data_dir": tmp_path,
                "auth_token_file": tmp_path / "token",
            }
        },
    )
    with pytest.raises(Exception, match="empty"):
        await Sidecar(config, env={}, components=Components()).start()


async def test_admin_listener_stays_on_loopback_unless_allowed(tmp_path: Path) -> None:
    config = load_config(
        env={},
        overrides={
            "proxy": {"listen": "127.0.0.1:0", "admin_listen": "0.0.0.0:0", "data_dir": tmp_path}
        },
    )
    sidecar = Sidecar(config, env={}, components=Components())
    with pytest.raises(SecurityError, match="admin_allow_remote"):
        await sidecar.start()


def test_upstream_credentials_are_refused() -> None:
    with pytest.raises(Exception, match="credentials"):
        load_config(env={"OLLAMA_BASE_URL": "http://admin:secret@127.0.0.1:11434"})


def _token_file(tmp_path: Path, token: str = "s3cret-token") -> Path:
    path = tmp_path / "token"
    path.write_text(token + "\n")
    path.chmod(0o600)
    return path


def _heads(data: bytes) -> list[bytes]:
    """Status lines of responses without bodies, back to back: every head must be followed
    directly by the next status line, never by body bytes."""
    parts = data.split(b"\r\n\r\n")
    return [part.split(b"\r\n", 1)[0] for part in parts[:-1]]


async def test_token_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    token = _token_file(tmp_path)
    token.chmod(0o644)
    config = load_config(
        env={},
        overrides={
            "proxy": {
                "listen": "127.0.0.1:0",
                "admin_listen": "127.0.0.1:0",
                "data_dir": tmp_path,
                "auth_token_file": token,
            }
        },
    )
    with pytest.raises(ConfigError, match=f"{token} has mode 0644.*chmod 600"):
        await Sidecar(config, env={}, components=Components()).start()


async def test_head_refusals_carry_no_body_on_a_keepalive_connection(
    emulator: EmulatorServer, start_sidecar: StartSidecar, tmp_path: Path
) -> None:
    # The Ollama CLI's heartbeat is `HEAD /`: a 401 body would corrupt the next response.
    running: Running = await start_sidecar(emulator.url, auth_token_file=_token_file(tmp_path))
    head = b"HEAD / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    last = b"HEAD /api/version HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    data = await raw_exchange(running.sidecar.listen_port, head + head + last)
    assert _heads(data) == [b"HTTP/1.1 401 Unauthorized"] * 3
    assert data.endswith(b"\r\n\r\n")
    assert b"Content-Length: 24" in data  # what GET would have answered: {"error":"unauthorized"}


async def test_head_failures_carry_no_body(start_sidecar: StartSidecar) -> None:
    running: Running = await start_sidecar(f"http://127.0.0.1:{free_port()}")
    head = b"HEAD / HTTP/1.1\r\nHost: localhost\r\n\r\n"
    last = b"HEAD / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    data = await raw_exchange(running.sidecar.listen_port, head + last)
    assert _heads(data) == [b"HTTP/1.1 502 Bad Gateway"] * 2
    assert data.endswith(b"\r\n\r\n")
    records = await running.sink.wait_for(2)
    assert [(r.status, r.response_bytes) for r in records] == [(502, 0), (502, 0)]


async def test_absolute_form_target_is_a_400_not_an_upstream_failure(proxied: Running) -> None:
    port = proxied.sidecar.listen_port
    request = (
        f"GET http://127.0.0.1:{port}/api/tags HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    data = await raw_exchange(port, request)
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert data.endswith(b'{"error":"request target must be a path"}')
    (record,) = await proxied.sink.wait_for(1)
    assert (record.status, record.error_type) == (400, "400")


@pytest.mark.parametrize("host", ["rebind.evil.example:11434", "8.8.8.8", "example.com"])
async def test_foreign_host_is_refused_on_both_listeners(
    proxied: Running, client: aiohttp.ClientSession, host: str
) -> None:
    for url in (proxied.url + "/api/tags", proxied.admin + "/metrics"):
        async with client.get(url, headers={"Host": host}) as response:
            assert (response.status, await response.read()) == (403, b"")
    assert proxied.sink.records == []
    for listener in ("proxy", "admin"):
        refusals = await proxied.scraped(FOREIGN_HOST, listener=listener)
        assert refusals == 1, listener


@pytest.mark.parametrize("host", ["localhost:11435", "127.0.0.1", "[::1]:80", "a.localhost", ""])
async def test_local_hosts_are_served_on_both_listeners(
    proxied: Running, client: aiohttp.ClientSession, host: str
) -> None:
    for url in (proxied.url + "/api/tags", proxied.admin + "/healthz"):
        async with client.get(url, headers={"Host": host}) as response:
            assert response.status == 200
    assert await proxied.scraped(FOREIGN_HOST, listener="proxy") == 0


async def test_expect_continue_is_answered_here_and_not_forwarded(
    start_sidecar: StartSidecar,
) -> None:
    # An upstream that never sends `100 Continue` (it waits for the body, as HTTP allows).
    seen: list[bytes] = []

    async def upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        seen.append(head)
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        writer.write(b"Content-Length: 2\r\n\r\n{}")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(upstream, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        running: Running = await start_sidecar(f"http://127.0.0.1:{port}")
        body = b'{"model":"llama3.2:1b"}'
        async with asyncio.timeout(5):
            reader, writer = await asyncio.open_connection("127.0.0.1", running.sidecar.listen_port)
            writer.write(
                b"POST /api/show HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\n"
                b"Content-Type: application/json\r\nConnection: close\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
            )
            assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
            writer.write(body)
            answer = await reader.read()
            writer.close()
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(b"{}")
    assert b"expect" not in seen[0].lower()


_POST = b"POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\n"
_BODY = b'{"model":"m:1b","stream":false}'


@pytest.mark.parametrize(
    "request_bytes",
    [
        pytest.param(
            _POST + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            id="cl-and-te",
        ),
        pytest.param(_POST + b"Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcde", id="dup-cl"),
        pytest.param(_POST + b"X-A: 1\r\n  folded\r\nContent-Length: 0\r\n\r\n", id="obs-fold"),
        pytest.param(_POST.replace(b"\r\n", b"\n") + b"Content-Length: 0\n\n", id="bare-lf"),
        pytest.param(
            _POST + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n", id="chunk"
        ),
        pytest.param(
            b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n",
            id="connect",
        ),
        pytest.param(b"OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", id="options-star"),
    ],
)
async def test_smuggling_attempts_get_400_and_never_reach_ollama(
    proxied: Running, request_bytes: bytes
) -> None:
    async with asyncio.timeout(5):
        reader, writer = await asyncio.open_connection("127.0.0.1", proxied.sidecar.listen_port)
        writer.write(request_bytes)
        status_line = await reader.readuntil(b"\r\n")
        writer.close()
    # CONNECT and `OPTIONS *` name no path the proxy serves: aiohttp's 404, never forwarded.
    expected = b"404" if request_bytes.startswith((b"CONNECT", b"OPTIONS")) else b"400"
    assert status_line.split(b" ")[1] == expected
    # Anything the proxy handler forwards leaves a record, even a refusal.
    assert proxied.sink.records == []
