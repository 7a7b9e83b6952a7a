"""`--soak DURATION`: repeat the matrix, watch the sidecar's memory and open files (its /metrics
`process_resident_memory_bytes` and `process_open_fds`) and Ollama's residency (`/api/ps`).

Drift: the samples are cut in thirds; a series "keeps growing" when the median of each third
exceeds the one before by more than a step (memory: 5% of the first third's median and at least
4 MiB; open files: 5% and at least 2). Growth that stops after a warm-up, or noise, is not
drift. Fewer than 6 samples cannot show drift and are reported as such, not as a failure.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from telemetry import spawn
from telemetry.app.loadtest._errors import LoadtestError
from telemetry.app.loadtest._matrix import RunSpec
from telemetry.app.loadtest._runner import Runner, RunResult, combine
from telemetry.app.loadtest._target import residency, same_origin
from telemetry.app.loadtest._verdict import Objectives

MIN_SAMPLES = 6
MEMORY_STEP = (0.05, 4 * 1024 * 1024)
FILES_STEP = (0.05, 2.0)
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smh]?)")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """`90`, `90s`, `30m`, `2h`, `1h30m` as seconds."""
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        raise LoadtestError(f"--soak: expected a duration such as 90s, 30m or 2h, got {text!r}")
    seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if not 0 < seconds <= 7 * 86400:
        raise LoadtestError(f"--soak: expected between 0 and 7 days, got {text!r}")
    return seconds


@dataclass(frozen=True, slots=True)
class ProcessSample:
    at: float
    memory_bytes: float | None
    open_files: float | None
    models_loaded: int | None
    vram_bytes: int | None


def process_series(text: str) -> tuple[float | None, float | None]:
    """(resident memory, open fds) from a Prometheus exposition; None where absent."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in ("process_resident_memory_bytes", "process_open_fds"):
                found[sample.name] = sample.value
    return found.get("process_resident_memory_bytes"), found.get("process_open_fds")


class Sampler:
    """Samples every `interval` seconds in the background while the soak runs."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        target: str,
        metrics_url: str | None,
        interval: float,
        headers: dict[str, str] | None = None,
    ) -> None:
        self._session = session
        self._target = target
        self._metrics = metrics_url
        self._headers = headers or {}
        # The token goes to the target's origin only, not to a metrics URL elsewhere.
        self._metrics_headers = (
            self._headers if metrics_url and same_origin(metrics_url, target) else {}
        )
        self._interval = interval
        self.samples: list[ProcessSample] = []
        self.problems: set[str] = set()

    async def sample(self, started: float) -> None:
        memory = files = None
        loaded = vram = None
        if self._metrics is not None:
            try:
                timeout = aiohttp.ClientTimeout(total=5)
                async with self._session.get(
                    self._metrics, headers=self._metrics_headers, timeout=timeout
                ) as response:
                    response.raise_for_status()
                    memory, files = process_series(await response.text())
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                self.problems.add(f"--metrics {self._metrics}: {exc or type(exc).__name__}")
        try:
            loaded, vram = await residency(self._session, self._target, self._headers)
        except (aiohttp.ClientError, TimeoutError, ValueError, AttributeError) as exc:
            self.problems.add(f"/api/ps: {exc or type(exc).__name__}")
        self.samples.append(ProcessSample(time.monotonic() - started, memory, files, loaded, vram))

    async def run(self, started: float) -> None:
        while True:
            await self.sample(started)
            await asyncio.sleep(self._interval)


def drift(values: Sequence[float], step: tuple[float, float]) -> dict[str, Any]:
    """First, last and peak of a series and whether it keeps growing (see the module doc)."""
    if not values:
        return {"samples": 0, "growing": False}
    out: dict[str, Any] = {
        "samples": len(values),
        "first": values[0],
        "last": values[-1],
        "max": max(values),
        "growing": False,
    }
    if len(values) < MIN_SAMPLES:
        out["judged"] = False
        return out
    third = len(values) // 3
    medians = [
        statistics.median(values[:third]),
        statistics.median(values[third : 2 * third]),
        statistics.median(values[2 * third :]),
    ]
    threshold = max(step[0] * medians[0], step[1])
    out["judged"] = True
    out["third_medians"] = medians
    out["growing"] = all(b - a > threshold for a, b in itertools.pairwise(medians))
    return out


async def soak(
    runner: Runner,
    specs: Sequence[RunSpec],
    duration: float,
    sampler: Sampler,
    objectives: Objectives,
) -> tuple[list[RunResult], dict[str, Any]]:
    """Repeat the matrix until `duration` has passed (the run under way finishes)."""
    started = time.monotonic()
    repeats: list[list[RunResult]] = [[] for _ in specs]
    task = spawn(sampler.run(started), name="loadtest-soak-sampler")
    iterations = 0
    try:
        while iterations == 0 or time.monotonic() - started < duration:
            iterations += 1
            for i, spec in enumerate(specs):
                if iterations > 1 and time.monotonic() - started >= duration:
                    break
                repeats[i].append(await runner.run(spec))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    await sampler.sample(started)
    results = [combine(r, objectives) for r in repeats if r]
    return results, section(sampler, iterations, time.monotonic() - started)


def section(sampler: Sampler, iterations: int, seconds: float) -> dict[str, Any]:
    samples = sampler.samples
    memory = drift([s.memory_bytes for s in samples if s.memory_bytes is not None], MEMORY_STEP)
    files = drift([s.open_files for s in samples if s.open_files is not None], FILES_STEP)
    loaded = [s.models_loaded for s in samples if s.models_loaded is not None]
    growing = [name for name, d in (("memory", memory), ("open files", files)) if d["growing"]]
    summary = [f"{iterations} passes over the matrix in {seconds:.0f}s, {len(samples)} samples"]
    for name, d, unit in (("memory", memory, 1024 * 1024), ("open files", files, 1)):
        if not d["samples"]:
            summary.append(f"{name}: not sampled (pass --metrics with the sidecar's /metrics URL)")
            continue
        shown = "MiB" if unit > 1 else ""
        trend = "keeps growing" if d["growing"] else "no drift"
        if not d.get("judged", True):
            trend = f"too few samples to judge drift (< {MIN_SAMPLES})"
        summary.append(
            f"{name}: {d['first'] / unit:.1f}{shown} -> {d['last'] / unit:.1f}{shown} "
            f"(max {d['max'] / unit:.1f}{shown}): {trend}"
        )
    if loaded:
        summary.append(f"models resident (/api/ps): {min(loaded)}-{max(loaded)}")
    summary += sorted(sampler.problems)
    return {
        "verdict": "fail" if growing else "pass",
        "iterations": iterations,
        "seconds": round(seconds, 1),
        "memory_bytes": memory,
        "open_files": files,
        "residency": {
            "models_loaded_min": min(loaded) if loaded else None,
            "models_loaded_max": max(loaded) if loaded else None,
        },
        "samples": [
            {
                "at": round(s.at, 2),
                "memory_bytes": s.memory_bytes,
                "open_files": s.open_files,
                "models_loaded": s.models_loaded,
                "vram_bytes": s.vram_bytes,
            }
            for s in samples
        ],
        "problems": sorted(sampler.problems),
        "summary": summary,
    }
