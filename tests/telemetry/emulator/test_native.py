"""Native inference routes driven over real HTTP: aiohttp's client and the official `ollama` one."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import ollama
import pytest

from telemetry.emulator import EmulatorConfig, EmulatorServer

GO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")
METRICS = (
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
)


@pytest.fixture
async def emu() -> AsyncIterator[EmulatorServer]:
    config = EmulatorConfig(ttft_seconds=0.0, tokens_per_second=0, output_tokens=6)
    async with EmulatorServer(config) as server:
        yield server


async def _post(url: str, body: Any) -> tuple[int, str, bytes]:
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=body) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), await resp.read()


def _lines(raw: bytes) -> list[dict[str, Any]]:
    assert raw.endswith(b"\n")
    return [json.loads(line) for line in raw.split(b"\n")[:-1]]


async def test_generate_streams_ndjson_by_default(emu: EmulatorServer) -> None:
    status, ctype, raw = await _post(
        emu.url + "/api/generate", {"model": "llama3.2:3b", "prompt": "Hi"}
    )
    assert (status, ctype) == (200, "application/x-ndjson")
    chunks = _lines(raw)
    assert len(chunks) == 7
    for chunk in chunks[:-1]:
        assert list(chunk) == ["model", "created_at", "response", "done"]
        assert chunk["done"] is False and chunk["model"] == "llama3.2:3b"
        assert GO_TIME.match(chunk["created_at"])
    final = chunks[-1]
    assert final["done"] is True and final["done_reason"] == "stop" and final["response"] == ""
    assert final["eval_count"] == 6 and final["prompt_eval_count"] > 0
    assert len(final["context"]) == final["prompt_eval_count"] + 6
    assert all(isinstance(final[m], int) for m in ("total_duration", "load_duration"))
    for line in raw.split(b"\n")[:-1]:
        assert b": " not in line and b", " not in line  # compact JSON


async def test_stream_false_gives_one_json_object(emu: EmulatorServer) -> None:
    body = {"model": "llama3.2", "prompt": "Hi", "stream": False}
    emu.config.models = (
        *emu.config.models,
        emu.config.models[0].__class__(
            name="llama3.2:latest",
            digest="b" * 64,
            size=10,
            parameter_size="3B",
            family="llama",
            quantization="Q4_0",
        ),
    )
    status, ctype, raw = await _post(emu.url + "/api/generate", body)
    assert (status, ctype) == (200, "application/json; charset=utf-8")
    obj = json.loads(raw)
    assert obj["model"] == "llama3.2" and obj["done"] is True
    assert len(obj["response"].split()) == 6


async def test_omitempty_leaves_out_zero_metrics(emu: EmulatorServer) -> None:
    emu.config.ttft_seconds = 0.0
    body = {"model": "llama3.2:3b", "prompt": "Hi", "stream": False, "options": {"num_predict": 0}}
    obj = json.loads((await _post(emu.url + "/api/generate", body))[2])
    assert obj["done_reason"] == "length"
    assert "eval_count" not in obj and "eval_duration" not in obj
    assert "total_duration" in obj


async def test_num_predict_caps_tokens(emu: EmulatorServer) -> None:
    body = {"model": "llama3.2:3b", "prompt": "Hi", "options": {"num_predict": 3}}
    chunks = _lines((await _post(emu.url + "/api/generate", body))[2])
    assert len(chunks) == 4
    assert chunks[-1]["done_reason"] == "length" and chunks[-1]["eval_count"] == 3


async def test_chat_chunks_and_think(emu: EmulatorServer) -> None:
    body = {"model": "qwen2.5:14b", "messages": [{"role": "user", "content": "Hi"}], "think": True}
    status, ctype, raw = await _post(emu.url + "/api/chat", body)
    chunks = _lines(raw)
    assert (status, ctype) == (200, "application/x-ndjson")
    thinking = [c["message"]["thinking"] for c in chunks[:-1] if "thinking" in c["message"]]
    content = [c["message"]["content"] for c in chunks[:-1] if c["message"]["content"]]
    assert len(thinking) == 3 and len(content) == 3
    assert "thinking" in chunks[0]["message"] and chunks[0]["message"]["content"] == ""
    assert chunks[0]["message"]["role"] == "assistant"
    assert chunks[-1]["done"] is True and chunks[-1]["message"]["content"] == ""


async def test_load_and_unload(emu: EmulatorServer) -> None:
    status, ctype, raw = await _post(emu.url + "/api/generate", {"model": "llama3.1:8b"})
    obj = json.loads(raw)
    assert (status, ctype) == (200, "application/json; charset=utf-8")
    assert obj["done_reason"] == "load" and obj["done"] is True
    assert not any(m in obj for m in METRICS)
    async with aiohttp.ClientSession() as session:
        async with session.get(emu.url + "/api/ps") as resp:
            ps = await resp.json()
    assert [m["name"] for m in ps["models"]] == ["llama3.1:8b"]
    body = {"model": "llama3.1:8b", "messages": [], "keep_alive": 0}
    obj = json.loads((await _post(emu.url + "/api/chat", body))[2])
    assert obj["done_reason"] == "unload" and obj["message"] == {"role": "assistant", "content": ""}
    async with aiohttp.ClientSession() as session:
        async with session.get(emu.url + "/api/ps") as resp:
            assert (await resp.json())["models"] == []


async def test_keep_alive_zero_unloads_after_the_request(emu: EmulatorServer) -> None:
    body = {"model": "llama3.2:3b", "prompt": "Hi", "keep_alive": "0s", "stream": False}
    assert (await _post(emu.url + "/api/generate", body))[0] == 200
    async with ollama.AsyncClient(host=emu.url) as client:
        assert (await client.ps()).models == []


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("/api/generate", None, 400, "missing request body"),
        ("/api/generate", [], 400, "cannot unmarshal array"),
        ("/api/chat", {"messages": []}, 400, "model is required"),
        ("/api/generate", {"model": "nope", "prompt": "x"}, 404, "model 'nope' not found"),
        ("/api/generate", {"model": "nomic-embed-text", "prompt": "x"}, 400, "does not support"),
        ("/api/generate", {"model": "llama3.2:3b", "keep_alive": "soon"}, 400, "invalid duration"),
        ("/api/embed", {"model": "nope", "input": "x"}, 404, "model 'nope' not found"),
    ],
)
async def test_bad_requests(
    emu: EmulatorServer, path: str, body: Any, status: int, error: str
) -> None:
    async with aiohttp.ClientSession() as session:
        data = b"" if body is None else json.dumps(body).encode()
        async with session.post(emu.url + path, data=data) as resp:
            assert resp.status == status
            assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
            assert error in (await resp.json())["error"]


async def test_embed_is_deterministic_and_sized(emu: EmulatorServer) -> None:
    body = {"model": "nomic-embed-text", "input": ["a b", "c"]}
    first = json.loads((await _post(emu.url + "/api/embed", body))[2])
    second = json.loads((await _post(emu.url + "/api/embed", body))[2])
    assert first["embeddings"] == second["embeddings"]
    assert [len(v) for v in first["embeddings"]] == [16, 16]
    assert first["embeddings"][0] != first["embeddings"][1]
    assert first["prompt_eval_count"] == 3 and "eval_count" not in first
    legacy = json.loads(
        (await _post(emu.url + "/api/embeddings", {"model": "nomic-embed-text", "prompt": "a b"}))[
            2
        ]
    )
    assert list(legacy) == ["embedding"] and len(legacy["embedding"]) == 16


async def test_chunks_are_spread_over_time() -> None:
    config = EmulatorConfig(ttft_seconds=0.05, tokens_per_second=20, output_tokens=5)
    async with EmulatorServer(config) as emu, aiohttp.ClientSession() as session:
        start = time.monotonic()
        arrivals: list[float] = []
        body = {"model": "llama3.2:3b", "prompt": "Hi"}
        async with session.post(emu.url + "/api/generate", json=body) as resp:
            async for _line in resp.content:
                arrivals.append(time.monotonic() - start)
    assert len(arrivals) == 6
    # Load can only delay a chunk, so each token is checked against its earliest due time
    # (TTFT, then one every 1/20 s) rather than against its neighbour; the done line follows
    # the last token at once.
    due = [0.05 + 0.05 * index for index in range(5)]
    early = [(at, when) for at, when in zip(arrivals[:-1], due, strict=True) if at < when - 0.01]
    assert not early, early


async def test_official_client_every_inference_call(emu: EmulatorServer) -> None:
    async with ollama.AsyncClient(host=emu.url) as client:
        reply = await client.generate(model="llama3.2:3b", prompt="Hi")
        assert reply.done and reply.eval_count == 6 and reply.response
        parts = [
            p async for p in await client.generate(model="llama3.2:3b", prompt="Hi", stream=True)
        ]
        assert "".join(p.response for p in parts) == reply.response
        chat = await client.chat(
            model="llama3.2:3b", messages=[{"role": "user", "content": "Hi"}], think=True
        )
        assert chat.message.thinking and chat.message.content
        stream = await client.chat(
            model="llama3.2:3b", messages=[{"role": "user", "content": "Hi"}], stream=True
        )
        pieces = [p async for p in stream]
        assert pieces[-1].done_reason == "stop" and pieces[-1].eval_count == 6
        embedded = await client.embed(model="nomic-embed-text", input=["a", "b"])
        assert len(embedded.embeddings) == 2
        legacy = await client.embeddings(model="nomic-embed-text", prompt="a")
        assert len(legacy.embedding) == 16
        with pytest.raises(ollama.ResponseError) as info:
            await client.generate(model="missing:1b", prompt="x")
        assert info.value.status_code == 404


async def test_sync_client_chat(emu: EmulatorServer) -> None:
    def call() -> str:
        with ollama.Client(host=emu.url) as client:
            message = client.chat(model="llama3.1:8b", messages=[{"role": "user", "content": "x"}])
            return message.message.content or ""

    assert len((await asyncio.to_thread(call)).split()) == 6
