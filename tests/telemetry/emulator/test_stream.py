"""Every fault, selected by header or globally, seen from a real HTTP client."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from telemetry.emulator import FAULTS, EmulatorConfig, EmulatorServer

GEN = {"model": "llama3.2:3b", "prompt": "Hi"}
CHAT_V1 = {"model": "llama3.2:3b", "messages": [{"role": "user", "content": "x"}], "stream": True}
BUSY = "server busy, please try again.  maximum pending requests exceeded"


@pytest.fixture
async def emu() -> AsyncIterator[EmulatorServer]:
    config = EmulatorConfig(ttft_seconds=0.0, tokens_per_second=0, output_tokens=6)
    async with EmulatorServer(config) as server:
        yield server


async def _call(
    url: str, body: Any, fault: str | None = None, after: int | None = None
) -> tuple[int, str, bytes]:
    headers = {}
    if fault is not None:
        headers["X-Emulator-Fault"] = fault
    if after is not None:
        headers["X-Emulator-Fault-After"] = str(after)
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=body, headers=headers) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), await resp.read()


async def _wait_for(predicate: Any, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


def test_fault_names() -> None:
    assert FAULTS == (
        "error_before",
        "error_midstream",
        "stall_before",
        "stall_midstream",
        "busy",
        "slow_load",
        "garbage",
        "disconnect",
    )


async def test_error_before_and_busy(emu: EmulatorServer) -> None:
    status, ctype, raw = await _call(emu.url + "/api/generate", GEN, "error_before")
    assert (status, ctype) == (500, "application/json; charset=utf-8")
    assert "error_before" in json.loads(raw)["error"]
    status, _, raw = await _call(
        emu.url + "/api/chat",
        {"model": "llama3.2:3b", "messages": [{"role": "user", "content": "x"}]},
        "busy",
    )
    assert status == 503 and raw == json.dumps({"error": BUSY}, separators=(",", ":")).encode()
    status, _, raw = await _call(emu.url + "/v1/chat/completions", CHAT_V1, "busy")
    assert status == 503 and json.loads(raw)["error"]["message"] == BUSY
    status, _, raw = await _call(
        emu.url + "/api/embed", {"model": "nomic-embed-text", "input": "x"}, "error_before"
    )
    assert status == 500


async def test_error_midstream_native(emu: EmulatorServer) -> None:
    status, ctype, raw = await _call(emu.url + "/api/generate", GEN, "error_midstream", after=2)
    lines = [json.loads(line) for line in raw.splitlines()]
    assert (status, ctype) == (200, "application/x-ndjson")
    assert len(lines) == 3 and lines[-1] == {"error": "emulated fault: error_midstream"}
    assert not any(line.get("done") for line in lines)


async def test_error_midstream_openai(emu: EmulatorServer) -> None:
    status, _, raw = await _call(emu.url + "/v1/chat/completions", CHAT_V1, "error_midstream")
    events = [e for e in raw.decode().split("\n\n") if e]
    assert status == 200 and len(events) == 3
    assert json.loads(events[-1][6:])["error"]["type"] == "api_error"
    assert "[DONE]" not in raw.decode()


async def test_midstream_fault_on_non_streaming_request(emu: EmulatorServer) -> None:
    status, _, raw = await _call(
        emu.url + "/api/generate", GEN | {"stream": False}, "error_midstream"
    )
    assert status == 500 and "error" in json.loads(raw)
    status, _, raw = await _call(emu.url + "/api/generate", GEN | {"stream": False}, "garbage")
    assert status == 200
    with pytest.raises(ValueError):
        json.loads(raw)


async def test_garbage(emu: EmulatorServer) -> None:
    status, _, raw = await _call(emu.url + "/api/generate", GEN, "garbage", after=1)
    first, second = raw.splitlines()
    assert status == 200 and json.loads(first)["done"] is False
    with pytest.raises(ValueError):
        json.loads(second)


async def test_disconnect_breaks_the_stream(emu: EmulatorServer) -> None:
    with pytest.raises(aiohttp.ClientError):
        await _call(emu.url + "/api/generate", GEN, "disconnect")
    with pytest.raises(aiohttp.ClientError):
        await _call(emu.url + "/api/generate", GEN | {"stream": False}, "disconnect")
    await _wait_for(lambda: emu.stats.active == 0)
    assert emu.stats.cancelled == 0 and emu.stats.completed == 2


async def test_stall_before_holds_headers_then_answers(emu: EmulatorServer) -> None:
    emu.config.stall_seconds = 0.3
    start = time.monotonic()
    status, _, raw = await _call(emu.url + "/api/generate", GEN, "stall_before")
    assert time.monotonic() - start >= 0.3
    assert status == 200 and json.loads(raw.splitlines()[-1])["done"] is True


async def test_stall_before_until_client_leaves(emu: EmulatorServer) -> None:
    timeout = aiohttp.ClientTimeout(total=0.3)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        with pytest.raises(asyncio.TimeoutError):
            await session.post(
                emu.url + "/api/generate", json=GEN, headers={"X-Emulator-Fault": "stall_before"}
            )
    await _wait_for(lambda: emu.stats.cancelled == 1)
    assert emu.stats.active == 0


async def test_stall_midstream_sends_n_chunks_then_nothing(emu: EmulatorServer) -> None:
    async with aiohttp.ClientSession() as session:
        headers = {"X-Emulator-Fault": "stall_midstream", "X-Emulator-Fault-After": "3"}
        async with session.post(emu.url + "/api/generate", json=GEN, headers=headers) as resp:
            lines = [await resp.content.readline() for _ in range(3)]
            assert all(json.loads(line)["done"] is False for line in lines)
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(resp.content.readline(), 0.3)
    await _wait_for(lambda: emu.stats.cancelled == 1)


async def test_slow_load_is_reported_in_load_duration(emu: EmulatorServer) -> None:
    emu.config.load_seconds = 0.2
    await _call(emu.url + "/api/generate", GEN | {"stream": False})  # loads the model
    start = time.monotonic()
    _, _, raw = await _call(emu.url + "/api/generate", GEN | {"stream": False})
    assert json.loads(raw)["load_duration"] < 100_000_000 and time.monotonic() - start < 0.2
    _, _, raw = await _call(emu.url + "/api/generate", GEN | {"stream": False}, "slow_load")
    assert json.loads(raw)["load_duration"] >= 200_000_000


async def test_global_fault_respects_model_globs(emu: EmulatorServer) -> None:
    emu.config.fault = "busy"
    emu.config.fault_models = ("llama3.3:*",)
    assert (await _call(emu.url + "/api/generate", GEN))[0] == 200
    big = GEN | {"model": "llama3.3:70b"}
    assert (await _call(emu.url + "/api/generate", big))[0] == 503
    assert (await _call(emu.url + "/api/generate", big, "none"))[0] == 200
    assert (await _call(emu.url + "/api/generate", big, "error_before"))[0] == 500


async def test_global_fault_hits_its_share_of_requests(emu: EmulatorServer) -> None:
    emu.config.fault = "busy"
    emu.config.fault_share = 0.25
    emu.state.rng.seed(7)
    statuses = [(await _call(emu.url + "/api/generate", GEN))[0] for _ in range(200)]
    # 3 standard deviations of a binomial(200, 0.25) count: 50 +- 18.
    assert 32 <= statuses.count(503) <= 68
    assert set(statuses) == {200, 503}
    emu.config.fault_share = 0.0
    assert (await _call(emu.url + "/api/generate", GEN))[0] == 200
    assert (await _call(emu.url + "/api/generate", GEN, "busy"))[0] == 503  # a header always hits


async def test_concurrency_slowdown_stretches_latency_with_load(emu: EmulatorServer) -> None:
    emu.config.ttft_seconds = 0.1
    emu.config.concurrency_slowdown = 1.0

    async def ttft() -> float:
        _, _, raw = await _call(emu.url + "/api/generate", GEN)
        return int(json.loads(raw.splitlines()[-1])["prompt_eval_duration"]) / 1e9

    alone = await ttft()
    together = await asyncio.gather(*(ttft() for _ in range(4)))
    assert 0.1 <= alone < 0.15
    # Arrivals see 0..3 others in flight: 1x, 2x, 3x and 4x the base TTFT.
    assert max(together) >= 0.4 and sorted(together)[0] < 0.15


async def test_global_midstream_fault_uses_fault_after_chunks(emu: EmulatorServer) -> None:
    emu.config.fault = "error_midstream"
    emu.config.fault_after_chunks = 4
    _, _, raw = await _call(
        emu.url + "/api/chat",
        {"model": "llama3.2:3b", "messages": [{"role": "user", "content": "x"}]},
    )
    assert len(raw.splitlines()) == 5


async def test_unknown_fault_header_is_rejected(emu: EmulatorServer) -> None:
    status, _, raw = await _call(emu.url + "/api/generate", GEN, "meltdown")
    assert status == 400 and "unknown emulator fault" in json.loads(raw)["error"]
