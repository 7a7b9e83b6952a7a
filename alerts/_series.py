"""Synthetic input series for promtool unit tests, one value per minute, in three phases.

Every scenario runs healthy → broken → healthy again, so each alert is checked silent, firing and
resolved. A series is described per phase; builders turn that into promtool's value notation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Phases:
    """Lengths in minutes of the healthy, broken and recovered phases, sampled every `step`."""

    healthy: int
    broken: int
    recovered: int
    step: int = 1

    def __post_init__(self) -> None:
        if any(length % self.step for length in (self.healthy, self.broken, self.recovered)):
            raise ValueError("phase lengths must be multiples of the step")

    @property
    def total(self) -> int:
        return self.healthy + self.broken + self.recovered

    def lengths(self) -> tuple[int, int, int]:
        """Samples per phase."""
        return (self.healthy // self.step, self.broken // self.step, self.recovered // self.step)

    def eval_times(self) -> tuple[str, str, str]:
        """When to look: the last sample of each phase."""
        ends = (self.healthy, self.healthy + self.broken, self.total)
        return (f"{ends[0] - self.step}m", f"{ends[1] - self.step}m", f"{ends[2] - self.step}m")


def _number(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e15 else repr(value)


def counter(phases: Phases, per_minute: Sequence[float]) -> str:
    """A counter growing by `per_minute[i]` each minute of phase i."""
    parts = []
    value = 0.0
    for length, step in zip(phases.lengths(), per_minute, strict=True):
        increment = step * phases.step
        parts.append(f"{_number(value)}+{_number(increment)}x{length - 1}")
        value += increment * length
    return " ".join(parts)


def gauge(phases: Phases, levels: Sequence[float | None]) -> str:
    """A gauge holding `levels[i]` during phase i; `None` leaves the series unscraped."""
    parts = []
    for length, level in zip(phases.lengths(), levels, strict=True):
        if level is None:
            parts.append(" ".join(["_"] * length))
        else:
            parts.append(f"{_number(level)}+0x{length - 1}")
    return " ".join(parts)


def clock(phases: Phases, ticking: Sequence[bool]) -> str:
    """A Unix-time gauge that follows the evaluation clock, frozen in phases where not ticking."""
    values = []
    current = 0.0
    minute = 0
    for length, ticks in zip(phases.lengths(), ticking, strict=True):
        for _ in range(length):
            if ticks:
                current = float(minute * 60)
            values.append(_number(current))
            minute += phases.step
    return " ".join(values)
