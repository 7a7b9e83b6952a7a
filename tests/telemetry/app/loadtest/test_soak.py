"""Soaks: durations, the drift rule, a sidecar whose memory keeps growing, and the real
sidecar's process series and Ollama's residency sampled while the matrix repeats."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from telemetry import Config
from telemetry.app._sidecar import Components, Sidecar
from telemetry.app.loadtest._errors import LoadtestError
from telemetry.app.loadtest._runner import Runner
from telemetry.app.loadtest._soak import (
    FILES_STEP,
    MEMORY_STEP,
    Sampler,
    drift,
    parse_duration,
    process_series,
    soak,
)
from telemetry.app.loadtest._verdict import Objectives
from telemetry.emulator import EmulatorServer
from tests.telemetry.app.loadtest.conftest import MIB, SilentProgress, spec
from tests.telemetry.conftest import sidecar_config


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90.0), ("90s", 90.0), ("30m", 1800.0), ("1h30m", 5400.0)]
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10x", "m", "0s", "8d", "1h 30m"])
def test_bad_duration_is_a_usage_error(text: str) -> None:
    with pytest.raises(LoadtestError, match="--soak"):
        parse_duration(text)


def test_growth_that_stops_after_warm_up_is_not_drift() -> None:
    warm_up = [100 * MIB, 130 * MIB, 150 * MIB] + [151 * MIB, 150 * MIB, 152 * MIB] * 3
    assert drift(warm_up, MEMORY_STEP)["growing"] is False
    leaking = [(100 + 10 * i) * MIB for i in range(12)]
    result = drift(leaking, MEMORY_STEP)
    assert result["growing"] is True and result["judged"] is True
    assert (result["first"], result["last"]) == (100 * MIB, 210 * MIB)
    assert drift([10.0, 11.0, 11.0, 12.0, 12.0, 12.0], FILES_STEP)["growing"] is False
    assert drift([1.0, 2.0, 3.0], FILES_STEP)["judged"] is False


def test_process_series_from_an_exposition() -> None:
    text = "# TYPE process_open_fds gauge\nprocess_open_fds 17\nprocess_resident_memory_bytes 5e7\n"
    assert process_series(text) == (5e7, 17.0)
    assert process_series("up 1\n") == (None, None)


async def test_memory_that_keeps_growing_fails_the_soak(
    runner: Runner,
    session: aiohttp.ClientSession,
    emu: EmulatorServer,
    config: Config,
    leaking_metrics: str,
) -> None:
    sampler = Sampler(session, emu.url, leaking_metrics, interval=0.05)
    objectives = Objectives.from_config(config, 0.01)
    results, section = await soak(runner, [spec(config, requests=2)], 0.6, sampler, objectives)
    assert section["verdict"] == "fail" and section["iterations"] >= 2
    assert section["memory_bytes"]["growing"] and section["open_files"]["growing"]
    (combined,) = results
    assert combined.stats.requests == 2 * section["iterations"] and combined.verdict.passed
    assert any("keeps growing" in line for line in section["summary"])


async def test_soak_samples_the_real_sidecar_and_residency(
    session: aiohttp.ClientSession, emu: EmulatorServer, config: Config, tmp_path: Path
) -> None:
    # No injected registry: the sidecar registers its process collector as in production.
    sidecar = Sidecar(sidecar_config(emu.url, "", tmp_path), env={}, components=Components())
    await sidecar.start()
    try:
        proxy = f"http://127.0.0.1:{sidecar.listen_port}"
        metrics = f"http://127.0.0.1:{sidecar.admin_port}/metrics"
        runner = Runner(session, proxy, Objectives.from_config(config, 0.01), SilentProgress())
        sampler = Sampler(session, proxy, metrics, interval=0.1)
        results, section = await soak(
            runner, [spec(config, requests=4)], 0.5, sampler, Objectives.from_config(config, 0.01)
        )
    finally:
        await sidecar.stop()
    assert results[0].verdict.passed and section["problems"] == []
    samples = section["samples"]
    assert len(samples) >= 3
    assert all(s["memory_bytes"] > 10 * MIB and s["open_files"] > 3 for s in samples)
    assert samples[-1]["models_loaded"] == 1 and section["residency"]["models_loaded_max"] == 1


async def test_unreachable_metrics_is_reported_not_fatal(
    runner: Runner, session: aiohttp.ClientSession, emu: EmulatorServer, config: Config
) -> None:
    sampler = Sampler(session, emu.url, "http://127.0.0.1:9/metrics", interval=0.1)
    objectives = Objectives.from_config(config, 0.01)
    _, section = await soak(runner, [spec(config, requests=2)], 0.1, sampler, objectives)
    assert section["verdict"] == "pass" and section["memory_bytes"]["samples"] == 0
    assert section["problems"][0].startswith("--metrics http://127.0.0.1:9/metrics: ")
    assert "memory: not sampled (pass --metrics" in " ".join(section["summary"])


@pytest.fixture
async def recording() -> AsyncIterator[tuple[list[str], list[str], str, str]]:
    """Two servers, each serving /api/ps and /metrics and recording the Authorization header
    of every request: (seen by the first, seen by the second, their base URLs)."""
    seen: tuple[list[str], list[str]] = ([], [])
    runners, urls = [], []
    for log in seen:

        async def answer(request: web.Request, log: list[str] = log) -> web.Response:
            log.append(f"{request.path} {request.headers.get('Authorization', '-')}")
            if request.path == "/metrics":
                return web.Response(text="process_resident_memory_bytes 1e8\n")
            return web.json_response({"models": []})

        app = web.Application()
        app.router.add_get("/api/ps", answer)
        app.router.add_get("/metrics", answer)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        urls.append(f"http://127.0.0.1:{runner.addresses[0][1]}")
    yield seen[0], seen[1], urls[0], urls[1]
    for runner in runners:
        await runner.cleanup()


async def test_the_token_goes_to_the_target_origin_only(
    session: aiohttp.ClientSession, recording: tuple[list[str], list[str], str, str]
) -> None:
    target_seen, other_seen, target, other = recording
    headers = {"Authorization": "Bearer tok"}
    await Sampler(session, target, target + "/metrics", 1.0, headers).sample(0.0)
    assert sorted(target_seen) == ["/api/ps Bearer tok", "/metrics Bearer tok"]
    target_seen.clear()
    await Sampler(session, target, other + "/metrics", 1.0, headers).sample(0.0)
    assert (target_seen, other_seen) == (["/api/ps Bearer tok"], ["/metrics -"])
