"""The `/v1` routes: the official `openai` client, plus raw SSE to pin the exact event order."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import pytest

from telemetry.emulator import EmulatorConfig, EmulatorServer


@pytest.fixture
async def emu() -> AsyncIterator[EmulatorServer]:
    config = EmulatorConfig(ttft_seconds=0.0, tokens_per_second=0, output_tokens=5)
    async with EmulatorServer(config) as server:
        yield server


async def _events(url: str, body: dict[str, Any]) -> tuple[str, list[Any]]:
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=body) as resp:
            raw = (await resp.read()).decode()
            ctype = resp.headers["Content-Type"]
    assert raw.endswith("data: [DONE]\n\n")
    events = [e for e in raw.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    return ctype, [e[6:] if e == "data: [DONE]" else json.loads(e[6:]) for e in events]


CHAT = {"model": "llama3.2:3b", "messages": [{"role": "user", "content": "Hi"}], "stream": True}


async def test_chat_sse_order_without_usage(emu: EmulatorServer) -> None:
    ctype, events = await _events(emu.url + "/v1/chat/completions", CHAT)
    assert ctype == "text/event-stream"
    assert len(events) == 7 and events[-1] == "[DONE]"
    content, finish = events[:5], events[5]
    assert content[0]["choices"][0]["delta"]["role"] == "assistant"
    for event in content:
        assert event["object"] == "chat.completion.chunk" and "usage" not in event
        assert (
            event["system_fingerprint"] == "fp_ollama"
            and event["choices"][0]["finish_reason"] is None
        )
    assert finish["choices"] == [{"index": 0, "delta": {}, "finish_reason": "stop"}]


async def test_chat_sse_with_include_usage(emu: EmulatorServer) -> None:
    body = CHAT | {"stream_options": {"include_usage": True}, "max_tokens": 3}
    _, events = await _events(emu.url + "/v1/chat/completions", body)
    assert len(events) == 3 + 3
    assert events[3]["choices"][0]["finish_reason"] == "length"
    usage_chunk = events[4]
    assert usage_chunk["choices"] == []
    usage = usage_chunk["usage"]
    assert usage["completion_tokens"] == 3
    assert usage["total_tokens"] == usage["prompt_tokens"] + 3


async def test_completions_with_include_usage_zero_fills_every_chunk(emu: EmulatorServer) -> None:
    body = {
        "model": "llama3.2:3b",
        "prompt": "Hi",
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    _, events = await _events(emu.url + "/v1/completions", body)
    chunks, last = events[:-2], events[-2]
    zero = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    assert all(c["usage"] == zero for c in chunks) and len(chunks) == 6
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert last["choices"] == [] and last["usage"]["completion_tokens"] == 5


async def test_stream_defaults_to_false_on_v1(emu: EmulatorServer) -> None:
    async with aiohttp.ClientSession() as session:
        body = {k: v for k, v in CHAT.items() if k != "stream"}
        async with session.post(emu.url + "/v1/chat/completions", json=body) as resp:
            assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
            obj = await resp.json()
    assert obj["object"] == "chat.completion" and obj["usage"]["completion_tokens"] == 5


@pytest.mark.parametrize(
    ("body", "status", "kind"),
    [
        (
            {"model": "ghost", "messages": [{"role": "user", "content": "x"}]},
            404,
            "not_found_error",
        ),
        ({"model": "llama3.2:3b", "messages": []}, 400, "invalid_request_error"),
        (None, 400, "invalid_request_error"),
    ],
)
async def test_openai_error_shape(emu: EmulatorServer, body: Any, status: int, kind: str) -> None:
    async with aiohttp.ClientSession() as session:
        data = b"" if body is None else json.dumps(body).encode()
        async with session.post(emu.url + "/v1/chat/completions", data=data) as resp:
            assert resp.status == status
            error = (await resp.json())["error"]
    assert error["type"] == kind and error["param"] is None and error["code"] is None


def _openai_calls(url: str) -> dict[str, Any]:
    client = openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
    messages: Any = [{"role": "user", "content": "Hi"}]
    out: dict[str, Any] = {}
    with client:
        whole = client.chat.completions.create(model="llama3.2:3b", messages=messages)
        out["chat"] = whole.choices[0].message.content
        out["usage"] = whole.usage.total_tokens if whole.usage else None
        stream = client.chat.completions.create(
            model="llama3.2:3b",
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
        out["streamed"] = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        out["stream_usage"] = chunks[-1].usage.completion_tokens if chunks[-1].usage else None
        out["plain_stream"] = len(
            list(
                client.chat.completions.create(model="llama3.2:3b", messages=messages, stream=True)
            )
        )
        out["completion"] = (
            client.completions.create(model="llama3.2:3b", prompt="Hi").choices[0].text
        )
        out["completion_stream"] = [
            c.choices[0].text
            for c in client.completions.create(model="llama3.2:3b", prompt="Hi", stream=True)
            if c.choices
        ]
        emb = client.embeddings.create(model="nomic-embed-text", input=["a", "b c"])
        out["embedding_dims"] = [len(d.embedding) for d in emb.data]
        out["embedding_tokens"] = emb.usage.prompt_tokens
        floats = client.embeddings.create(
            model="nomic-embed-text", input="a", encoding_format="float"
        )
        out["same_vector"] = all(
            abs(a - b) < 1e-6
            for a, b in zip(floats.data[0].embedding, emb.data[0].embedding, strict=True)
        )
        out["models"] = [m.id for m in client.models.list()]
        out["model"] = client.models.retrieve("llama3.1:8b").owned_by
        try:
            client.models.retrieve("ghost")
        except openai.NotFoundError as exc:
            out["missing"] = exc.status_code
    return out


async def test_official_openai_client(emu: EmulatorServer) -> None:
    out = await asyncio.to_thread(_openai_calls, emu.url)
    assert out["chat"] == out["streamed"] and len(out["chat"].split()) == 5
    assert out["usage"] > 5 and out["stream_usage"] == 5
    assert out["plain_stream"] == 6  # five content chunks and the finish chunk
    assert out["completion"] == "".join(out["completion_stream"])
    assert out["embedding_dims"] == [16, 16] and out["embedding_tokens"] == 3
    assert out["same_vector"] is True
    assert "llama3.3:70b" in out["models"] and out["model"] == "library"
    assert out["missing"] == 404
