"""The verdict names every condition a run missed: budgets, TTFT, timeout and error rates."""

from __future__ import annotations

import dataclasses

from telemetry import load_config
from telemetry.app.loadtest._stats import RunStats
from telemetry.app.loadtest._verdict import Objectives, judge

CONFIG = load_config(env={})
TIER = CONFIG.tier_named("gpu-8gb")  # p50 4 s, p95 15 s, TTFT p95 2 s
GOOD = RunStats(
    requests=100,
    completed=100,
    timeouts=0,
    errors=0,
    wall_seconds=10.0,
    p50_seconds=3.0,
    p95_seconds=14.0,
    p99_seconds=20.0,
    ttft_p50_seconds=0.5,
    ttft_p95_seconds=1.9,
    ttft_p99_seconds=3.0,
    tokens_per_second_p50=30.0,
    tokens_per_second_mean=30.0,
    throughput_rps=10.0,
    output_tokens_per_second=300.0,
    prompt_tokens_mean=100.0,
    failures={},
)
OBJECTIVES = Objectives.from_config(CONFIG, 0.01)


def test_objectives_come_from_the_config() -> None:
    assert OBJECTIVES.max_timeout_rate == 0.02 and OBJECTIVES.max_error_rate == 0.01


def test_within_every_budget_passes() -> None:
    verdict = judge(GOOD, TIER, OBJECTIVES)
    assert verdict.passed and verdict.label == "pass" and verdict.failures == ()


def test_each_missed_condition_is_named() -> None:
    bad = dataclasses.replace(
        GOOD, p50_seconds=4.5, p95_seconds=16.0, ttft_p95_seconds=2.5, timeouts=2, errors=1
    )
    verdict = judge(bad, TIER, OBJECTIVES)
    assert verdict.label == "fail"
    assert verdict.failures == (
        "p50 latency 4.500s > 4s budget of tier gpu-8gb",
        "p95 latency 16.000s > 15s budget of tier gpu-8gb",
        "TTFT p95 2.500s > 2s budget of tier gpu-8gb",
        "timeout rate 2.0% >= 2.0% objective",
        "error rate 1.0% >= 1.0% maximum",
    )


def test_just_below_the_objective_passes_and_no_ttft_is_not_judged() -> None:
    stats = dataclasses.replace(GOOD, timeouts=1, ttft_p95_seconds=None)
    assert judge(stats, TIER, OBJECTIVES).passed


def test_nothing_completed_fails() -> None:
    stats = dataclasses.replace(
        GOOD, completed=0, timeouts=100, p50_seconds=None, p95_seconds=None, ttft_p95_seconds=None
    )
    assert judge(stats, TIER, OBJECTIVES).failures[0] == "no request completed (100 sent)"
