"""Energy and GPU time per request, shared among concurrent requests
(docs/decisions/0010-gpu-energy-sharing.md).

Two halves, one per thread:

- `EnergyCounters.observe` runs on the sampler thread after each round. It turns each GPU's raw
  energy counter into a monotone series: a counter that went down by more than half its width
  wrapped (the width is added back); one that went down otherwise was reset, by a driver reload,
  and starts a new epoch. It publishes the latest `CounterReading` per GPU as one immutable
  mapping, swapped whole.
- `EnergyMeter.begin` / `end` run on the event loop and never call a driver. Every begin and end
  is a change point: the meter estimates each GPU's counter at that instant from the latest
  reading (its value plus the measured power times the time since it was read), never below the
  previous change point's estimate, and splits the energy since the previous change point equally
  among the requests then running on that GPU. Busy time is split the same way, weighted by the
  sampled utilization. The shares of overlapping requests therefore add up to the counter's
  advance over their union. A GPU whose counter was reset, or that stopped reporting, during a
  request leaves that request's energy out, never negative or 0.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from exporters._sampler import GpuSnapshot
from telemetry.core import GpuUsage

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CounterReading:
    """One GPU's last sample: the corrected energy counter and what it was drawing."""

    epoch: int
    joules: float | None
    watts: float | None
    utilization: float | None
    at: float


@dataclass
class _Raw:
    raw: float
    offset: float
    epoch: int


class EnergyCounters:
    """Wrap- and reset-aware energy counters, fed from sampler snapshots."""

    def __init__(self) -> None:
        self._raw: dict[str, _Raw] = {}
        self.latest: Mapping[str, CounterReading] = {}
        self.resets = 0
        self.wraps = 0

    def observe(self, snapshot: GpuSnapshot) -> None:
        latest: dict[str, CounterReading] = {}
        for d in snapshot.devices:
            joules = d.energy_joules if d.healthy else None
            state = self._raw.get(d.uuid)
            if joules is not None:
                if state is None:
                    state = self._raw[d.uuid] = _Raw(joules, 0.0, 0)
                elif joules < state.raw:
                    self._went_down(d.uuid, state, joules, d.energy_wrap_joules)
                state.raw = joules
                joules += state.offset
            latest[d.uuid] = CounterReading(
                epoch=state.epoch if state is not None else 0,
                joules=joules,
                watts=d.power_watts if d.healthy else None,
                utilization=d.utilization_ratio if d.healthy else None,
                at=snapshot.taken_at,
            )
        self.latest = latest

    def _went_down(self, uuid: str, state: _Raw, joules: float, width: float | None) -> None:
        if width is not None and state.raw - joules > width / 2:
            state.offset += width
            self.wraps += 1
            return
        state.epoch += 1
        state.offset = 0.0
        self.resets += 1
        log.warning(
            "GPU energy counter went back (driver reload?); requests spanning it get no energy",
            extra={"fields": {"uuid": uuid, "from_joules": state.raw, "to_joules": joules}},
        )


@dataclass(frozen=True, slots=True)
class _Pin:
    epoch: int
    joules: float


@dataclass
class _Share:
    model: str
    started: float
    energy: dict[str, float] = field(default_factory=dict)
    invalid: set[str] = field(default_factory=set)
    busy: dict[str, float] = field(default_factory=dict)
    covered: dict[str, float] = field(default_factory=dict)
    busy_wall: dict[str, float] = field(default_factory=dict)


class EnergyMeter:
    """Implements the `begin`/`end` half of `telemetry.core.GpuMeter` over `EnergyCounters`.

    `gpus_of(model)` names the GPUs (by UUID) a running request for `model` occupies; it is
    asked at each change point, once per model.
    """

    def __init__(
        self,
        counters: EnergyCounters,
        gpus_of: Callable[[str], frozenset[str]],
        *,
        stale_after: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._counters = counters
        self._gpus_of = gpus_of
        self._stale_after = stale_after
        self._clock = clock
        self._active: dict[int, _Share] = {}
        self._pins: dict[str, _Pin] = {}
        self._last = clock()
        self._next = 0

    @property
    def active(self) -> int:
        return len(self._active)

    def begin(self, model: str) -> int:
        now = self._clock()
        self._change_point(now)
        handle, self._next = self._next, self._next + 1
        self._active[handle] = _Share(model, now)
        return handle

    def end(self, handle: int, gpus: Iterable[str]) -> GpuUsage | None:
        """The request's share on `gpus` (the GPUs that served it); None when empty or unknown."""
        self._change_point(self._clock())
        share = self._active.pop(handle, None)
        if share is None:
            return None
        seen = [g for g in gpus if g in share.covered or g in share.energy or g in share.invalid]
        if not seen:
            return None
        energy: float | None = None
        if all(g in share.energy and g not in share.invalid for g in seen):
            energy = sum(share.energy[g] for g in seen)
        cover = sum(share.covered.get(g, 0.0) for g in seen)
        busy = sum(share.busy.get(g, 0.0) for g in seen)
        usage = GpuUsage(
            energy_joules=energy,
            gpu_seconds=busy if cover > 0 else None,
            utilization_ratio=self._utilization(share, seen) if cover > 0 else None,
        )
        return usage if usage != GpuUsage() else None

    @staticmethod
    def _utilization(share: _Share, gpus: list[str]) -> float:
        """Time-weighted mean utilization over the request window, across its GPUs."""
        total = sum(share.covered.get(g, 0.0) for g in gpus)
        return sum(share.busy_wall.get(g, 0.0) for g in gpus) / total

    def _change_point(self, now: float) -> None:
        latest = self._counters.latest
        pins: dict[str, _Pin] = {}
        for uuid, reading in latest.items():
            if reading.joules is None or now - reading.at > self._stale_after:
                continue
            estimate = reading.joules + (reading.watts or 0.0) * max(0.0, now - reading.at)
            previous = self._pins.get(uuid)
            if previous is not None and previous.epoch == reading.epoch:
                estimate = max(estimate, previous.joules)
            pins[uuid] = _Pin(reading.epoch, estimate)
        elapsed = now - self._last
        if self._active and elapsed > 0:
            self._share(latest, pins, elapsed)
        self._pins, self._last = pins, now

    def _share(
        self, latest: Mapping[str, CounterReading], pins: Mapping[str, _Pin], elapsed: float
    ) -> None:
        by_model: dict[str, frozenset[str]] = {}
        members: dict[str, list[_Share]] = {}
        for share in self._active.values():
            gpus = by_model.get(share.model)
            if gpus is None:
                gpus = by_model[share.model] = self._gpus_of(share.model)
            for g in gpus:
                members.setdefault(g, []).append(share)
        for g, shares in members.items():
            n = len(shares)
            before, after = self._pins.get(g), pins.get(g)
            joules = (
                (after.joules - before.joules) / n
                if before is not None and after is not None and before.epoch == after.epoch
                else None
            )
            reading = latest.get(g)
            utilization = reading.utilization if reading is not None else None
            for share in shares:
                if joules is None:
                    share.invalid.add(g)
                else:
                    share.energy[g] = share.energy.get(g, 0.0) + joules
                if utilization is not None:
                    share.busy[g] = share.busy.get(g, 0.0) + elapsed * utilization / n
                    share.covered[g] = share.covered.get(g, 0.0) + elapsed
                    share.busy_wall[g] = share.busy_wall.get(g, 0.0) + elapsed * utilization
