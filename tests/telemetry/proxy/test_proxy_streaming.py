"""Streams are forwarded chunk by chunk as they are produced, never buffered."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from telemetry.emulator import EmulatorConfig, EmulatorServer
from tests.telemetry.conftest import Running, StartSidecar

PACED = EmulatorConfig(ttft_seconds=0.05, tokens_per_second=20, output_tokens=10)


@pytest.fixture
async def paced(start_sidecar: StartSidecar) -> AsyncIterator[Running]:
    async with EmulatorServer(PACED) as emu:
        yield await start_sidecar(emu.url)


async def arrivals(url: str, path: str, payload: object) -> list[tuple[float, bytes]]:
    seen: list[tuple[float, bytes]] = []
    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        async with session.post(url + path, json=payload) as response:
            async for chunk in response.content.iter_any():
                seen.append((time.perf_counter() - started, chunk))
    return seen


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("/api/generate", {"model": "llama3.1:8b", "prompt": "hi"}),
        ("/api/chat", {"model": "llama3.1:8b", "messages": [{"role": "user", "content": "x"}]}),
        (
            "/v1/chat/completions",
            {
                "model": "llama3.1:8b",
                "stream": True,
                "messages": [{"role": "user", "content": "x"}],
            },
        ),
    ],
)
async def test_first_token_and_spread_match_the_direct_path(
    paced: Running, path: str, payload: object
) -> None:
    direct = await arrivals(paced.upstream, path, payload)
    through = await arrivals(paced.url, path, payload)
    # First bytes arrive within a few ms of the direct path (TTFT is 50 ms).
    assert through[0][0] - direct[0][0] < 0.015
    assert 0.04 < through[0][0] < 0.2
    # Chunks arrive spread over ~0.5 s (10 tokens at 20/s), not in one burst at the end.
    assert len(through) >= 8
    assert through[-1][0] - through[0][0] > 0.3
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(through)]
    assert sum(1 for gap in gaps if gap > 0.02) >= 6
    assert b"".join(c for _, c in through).count(b"\n") == b"".join(c for _, c in direct).count(
        b"\n"
    )


async def test_ttft_is_measured_on_the_proxy_clock(paced: Running) -> None:
    await arrivals(
        paced.url,
        "/api/chat",
        {"model": "llama3.1:8b", "messages": [{"role": "user", "content": "x"}]},
    )
    record = (await paced.sink.wait_for(1))[0]
    assert record.ttft_ns is not None and 0.045 < record.ttft_ns / 1e9 < 0.2
    assert record.duration_ns / 1e9 > 0.45


async def test_memory_stays_bounded_for_a_long_stream(start_sidecar: StartSidecar) -> None:
    async with EmulatorServer(
        EmulatorConfig(ttft_seconds=0, tokens_per_second=0, output_tokens=20000)
    ) as emu:
        running = await start_sidecar(emu.url)
        total = 0
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                running.url + "/api/generate", json={"model": "llama3.1:8b", "prompt": "x"}
            ) as response,
        ):
            async for chunk in response.content.iter_any():
                total += len(chunk)
        record = (await running.sink.wait_for(1))[0]
        assert record.output_tokens == 20000 and record.response_bytes == total
        await asyncio.sleep(0)
