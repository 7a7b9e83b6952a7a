"""Per-run numbers: latency and TTFT percentiles, tokens/s, throughput, timeout and error rates.

Latency and TTFT percentiles are over completed requests only; timeouts count in
`timeout_rate` only, other failures in `error_rate`, both shares of all requests sent.
Percentiles interpolate linearly between the two nearest ranks (numpy's default).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from telemetry.app.loadtest._request import Sample


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """The `q` quantile (0-1) of already sorted values; None for no values."""
    if not ordered:
        return None
    rank = (len(ordered) - 1) * q
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True, slots=True)
class RunStats:
    requests: int
    completed: int
    timeouts: int
    errors: int
    wall_seconds: float
    p50_seconds: float | None
    p95_seconds: float | None
    p99_seconds: float | None
    ttft_p50_seconds: float | None
    ttft_p95_seconds: float | None
    ttft_p99_seconds: float | None
    tokens_per_second_p50: float | None
    tokens_per_second_mean: float | None
    throughput_rps: float
    output_tokens_per_second: float
    prompt_tokens_mean: float | None
    failures: dict[str, int]

    @property
    def timeout_rate(self) -> float:
        return self.timeouts / self.requests if self.requests else 0.0

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


def summarize(samples: Sequence[Sample], wall_seconds: float) -> RunStats:
    ok = [s for s in samples if s.outcome == "ok"]
    latency = sorted(s.elapsed for s in ok)
    ttft = sorted(s.ttft for s in ok if s.ttft is not None)
    speed = sorted(s.tokens_per_second for s in ok if s.tokens_per_second is not None)
    prompts = [s.prompt_tokens for s in ok if s.prompt_tokens is not None]
    output = sum(s.output_tokens or 0 for s in ok)
    wall = max(wall_seconds, 1e-9)
    return RunStats(
        requests=len(samples),
        completed=len(ok),
        timeouts=sum(s.outcome == "timeout" for s in samples),
        errors=sum(s.outcome == "error" for s in samples),
        wall_seconds=wall_seconds,
        p50_seconds=percentile(latency, 0.5),
        p95_seconds=percentile(latency, 0.95),
        p99_seconds=percentile(latency, 0.99),
        ttft_p50_seconds=percentile(ttft, 0.5),
        ttft_p95_seconds=percentile(ttft, 0.95),
        ttft_p99_seconds=percentile(ttft, 0.99),
        tokens_per_second_p50=percentile(speed, 0.5),
        tokens_per_second_mean=sum(speed) / len(speed) if speed else None,
        throughput_rps=len(ok) / wall,
        output_tokens_per_second=output / wall,
        prompt_tokens_mean=sum(prompts) / len(prompts) if prompts else None,
        failures=dict(sorted(Counter(s.kind for s in samples if s.outcome != "ok").items())),
    )
