"""A model evicted and reloaded between requests, then stopped, through the real proxy and
emulator: the residency events, their counter and the resident gauge follow."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from exporters.testing import FakeGpuSource, fake_reading
from telemetry.emulator import EmulatorConfig, EmulatorServer
from tests.telemetry.app._gpu_stack import gpu_sidecar

MODEL = "llama3.1:8b"


async def wait_for(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        while not check():
            await asyncio.sleep(0.02)


async def test_evicted_and_reloaded_model_makes_events(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with (
        EmulatorServer(EmulatorConfig(ttft_seconds=0.01, tokens_per_second=0)) as emu,
        gpu_sidecar(
            emu.url,
            tmp_path,
            [FakeGpuSource([fake_reading(0)])],
            gpu={"ollama_poll_interval_seconds": 0.05},
        ) as (sidecar, registry),
    ):

        def count(event: str) -> float:
            value = registry.get_sample_value(
                "ollama_sidecar_model_residency_events_total",
                {"event": event, "gen_ai_request_model": MODEL},
            )
            return value or 0.0

        def resident() -> float | None:
            return registry.get_sample_value(
                "ollama_sidecar_model_resident", {"gen_ai_request_model": MODEL}
            )

        url = ""

        async def generate(session: aiohttp.ClientSession) -> None:
            body = {"model": MODEL, "prompt": "x", "stream": False}
            async with session.post(url + "/api/generate", json=body) as r:
                assert r.status == 200

        url = f"http://127.0.0.1:{sidecar.listen_port}"
        with caplog.at_level(logging.INFO, "ollama_sidecar.gpu.residency"):
            async with aiohttp.ClientSession() as session:
                await generate(session)
                await wait_for(lambda: count("load") == 1 and resident() == 1)
                emu.evict(MODEL)
                await wait_for(lambda: count("evict") == 1 and resident() == 0)
                await generate(session)
                await wait_for(lambda: count("load") == 2 and resident() == 1)
                # `ollama stop`: no prompt, keep_alive 0 → done_reason "unload".
                unload = {"model": MODEL, "keep_alive": 0}
                async with session.post(url + "/api/generate", json=unload) as r:
                    assert (await r.json())["done_reason"] == "unload"
                await wait_for(lambda: count("unload") == 1 and resident() == 0)
                await asyncio.sleep(0.2)  # polls that see it gone add no eviction
                async with session.get(f"http://127.0.0.1:{sidecar.admin_port}/metrics") as r:
                    text = await r.text()
    assert count("evict") == 1
    events = [r.fields["event"] for r in caplog.records if r.getMessage() == "model residency"]  # type: ignore[attr-defined]
    assert events == ["load", "evict", "load", "unload"]
    assert 'ollama_sidecar_model_residency_events_total{event="evict"' in text
