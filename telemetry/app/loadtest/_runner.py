"""Runs of the matrix: `concurrency` workers in a closed loop, one shared pooled HTTP client.

Each worker sends its next request as soon as its previous one ended, until the run has sent
`requests` requests or `duration_seconds` have passed (requests in flight then finish).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import aiohttp

from telemetry.app.loadtest._matrix import RunSpec
from telemetry.app.loadtest._request import Sample, send
from telemetry.app.loadtest._stats import RunStats, summarize
from telemetry.app.loadtest._verdict import Objectives, Verdict, judge


@dataclass(frozen=True, slots=True)
class RunResult:
    spec: RunSpec
    started_at: str
    samples: tuple[Sample, ...]
    stats: RunStats
    verdict: Verdict


class Progress(Protocol):
    def start(self, spec: RunSpec) -> None: ...

    def update(self, samples: Sequence[Sample]) -> None: ...

    def finish(self, result: RunResult) -> None: ...


class Runner:
    """Sends every run through one `aiohttp.ClientSession` (keep-alive pool, no per-request
    client); prompt numbers keep counting across runs so no two prompts are alike."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        target: str,
        objectives: Objectives,
        progress: Progress,
        headers: dict[str, str] | None = None,
    ) -> None:
        self._session = session
        self._target = target.rstrip("/")
        self._objectives = objectives
        self._progress = progress
        self._headers = headers
        self._index = itertools.count()

    async def run(self, spec: RunSpec) -> RunResult:
        self._progress.start(spec)
        samples: list[Sample] = []
        started_at = datetime.now(UTC).isoformat(timespec="seconds")
        started = time.perf_counter()
        end = started + spec.duration_seconds if spec.duration_seconds is not None else None
        sent = itertools.count()

        async def worker() -> None:
            while True:
                if spec.requests is not None and next(sent) >= spec.requests:
                    return
                if end is not None and time.perf_counter() >= end:
                    return
                index = next(self._index)
                sample = await send(
                    self._session, self._target, spec, index, started, self._headers
                )
                samples.append(sample)
                self._progress.update(samples)

        async with asyncio.TaskGroup() as group:
            for _ in range(spec.concurrency):
                group.create_task(worker())
        result = judged(spec, started_at, samples, time.perf_counter() - started, self._objectives)
        self._progress.finish(result)
        return result


def judged(
    spec: RunSpec,
    started_at: str,
    samples: Sequence[Sample],
    wall_seconds: float,
    objectives: Objectives,
) -> RunResult:
    stats = summarize(samples, wall_seconds)
    return RunResult(spec, started_at, tuple(samples), stats, judge(stats, spec.tier, objectives))


def combine(results: Sequence[RunResult], objectives: Objectives) -> RunResult:
    """Repeats of one run (a soak) as one result; sample times run on from one repeat to the
    next, as if the repeats had been back to back."""
    samples: list[Sample] = []
    offset = 0.0
    for result in results:
        samples.extend(dataclasses.replace(s, started=s.started + offset) for s in result.samples)
        offset += result.stats.wall_seconds
    first = results[0]
    return judged(first.spec, first.started_at, samples, offset, objectives)
