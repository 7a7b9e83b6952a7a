"""Whole runs against the real emulator: measured timings match the configured ones, a known
share of stalled requests shows up as that timeout rate, and the verdict follows."""

from __future__ import annotations

import math

from telemetry import Config
from telemetry.app.loadtest._runner import Runner, combine
from telemetry.app.loadtest._verdict import Objectives
from telemetry.emulator import EmulatorServer
from tests.telemetry.app.loadtest.conftest import spec


async def test_p50_latency_and_ttft_match_the_emulator_timings(
    runner: Runner, emu: EmulatorServer, config: Config
) -> None:
    emu.config.ttft_seconds = 0.1
    emu.config.tokens_per_second = 50.0
    result = await runner.run(spec(config, output_tokens=6, requests=8))
    stats = result.stats
    # 0.1 s to the first token, then 5 more tokens 20 ms apart.
    assert stats.ttft_p50_seconds is not None and abs(stats.ttft_p50_seconds - 0.1) < 0.03
    assert stats.p50_seconds is not None and abs(stats.p50_seconds - 0.2) < 0.04
    # eval_count / eval_duration: the emulator times 6 tokens from the first to the last (0.1 s).
    assert stats.tokens_per_second_p50 is not None and abs(stats.tokens_per_second_p50 - 60) < 8
    assert (stats.requests, stats.completed, stats.timeout_rate) == (8, 8, 0.0)
    assert result.verdict.passed and result.verdict.label == "pass"
    assert emu.stats.completed == 8


async def test_a_share_of_stalled_requests_is_that_timeout_rate(
    runner: Runner, emu: EmulatorServer, config: Config
) -> None:
    emu.config.ttft_seconds = 0.0
    emu.config.tokens_per_second = 0.0
    emu.config.fault = "stall_before"
    emu.config.fault_share = 0.25
    emu.state.rng.seed(12)
    requests = 64
    result = await runner.run(spec(config, requests=requests, concurrency=16))
    stats = result.stats
    sigma = math.sqrt(0.25 * 0.75 / requests)  # binomial standard error of the share
    assert abs(stats.timeout_rate - 0.25) <= 3 * sigma
    assert stats.failures == {"ttft_timeout": stats.timeouts} and stats.errors == 0
    assert not result.verdict.passed
    assert any(f.startswith("timeout rate") for f in result.verdict.failures)
    # Percentiles are over completed requests only: the stalls do not drag them up.
    assert stats.p95_seconds is not None and stats.p95_seconds < 0.1


async def test_duration_run_stops_sending_when_time_is_up(
    runner: Runner, emu: EmulatorServer, config: Config
) -> None:
    result = await runner.run(
        spec(config, requests=None, duration_seconds=0.5, concurrency=2, output_tokens=3)
    )
    # Each request takes about 0.07 s: 2 workers x ~7 requests, and the last ones finish.
    assert 8 <= result.stats.requests <= 20
    assert 0.5 <= result.stats.wall_seconds < 0.7
    assert all(s.started < 0.5 for s in result.samples)


async def test_combined_repeats_run_back_to_back(runner: Runner, config: Config) -> None:
    one = await runner.run(spec(config, requests=3))
    two = await runner.run(spec(config, requests=3))
    both = combine([one, two], Objectives.from_config(config, 0.01))
    assert both.stats.requests == 6
    assert both.stats.wall_seconds == one.stats.wall_seconds + two.stats.wall_seconds
    assert min(s.started for s in both.samples[3:]) >= one.stats.wall_seconds
