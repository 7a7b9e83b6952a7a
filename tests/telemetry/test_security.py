"""Secure defaults: loopback unless a bearer token is set; constant-time 401; no secrets logged."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest

from telemetry import SecurityError, load_config
from telemetry._sidecar import Components, Sidecar, is_loopback
from telemetry.emulator import EmulatorServer
from tests.telemetry.conftest import Running, StartSidecar


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
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token\n")
    running: Running = await start_sidecar(emulator.url, auth_token_file=token_file)
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
