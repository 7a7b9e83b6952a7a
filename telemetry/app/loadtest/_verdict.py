"""A run's verdict: `pass` when it meets its tier's SLO, else `fail` naming each missed condition.

Conditions: latency p50 and p95 within the tier's budgets, TTFT p95 within the tier's TTFT
budget (streamed runs; a non-streamed answer has no first token), timeout rate below the SLO
objective (`1 - slo.timeout_objective`, 2% by default) and error rate below the maximum (1% by
default). A run in which nothing completed fails on that alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from telemetry import Config, Tier
from telemetry.app.loadtest._stats import RunStats

DEFAULT_MAX_ERROR_RATE = 0.01


@dataclass(frozen=True, slots=True)
class Objectives:
    max_timeout_rate: float
    max_error_rate: float

    @classmethod
    def from_config(cls, config: Config, max_error_rate: float) -> Objectives:
        return cls(round(1 - config.slo.timeout_objective, 6), max_error_rate)


@dataclass(frozen=True, slots=True)
class Verdict:
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def label(self) -> str:
        return "pass" if self.passed else "fail"


def judge(stats: RunStats, tier: Tier, objectives: Objectives) -> Verdict:
    failures: list[str] = []
    if stats.completed == 0:
        failures.append(f"no request completed ({stats.requests} sent)")
    for label, value, budget in (
        ("p50 latency", stats.p50_seconds, tier.p50_seconds),
        ("p95 latency", stats.p95_seconds, tier.p95_seconds),
        ("TTFT p95", stats.ttft_p95_seconds, tier.ttft_p95_seconds),
    ):
        if value is not None and value > budget:
            failures.append(f"{label} {value:.3f}s > {budget:g}s budget of tier {tier.name}")
    if stats.timeout_rate >= objectives.max_timeout_rate:
        failures.append(
            f"timeout rate {stats.timeout_rate:.1%} >= {objectives.max_timeout_rate:.1%} objective"
        )
    if stats.error_rate >= objectives.max_error_rate:
        failures.append(
            f"error rate {stats.error_rate:.1%} >= {objectives.max_error_rate:.1%} maximum"
        )
    return Verdict(tuple(failures))
