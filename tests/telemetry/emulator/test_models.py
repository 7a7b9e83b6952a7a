"""Model management routes through the official `ollama` client and raw HTTP."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import ollama
import pytest

from telemetry.emulator import DEFAULT_MODELS, EmulatedModel, EmulatorConfig, EmulatorServer


@pytest.fixture
async def emu() -> AsyncIterator[EmulatorServer]:
    config = EmulatorConfig(ttft_seconds=0.0, tokens_per_second=0, output_tokens=4)
    async with EmulatorServer(config) as server:
        yield server


@pytest.fixture
async def client(emu: EmulatorServer) -> AsyncIterator[ollama.AsyncClient]:
    async with ollama.AsyncClient(host=emu.url) as c:
        yield c


async def test_root_version_and_tags_raw(emu: EmulatorServer) -> None:
    async with aiohttp.ClientSession() as session:
        for method in ("GET", "HEAD"):
            async with session.request(method, emu.url + "/") as resp:
                assert resp.status == 200
                assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"
                assert await resp.read() == (b"Ollama is running" if method == "GET" else b"")
        async with session.get(emu.url + "/api/version") as resp:
            assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
            assert await resp.read() == b'{"version":"0.32.15"}'
        async with session.get(emu.url + "/api/tags") as resp:
            tags = await resp.json()
    assert [m["name"] for m in tags["models"]] == [m.name for m in DEFAULT_MODELS]
    first = tags["models"][0]
    assert set(first) == {"name", "model", "modified_at", "size", "digest", "details"}
    assert len(first["digest"]) == 64


async def test_default_models_look_real() -> None:
    for model in DEFAULT_MODELS:
        assert len(model.digest) == 64 and int(model.digest, 16) >= 0
        # a cloud model's weights are elsewhere: Ollama lists only its small manifest
        assert model.size > 100_000_000 or model.remote_host
    assert {m.name for m in DEFAULT_MODELS} >= {
        "llama3.2:3b",
        "llama3.3:70b",
        "nomic-embed-text:latest",
    }


async def test_list_show_and_ps(client: ollama.AsyncClient, emu: EmulatorServer) -> None:
    listed = await client.list()
    assert [m.model for m in listed.models][:2] == ["llama3.2:3b", "llama3.1:8b"]
    shown = await client.show("llama3.1:8b")
    assert shown.details is not None and shown.details.parameter_size == "8.0B"
    assert shown.capabilities == ["completion"]
    assert shown.modelinfo is not None and shown.modelinfo["llama.context_length"] == 4096
    assert (await client.ps()).models == []
    await client.generate(model="llama3.3:70b", prompt="x")
    await client.generate(model="llama3.2:3b", prompt="x", keep_alive=-1)
    running = (await client.ps()).models
    assert [m.name for m in running] == ["llama3.2:3b", "llama3.3:70b"]  # longest expiry first
    big = running[1]
    assert big.size == 42_520_413_916 and big.size_vram == round(42_520_413_916 * 0.52)
    assert big.context_length == 4096 and big.expires_at is not None
    assert big.details is not None and big.details.quantization_level == "Q4_K_M"
    assert running[0].expires_at is not None and running[0].expires_at.year > 2200


async def test_placement_follows_vram_fraction(emu: EmulatorServer) -> None:
    emu.config.models = (
        EmulatedModel(
            name="cpu:1b",
            digest="c" * 64,
            size=1000,
            parameter_size="1B",
            family="llama",
            quantization="Q4_0",
            vram_fraction=0.0,
        ),
    )
    async with ollama.AsyncClient(host=emu.url) as client:
        await client.generate(model="cpu:1b", prompt="")
        (entry,) = (await client.ps()).models
    assert entry.size == 1000 and entry.size_vram == 0


async def test_pull_push_create_copy_delete(client: ollama.AsyncClient) -> None:
    progress = [p async for p in await client.pull("llama3.2:3b", stream=True)]
    assert progress[0].status == "pulling manifest" and progress[-1].status == "success"
    layers = [p for p in progress if p.digest]
    assert layers[-1].completed == layers[-1].total == 2_019_393_189
    assert (await client.pull("tinyllama")).status == "success"
    assert "tinyllama:latest" in [m.model for m in (await client.list()).models]
    pushed = [p async for p in await client.push("llama3.2:3b", stream=True)]
    assert pushed[-1].status == "success" and any(
        p.status.startswith("pushing") for p in pushed if p.status
    )
    created = await client.create(model="mine", from_="llama3.1:8b")
    assert created.status == "success"
    assert (await client.show("mine")).details.parameter_size == "8.0B"  # type: ignore[union-attr]
    assert (await client.copy("mine", "yours")).status == "success"
    assert (await client.delete("mine")).status == "success"
    names = [m.model for m in (await client.list()).models]
    assert "yours:latest" in names and "mine:latest" not in names
    with pytest.raises(ollama.ResponseError) as info:
        await client.delete("mine")
    assert info.value.status_code == 404
    with pytest.raises(ollama.ResponseError):
        await client.copy("ghost", "x")
    with pytest.raises(ollama.ResponseError) as info:
        await client.show("ghost")
    assert info.value.status_code == 404 and info.value.error == "model 'ghost' not found"


async def test_stream_false_progress_is_one_object(emu: EmulatorServer) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(
            emu.url + "/api/pull", json={"model": "llama3.2:3b", "stream": False}
        ) as resp:
            assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
            assert await resp.json() == {"status": "success"}
        async with session.post(emu.url + "/api/push", json={"model": "llama3.2:3b"}) as resp:
            assert resp.headers["Content-Type"] == "application/x-ndjson"
            lines = (await resp.read()).splitlines()
    assert json.loads(lines[-1]) == {"status": "success"}


async def test_blobs_and_create_from_files(
    client: ollama.AsyncClient, emu: EmulatorServer, tmp_path: Path
) -> None:
    blob = tmp_path / "weights.gguf"
    blob.write_bytes(b"GGUF" + bytes(1000))
    digest = f"sha256:{hashlib.sha256(blob.read_bytes()).hexdigest()}"
    async with aiohttp.ClientSession() as session:
        async with session.head(f"{emu.url}/api/blobs/{digest}") as resp:
            assert resp.status == 404
        assert await client.create_blob(blob) == digest
        async with session.head(f"{emu.url}/api/blobs/{digest}") as resp:
            assert resp.status == 200
        async with session.post(f"{emu.url}/api/blobs/sha256:{'0' * 64}", data=b"x") as resp:
            assert resp.status == 400 and "digest mismatch" in (await resp.json())["error"]
    created = await client.create(model="fromfile", files={"weights.gguf": digest})
    assert created.status == "success"
    with pytest.raises(ollama.ResponseError) as info:
        await client.create(model="bad", files={"w.gguf": "sha256:" + "1" * 64})
    assert info.value.status_code == 400
