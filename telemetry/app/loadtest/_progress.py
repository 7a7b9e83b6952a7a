"""Progress on stderr: a bar per run with its running p50/p95 and timeout count on a terminal,
plain lines (every quarter of a run, and its end) when stderr is not a terminal."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TextIO

from telemetry.app.loadtest._matrix import RunSpec
from telemetry.app.loadtest._request import Sample
from telemetry.app.loadtest._runner import RunResult
from telemetry.app.loadtest._stats import percentile

BAR_WIDTH = 24
REDRAW_SECONDS = 0.1


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


class TextProgress:
    """`Progress` for people: `tty` picks the redrawn bar or the plain lines."""

    def __init__(
        self, stream: TextIO, *, tty: bool, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._stream = stream
        self._tty = tty
        self._clock = clock
        self._spec: RunSpec | None = None
        self._started = 0.0
        self._drawn = 0.0
        self._quarter = 0
        self._position = 0

    def start(self, spec: RunSpec) -> None:
        self._spec = spec
        self._started = self._drawn = self._clock()
        self._quarter = 0
        self._position += 1

    def update(self, samples: Sequence[Sample]) -> None:
        fraction = self._fraction(len(samples))
        if self._tty:
            now = self._clock()
            if now - self._drawn >= REDRAW_SECONDS:
                self._drawn = now
                self._stream.write("\r" + self._line(samples, fraction, bar=True) + "\x1b[K")
                self._stream.flush()
        elif int(fraction * 4) > self._quarter and fraction < 1:
            self._quarter = int(fraction * 4)
            self._stream.write(self._line(samples, fraction, bar=False) + "\n")
            self._stream.flush()

    def finish(self, result: RunResult) -> None:
        verdict = result.verdict
        line = self._line(result.samples, 1.0, bar=self._tty)
        detail = f"  {verdict.label.upper()}" + (
            f": {'; '.join(verdict.failures)}" if verdict.failures else ""
        )
        prefix = "\r" if self._tty else ""
        suffix = "\x1b[K" if self._tty else ""
        self._stream.write(prefix + line + detail + suffix + "\n")
        self._stream.flush()

    def _fraction(self, done: int) -> float:
        spec = self._spec
        assert spec is not None
        if spec.requests is not None:
            return min(done / spec.requests, 1.0)
        assert spec.duration_seconds is not None
        return min((self._clock() - self._started) / spec.duration_seconds, 1.0)

    def _line(self, samples: Sequence[Sample], fraction: float, *, bar: bool) -> str:
        spec = self._spec
        assert spec is not None
        latency = sorted(s.elapsed for s in samples if s.outcome == "ok")
        timeouts = sum(s.outcome == "timeout" for s in samples)
        count = f"{len(samples)}/{spec.requests}" if spec.requests else f"{len(samples)} sent"
        shown = ""
        if bar:
            filled = round(fraction * BAR_WIDTH)
            shown = "[" + "#" * filled + "." * (BAR_WIDTH - filled) + "] "
        return (
            f"run {self._position} {spec.name}: {shown}{count} "
            f"p50 {_seconds(percentile(latency, 0.5))} p95 {_seconds(percentile(latency, 0.95))} "
            f"timeouts {timeouts}"
        )
