"""Load-test fixtures: a tier with short budgets and timeouts, the real emulator, a real runner."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from telemetry import Config, load_config
from telemetry.app.loadtest._matrix import RunSpec
from telemetry.app.loadtest._request import Sample
from telemetry.app.loadtest._runner import Runner, RunResult
from telemetry.app.loadtest._verdict import Objectives
from telemetry.emulator import EmulatorConfig, EmulatorServer

# Every model in one tier whose budgets and timeouts fit a test's few hundred milliseconds.
FAST_TIERS = """\
default_tier = "fast"
[tiers.fast]
models = ["*"]
p50_seconds = 0.5
p95_seconds = 1.0
ttft_p95_seconds = 0.3
ttft_timeout_seconds = 0.4
total_timeout_seconds = 2
"""


def fast_config(tmp_path: Path, toml: str = FAST_TIERS) -> Config:
    path = tmp_path / "sidecar.toml"
    path.write_text(toml)
    return load_config(path, env={})


def spec(config: Config, **fields: Any) -> RunSpec:
    values: dict[str, Any] = {
        "name": "test run",
        "model": "llama3.1:8b",
        "api": "generate",
        "prompt_tokens": 32,
        "output_tokens": 5,
        "concurrency": 2,
        "requests": 10,
        "duration_seconds": None,
        "stream": True,
    } | fields
    return RunSpec(tier=config.tier_for(values["model"]), **values)


class SilentProgress:
    def __init__(self) -> None:
        self.finished: list[RunResult] = []

    def start(self, spec: RunSpec) -> None: ...

    def update(self, samples: Sequence[Sample]) -> None: ...

    def finish(self, result: RunResult) -> None:
        self.finished.append(result)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return fast_config(tmp_path)


@pytest.fixture
async def emu() -> AsyncIterator[EmulatorServer]:
    emulated = EmulatorConfig(ttft_seconds=0.05, tokens_per_second=100.0, output_tokens=64)
    async with EmulatorServer(emulated) as server:
        yield server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as client:
        yield client


@pytest.fixture
def runner(session: aiohttp.ClientSession, emu: EmulatorServer, config: Config) -> Runner:
    return Runner(session, emu.url, Objectives.from_config(config, 0.01), SilentProgress())


MIB = 1024 * 1024


@pytest.fixture
async def leaking_metrics() -> AsyncIterator[str]:
    """A /metrics whose memory and open files grow on every scrape."""
    scrapes = 0

    async def metrics(request: web.Request) -> web.Response:
        nonlocal scrapes
        scrapes += 1
        return web.Response(
            text=f"process_resident_memory_bytes {(100 + 20 * scrapes) * MIB}\n"
            f"process_open_fds {10 + 3 * scrapes}\n"
        )

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}/metrics"
    await runner.cleanup()
