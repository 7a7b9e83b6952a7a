"""Sweeps on an emulator whose latency grows with concurrency: the knee, the advice, the rules."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from telemetry import Config
from telemetry.app.loadtest._errors import LoadtestError
from telemetry.app.loadtest._runner import Runner
from telemetry.app.loadtest._sweep import parse_sweep, round_up, sweep
from telemetry.app.loadtest._verdict import Objectives
from telemetry.emulator import EmulatorServer
from tests.telemetry.app.loadtest.conftest import FAST_TIERS, SilentProgress, fast_config, spec

# A request alone takes about 0.09 s; n in flight take about n x 0.09 s (concurrency_slowdown 1).
KNEE_TIERS = FAST_TIERS.replace("p50_seconds = 0.5", "p50_seconds = 0.25").replace(
    "p95_seconds = 1.0", "p95_seconds = 0.35"
)


@pytest.fixture
def knee_runner(
    session: aiohttp.ClientSession, emu: EmulatorServer, tmp_path: Path
) -> tuple[Runner, Config]:
    emu.config.concurrency_slowdown = 1.0
    config = fast_config(tmp_path, KNEE_TIERS)
    return Runner(session, emu.url, Objectives.from_config(config, 0.01), SilentProgress()), config


async def test_sweep_finds_the_knee_and_advises(knee_runner: tuple[Runner, Config]) -> None:
    runner, config = knee_runner
    matrix = [spec(config, requests=8, concurrency=1)]
    results, advice = await sweep(runner, matrix, (1, 2, 4, 8), margin=0.5)
    # 1 and 2 meet p50 0.25 s; 4 (about 0.36 s) does not, so 8 is never tried.
    assert [r.spec.concurrency for r in results] == [1, 2, 4]
    assert [r.verdict.passed for r in results] == [True, True, False]
    assert advice["verdict"] == "pass" and advice["ollama_num_parallel"] == 2
    (model,) = advice["models"]
    assert model["best_concurrency"] == 2 and [lv["verdict"] for lv in model["levels"]] == [
        "pass",
        "pass",
        "fail",
    ]
    (tier,) = advice["tiers"]
    observed = results[1].stats
    assert observed.p99_seconds is not None and observed.ttft_p99_seconds is not None
    assert tier["total_timeout_seconds"] == round_up(observed.p99_seconds * 1.5)
    assert tier["ttft_timeout_seconds"] == round_up(observed.ttft_p99_seconds * 1.5)
    assert tier["current_total_timeout_seconds"] == 2.0
    assert "OLLAMA_NUM_PARALLEL=2  (the highest concurrency every model meets)" in advice["summary"]
    assert any(line.startswith("total_timeout_seconds = ") for line in advice["summary"])


async def test_a_model_failing_at_every_level_gets_no_parallel_advice(
    knee_runner: tuple[Runner, Config], emu: EmulatorServer
) -> None:
    runner, config = knee_runner
    emu.config.fault, emu.config.fault_models = "busy", ("qwen*",)
    matrix = [
        spec(config, requests=4, concurrency=1),
        spec(config, model="qwen2.5:14b", requests=4, concurrency=1),
    ]
    results, advice = await sweep(runner, matrix, (1, 2), margin=0.5)
    assert [(r.spec.model, r.spec.concurrency) for r in results] == [
        ("llama3.1:8b", 1),
        ("llama3.1:8b", 2),
        ("qwen2.5:14b", 1),
    ]
    assert advice["verdict"] == "fail" and advice["ollama_num_parallel"] is None
    assert [m["best_concurrency"] for m in advice["models"]] == [2, None]
    assert advice["summary"][1] == (
        "qwen2.5:14b (tier fast): misses the SLO at every level; at 1: no request completed "
        "(4 sent); error rate 100.0% >= 1.0% maximum (tried 1)"
    )


@pytest.mark.parametrize(
    ("text", "levels"), [("concurrency=4,1,2", (1, 2, 4)), ("concurrency=8", (8,))]
)
def test_parse_sweep(text: str, levels: tuple[int, ...]) -> None:
    assert parse_sweep(text) == levels


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("parallel=1,2", "expected concurrency=N"),
        ("concurrency=1,x", "levels must be integers"),
        ("concurrency=0,2", "between 1 and"),
        ("concurrency", "expected concurrency=N"),
    ],
)
def test_bad_sweep_is_a_usage_error(text: str, message: str) -> None:
    with pytest.raises(LoadtestError, match=message):
        parse_sweep(text)


def test_round_up() -> None:
    assert (round_up(0.31), round_up(9.91), round_up(10.2)) == (0.4, 10.0, 11.0)
