"""Percentiles (numpy's linear method), rates over all requests, latency over completed ones."""

from __future__ import annotations

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

from telemetry.app.loadtest._request import Sample
from telemetry.app.loadtest._stats import percentile, summarize


@given(st.lists(st.floats(0, 1000), min_size=1, max_size=50), st.floats(0, 1))
def test_percentile_matches_numpy_linear(values: list[float], q: float) -> None:
    expected = float(numpy.percentile(values, q * 100))
    assert percentile(sorted(values), q) == pytest.approx(expected, abs=1e-6)


def test_percentile_of_nothing_is_none() -> None:
    assert percentile([], 0.5) is None


def _sample(outcome: str, elapsed: float, kind: str = "") -> Sample:
    ok = outcome == "ok"
    return Sample(
        started=0.0,
        elapsed=elapsed,
        outcome=outcome,  # type: ignore[arg-type]
        kind=kind,
        ttft=elapsed / 2 if ok else None,
        output_tokens=10 if ok else None,
        prompt_tokens=30 if ok else None,
        tokens_per_second=20.0 if ok else None,
    )


def test_rates_are_shares_of_all_requests_and_latency_of_completed_ones() -> None:
    samples = [_sample("ok", t) for t in (1.0, 2.0, 3.0)]
    samples += [_sample("timeout", 30.0, "ttft_timeout"), _sample("error", 0.1, "http_503")]
    stats = summarize(samples, wall_seconds=10.0)
    assert (stats.requests, stats.completed, stats.timeouts, stats.errors) == (5, 3, 1, 1)
    assert (stats.timeout_rate, stats.error_rate) == (0.2, 0.2)
    assert (stats.p50_seconds, stats.ttft_p50_seconds) == (2.0, 1.0)
    assert stats.p99_seconds == pytest.approx(2.98)
    assert stats.throughput_rps == 0.3 and stats.output_tokens_per_second == 3.0
    assert stats.failures == {"http_503": 1, "ttft_timeout": 1}
    assert stats.prompt_tokens_mean == 30 and stats.tokens_per_second_mean == 20


def test_nothing_completed() -> None:
    stats = summarize([_sample("timeout", 1.0, "total_timeout")], 1.0)
    assert stats.p50_seconds is None and stats.tokens_per_second_p50 is None
    assert stats.timeout_rate == 1.0 and summarize([], 0.0).timeout_rate == 0.0
