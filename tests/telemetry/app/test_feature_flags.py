"""The config's feature flags, each through a real sidecar built the way `serve` builds it:
receipts on/off, GPU probing on/off, and auth enforcement."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from telemetry.app._sidecar import Sidecar
from telemetry.core import SecurityError
from telemetry.emulator import EmulatorServer
from tests.telemetry.conftest import sidecar_config

GENERATE = {"model": "llama3.1:8b", "prompt": "hi", "stream": False}
Start = Callable[..., Any]


@pytest.fixture
async def start(emulator: EmulatorServer, tmp_path: Path) -> AsyncIterator[Start]:
    running: list[Sidecar] = []

    async def start_one(toml: str, **proxy: Any) -> Sidecar:
        sidecar = Sidecar(sidecar_config(emulator.url, toml, tmp_path, **proxy), env={})
        await sidecar.start()
        running.append(sidecar)
        return sidecar

    yield start_one
    for sidecar in running:
        await sidecar.stop()


async def generate(
    sidecar: Sidecar, headers: dict[str, str] | None = None
) -> aiohttp.ClientResponse:
    async with aiohttp.ClientSession() as session:
        url = f"http://127.0.0.1:{sidecar.listen_port}/api/generate"
        async with session.post(url, json=GENERATE, headers=headers or {}) as response:
            await response.read()
            return response


async def admin(sidecar: Sidecar, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{sidecar.admin_port}{path}") as response:
            return response.status, await response.text()


async def test_receipts_flag(start: Start, tmp_path: Path) -> None:
    on = await start("[gpu]\nenabled = false\n")
    assert "X-Receipt-Salt" in (await generate(on)).headers
    assert (tmp_path / "receipts.duckdb").exists()
    assert (await admin(on, "/receipts/checkpoint?fresh=1"))[0] == 200
    await on.stop()
    (tmp_path / "receipts.duckdb").unlink()
    off = await start("[gpu]\nenabled = false\n[receipts]\nenabled = false\n")
    response = await generate(off)
    assert response.status == 200 and "X-Receipt-Salt" not in response.headers
    assert not (tmp_path / "receipts.duckdb").exists()
    assert (await admin(off, "/receipts/checkpoint"))[0] == 404


async def test_gpu_probing_flag(start: Start) -> None:
    on = await start("[receipts]\nenabled = false\n")
    _, ready = await admin(on, "/readyz")
    assert '"gpu"' in ready
    assert "ollama_sidecar_gpu_backend_up" in (await admin(on, "/metrics"))[1]
    off = await start("[receipts]\nenabled = false\n[gpu]\nenabled = false\n")
    _, ready = await admin(off, "/readyz")
    assert '"gpu"' not in ready
    assert "ollama_sidecar_gpu_backend_up" not in (await admin(off, "/metrics"))[1]


async def test_auth_enforcement_flag(start: Start, tmp_path: Path) -> None:
    flags = "[receipts]\nenabled = false\n[gpu]\nenabled = false\n[proxy]\nrequire_auth = true\n"
    with pytest.raises(SecurityError, match="require_auth"):
        await start(flags)
    token = tmp_path / "token"
    token.write_text("flag-token")
    token.chmod(0o600)
    enforced = await start(flags, auth_token_file=token)
    assert (await generate(enforced)).status == 401
    assert (await generate(enforced, {"Authorization": "Bearer flag-token"})).status == 200
