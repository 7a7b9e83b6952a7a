"""Pull-then-load against the emulator (progress lines, /api/ps afterwards), and against a
stand-in Ollama for an embedding-only model and a pull that fails."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from telemetry.app.models import warm
from telemetry.emulator import EmulatorConfig, EmulatorServer


@pytest.fixture
async def emulator() -> AsyncIterator[EmulatorServer]:
    async with EmulatorServer(EmulatorConfig(ttft_seconds=0.0, tokens_per_second=0.0)) as emu:
        yield emu


async def test_pulls_then_loads_with_keep_alive(emulator: EmulatorServer) -> None:
    lines: list[str] = []
    results = await warm(emulator.url, ["llama3.1:8b", "brand-new:1b"], "1h", lines.append)
    assert [(r.model, r.ok) for r in results] == [("llama3.1:8b", True), ("brand-new:1b", True)]
    assert results[0].detail.startswith("loaded (") and results[0].detail.endswith("keep_alive 1h")
    assert "brand-new:1b: pulling manifest" in lines
    assert "brand-new:1b: success" in lines
    assert any("% of " in line for line in lines)
    async with aiohttp.ClientSession() as session:
        async with session.get(emulator.url + "/api/ps") as resp:
            loaded = {m["name"] for m in (await resp.json())["models"]}
        async with session.get(emulator.url + "/api/tags") as resp:
            pulled = {m["name"] for m in (await resp.json())["models"]}
    assert {"llama3.1:8b", "brand-new:1b"} <= loaded
    assert "brand-new:1b" in pulled


async def test_embedding_models_load_through_embed_and_a_failed_pull_is_reported() -> None:
    calls: list[tuple[str, dict[str, object]]] = []

    async def pull(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        calls.append(("pull", body))
        lines = [{"status": "pulling manifest"}]
        lines.append(
            {"error": "file does not exist"}
            if "missing" in body["model"]
            else {"status": "success"}
        )
        return web.Response(text="".join(json.dumps(line) + "\n" for line in lines))

    async def generate(request: web.Request) -> web.Response:
        calls.append(("generate", await request.json()))
        return web.json_response({"error": '"embedder" does not support generate'}, status=400)

    async def embed(request: web.Request) -> web.Response:
        calls.append(("embed", await request.json()))
        return web.json_response({"model": "embedder", "embeddings": []})

    async def ps(request: web.Request) -> web.Response:
        return web.json_response(
            {"models": [{"name": "embedder:latest", "size": 10, "size_vram": 0}]}
        )

    app = web.Application()
    app.router.add_post("/api/pull", pull)
    app.router.add_post("/api/generate", generate)
    app.router.add_post("/api/embed", embed)
    app.router.add_get("/api/ps", ps)
    async with TestServer(app, host="127.0.0.1") as server:
        url = str(server.make_url("")).rstrip("/")
        results = await warm(url, ["missing:1b", "embedder"], "-1", lambda _: None)
    assert results[0].ok is False and results[0].detail == "pull failed: file does not exist"
    assert results[1].ok is True and results[1].detail == "loaded (100% CPU), keep_alive -1"
    assert ("embed", {"model": "embedder", "input": [], "keep_alive": "-1"}) in calls
    assert [name for name, _ in calls] == ["pull", "pull", "generate", "embed"]
