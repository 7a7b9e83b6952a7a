"""`--sweep concurrency=1,2,4,8`: per model, the highest concurrency that still meets the SLO,
and advice: an `OLLAMA_NUM_PARALLEL` value and tier timeouts that cover the observed p99.

Levels run in ascending order; a model stops at its first failing level (past the knee, more
load only gets slower). A level passes when every run of the model passes at it. The advised
timeouts are the observed p99 (latency for the total timeout, TTFT for the first-token timeout)
at each model's highest passing level, times `1 + margin`, rounded up (0.1 s under 10 s, whole
seconds above), the largest over the tier's models.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from telemetry import Tier
from telemetry.app.loadtest._errors import LoadtestError
from telemetry.app.loadtest._matrix import MAX_CONCURRENCY, RunSpec
from telemetry.app.loadtest._runner import Runner, RunResult

DEFAULT_MARGIN = 0.5
MAX_LEVEL = MAX_CONCURRENCY


def parse_sweep(text: str) -> tuple[int, ...]:
    name, sep, values = text.partition("=")
    if name.strip() != "concurrency" or not sep:
        raise LoadtestError(f"--sweep: expected concurrency=N,N,... got {text!r}")
    try:
        levels = sorted({int(v) for v in values.split(",")})
    except ValueError:
        raise LoadtestError(f"--sweep: levels must be integers, got {values!r}") from None
    if not levels or levels[0] < 1 or levels[-1] > MAX_LEVEL:
        raise LoadtestError(f"--sweep: levels must be between 1 and {MAX_LEVEL}, got {values!r}")
    return tuple(levels)


async def sweep(
    runner: Runner, specs: Sequence[RunSpec], levels: Sequence[int], margin: float
) -> tuple[list[RunResult], dict[str, Any]]:
    results: list[RunResult] = []
    best: dict[str, tuple[int, list[RunResult]] | None] = {}
    tried: dict[str, list[tuple[int, list[RunResult]]]] = {}
    for model in dict.fromkeys(spec.model for spec in specs):
        best[model], tried[model] = None, []
        for level in levels:
            level_results = [
                await runner.run(spec.at_concurrency(level))
                for spec in specs
                if spec.model == model
            ]
            results += level_results
            tried[model].append((level, level_results))
            if not all(r.verdict.passed for r in level_results):
                break
            best[model] = (level, level_results)
    return results, advice(best, tried, margin)


@dataclass(slots=True)
class _Observed:
    """The worst p99s of a tier's models at their advised levels."""

    tier: Tier
    p99: float = 0.0
    ttft_p99: float | None = None


def round_up(seconds: float) -> float:
    return math.ceil(seconds * 10) / 10 if seconds < 10 else float(math.ceil(seconds))


def advice(
    best: dict[str, tuple[int, list[RunResult]] | None],
    tried: dict[str, list[tuple[int, list[RunResult]]]],
    margin: float,
) -> dict[str, Any]:
    models: list[dict[str, Any]] = []
    summary: list[str] = []
    covered: dict[str, _Observed] = {}
    for model, levels in tried.items():
        tier = levels[0][1][0].spec.tier
        chosen = best[model]
        entry: dict[str, Any] = {
            "model": model,
            "tier": tier.name,
            "best_concurrency": chosen[0] if chosen else None,
            "levels": [
                {
                    "concurrency": level,
                    "verdict": "pass" if all(r.verdict.passed for r in rs) else "fail",
                    "p95_seconds": _worst(rs, "p95_seconds"),
                    "p99_seconds": _worst(rs, "p99_seconds"),
                    "ttft_p99_seconds": _worst(rs, "ttft_p99_seconds"),
                }
                for level, rs in levels
            ],
        }
        models.append(entry)
        summary.append(_model_line(model, tier.name, chosen, levels))
        if chosen is None:
            continue
        seen = covered.setdefault(tier.name, _Observed(tier))
        seen.p99 = max(seen.p99, _worst(chosen[1], "p99_seconds") or 0.0)
        ttft = _worst(chosen[1], "ttft_p99_seconds")
        if ttft is not None:
            seen.ttft_p99 = max(seen.ttft_p99 or 0.0, ttft)
    parallel = [m["best_concurrency"] for m in models if m["best_concurrency"] is not None]
    num_parallel = min(parallel) if len(parallel) == len(models) else None
    if num_parallel is not None:
        summary.append(
            f"OLLAMA_NUM_PARALLEL={num_parallel}  (the highest concurrency every model meets)"
        )
    else:
        summary.append("OLLAMA_NUM_PARALLEL: no advice; a model misses the SLO at every level")
    tiers = [_tier_advice(seen, margin, summary) for seen in covered.values()]
    return {
        "margin": margin,
        "verdict": "pass" if num_parallel is not None else "fail",
        "ollama_num_parallel": num_parallel,
        "models": models,
        "tiers": tiers,
        "summary": summary,
    }


def _worst(results: Sequence[RunResult], key: str) -> float | None:
    values = [getattr(r.stats, key) for r in results if getattr(r.stats, key) is not None]
    return max(values) if values else None


def _model_line(
    model: str,
    tier: str,
    chosen: tuple[int, list[RunResult]] | None,
    levels: list[tuple[int, list[RunResult]]],
) -> str:
    tried = ", ".join(str(level) for level, _ in levels)
    line = f"{model} (tier {tier}): " + (
        f"meets the SLO up to concurrency {chosen[0]}"
        if chosen
        else "misses the SLO at every level"
    )
    last_level, last = levels[-1]
    failed = dict.fromkeys(f for r in last for f in r.verdict.failures)
    if failed:
        line += f"; at {last_level}: {'; '.join(failed)}"
    return f"{line} (tried {tried})"


def _tier_advice(seen: _Observed, margin: float, summary: list[str]) -> dict[str, Any]:
    tier = seen.tier
    total = round_up(seen.p99 * (1 + margin))
    ttft = None if seen.ttft_p99 is None else min(round_up(seen.ttft_p99 * (1 + margin)), total)
    summary.append(
        f"[tiers.{tier.name}]  # covers the observed p99 at the advised concurrency + "
        f"{margin:.0%} margin"
    )
    if ttft is not None:
        summary.append(
            f"ttft_timeout_seconds = {ttft:g}   # now {tier.timeouts.ttft:g}; "
            f"observed TTFT p99 {seen.ttft_p99:.3f}s"
        )
    summary.append(
        f"total_timeout_seconds = {total:g}   # now {tier.timeouts.total:g}; "
        f"observed p99 {seen.p99:.3f}s"
    )
    return {
        "tier": tier.name,
        "observed_p99_seconds": round(seen.p99, 4),
        "observed_ttft_p99_seconds": None if seen.ttft_p99 is None else round(seen.ttft_p99, 4),
        "ttft_timeout_seconds": ttft,
        "total_timeout_seconds": total,
        "current_ttft_timeout_seconds": tier.timeouts.ttft,
        "current_total_timeout_seconds": tier.timeouts.total,
    }
