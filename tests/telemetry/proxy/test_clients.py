"""The official `ollama` and `openai` clients work through the proxy for every call they offer,
and receive the same bytes as from Ollama directly (timestamps, durations and ids masked)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import ollama
import openai
import pytest

from telemetry.emulator import EmulatorConfig, EmulatorServer
from tests.telemetry.conftest import StartSidecar
from tests.telemetry.proxy.test_proxy import masked


class Recorder(httpx.AsyncBaseTransport):
    """A transport that keeps the raw body bytes of every response the client reads."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.calls: list[tuple[int, bytearray]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        body = bytearray()
        self.calls.append((response.status_code, body))
        upstream = response.stream
        assert isinstance(upstream, httpx.AsyncByteStream)

        class Tee(httpx.AsyncByteStream):
            async def __aiter__(self) -> AsyncIterator[bytes]:
                async for chunk in upstream:
                    body.extend(chunk)
                    yield chunk

            async def aclose(self) -> None:
                await upstream.aclose()

        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=Tee(),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


MESSAGES = [{"role": "user", "content": "Why is the sky blue?"}]


async def ollama_session(host: str, recorder: Recorder) -> list[Any]:
    results: list[Any] = []
    async with ollama.AsyncClient(host=host, transport=recorder) as client:
        results.append(await client.generate(model="llama3.2:3b", prompt="Hi"))
        results.append(
            [p async for p in await client.generate(model="llama3.2:3b", prompt="Hi", stream=True)]
        )
        results.append(await client.chat(model="llama3.1:8b", messages=MESSAGES))
        results.append(
            [
                p
                async for p in await client.chat(
                    model="llama3.1:8b", messages=MESSAGES, stream=True, think=True
                )
            ]
        )
        results.append(await client.embed(model="nomic-embed-text", input=["a", "b"]))
        results.append(await client.embeddings(model="nomic-embed-text", prompt="a"))
        results.append(await client.list())
        results.append(await client.show("llama3.1:8b"))
        results.append(await client.ps())
        results.append([p async for p in await client.pull("llama3.2:3b", stream=True)])
        results.append(await client.pull("tinyllama"))
        results.append([p async for p in await client.push("llama3.2:3b", stream=True)])
        results.append(await client.create(model="mine", from_="llama3.1:8b"))
        results.append(await client.copy("mine", "yours"))
        results.append(await client.delete("mine"))
        with pytest.raises(ollama.ResponseError) as info:
            await client.generate(model="missing:1b", prompt="x")
        results.append((info.value.status_code, info.value.error))
    return results


async def openai_session(base: str, recorder: Recorder) -> list[Any]:
    results: list[Any] = []
    async with (
        httpx.AsyncClient(transport=recorder) as http,
        openai.AsyncOpenAI(
            base_url=base + "/v1", api_key="ollama", http_client=http, max_retries=0
        ) as client,
    ):
        chat = client.chat.completions
        results.append((await chat.create(model="llama3.2:3b", messages=MESSAGES)).usage)
        stream = await chat.create(
            model="llama3.2:3b",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
        results.append([c.usage async for c in stream])
        results.append((await client.completions.create(model="llama3.2:3b", prompt="Hi")).usage)
        stream2 = await client.completions.create(model="llama3.2:3b", prompt="Hi", stream=True)
        results.append(len([c async for c in stream2]))
        results.append(
            len((await client.embeddings.create(model="nomic-embed-text", input=["a", "b c"])).data)
        )
        results.append([m.id async for m in client.models.list()])
        results.append((await client.models.retrieve("llama3.1:8b")).owned_by)
        with pytest.raises(openai.NotFoundError):
            await client.models.retrieve("ghost")
    return results


Session = Callable[[str, Recorder], Awaitable[list[Any]]]


@pytest.mark.parametrize("session", [ollama_session, openai_session], ids=["ollama", "openai"])
async def test_client_through_proxy_matches_direct(
    start_sidecar: StartSidecar, session: Session
) -> None:
    config = EmulatorConfig(ttft_seconds=0, tokens_per_second=0, output_tokens=6)
    async with (
        EmulatorServer(config) as direct_emu,
        EmulatorServer(
            EmulatorConfig(ttft_seconds=0, tokens_per_second=0, output_tokens=6)
        ) as proxied_emu,
    ):
        running = await start_sidecar(proxied_emu.url)
        direct, through = Recorder(), Recorder()
        direct_results = await session(direct_emu.url, direct)
        through_results = await session(running.url, through)
    assert len(through.calls) == len(direct.calls) >= 8
    for (status_a, body_a), (status_b, body_b) in zip(direct.calls, through.calls, strict=True):
        assert status_a == status_b
        assert masked(bytes(body_a)) == masked(bytes(body_b))
    assert len(direct_results) == len(through_results)
    records = await running.sink.wait_for(len(through.calls))
    assert len(records) == len(through.calls)
