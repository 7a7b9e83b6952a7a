"""Energy and GPU time per request, shared among concurrent requests
(docs/decisions/0015-gpu-energy-sharing.md).

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
  among the requests then running on that GPU (the GPUs a request occupies are fixed when it
  begins; `narrow`, at its first token, may only drop some, e.g. all of them for a request a
  remote or CPU-served model answers). Busy time is split the same way, weighted by the sampled
  utilization. The shares of overlapping requests therefore add up to the counter's advance
  over their union. A GPU whose counter was reset, or that stopped reporting, during a request
  leaves that request's energy out, never negative or 0.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

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


@dataclass(slots=True)
class _Totals:
    """One GPU's running totals per member request: what each request running on it since the
    start received. A request's share is the difference between its end and its start."""

    energy: float = 0.0  # Σ Δcounter / n
    segments: int = 0  # slices handed out
    unmeasured: int = 0  # slices whose energy was unknown (reset, no reading)
    busy: float = 0.0  # Σ Δt · utilization / n
    busy_wall: float = 0.0  # Σ Δt · utilization
    covered: float = 0.0  # Σ Δt where utilization was sampled
    members: int = 0

    def mark(self) -> tuple[float, int, int, float, float, float]:
        return (
            self.energy,
            self.segments,
            self.unmeasured,
            self.busy,
            self.busy_wall,
            self.covered,
        )


@dataclass(frozen=True, slots=True)
class _Share:
    gpus: dict[str, tuple[float, int, int, float, float, float]]


class EnergyMeter:
    """Implements the `begin`/`end` half of `telemetry.core.GpuMeter` over `EnergyCounters`.

    `gpus_of(model)` names the GPUs (by UUID) a request for `model` occupies, asked once when it
    begins (`narrow` drops some later). Each start, narrowing and end costs O(GPUs), whatever
    the number of requests in flight: each GPU keeps running per-member totals and a request
    keeps their values at its start.
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
        self._totals: dict[str, _Totals] = {}
        self._pins: dict[str, _Pin] = {}
        self._last = clock()
        self._next = 0

    @property
    def active(self) -> int:
        return len(self._active)

    def begin(self, model: str) -> int:
        self._change_point(self._clock())
        gpus: dict[str, tuple[float, int, int, float, float, float]] = {}
        for g in self._gpus_of(model):
            totals = self._totals.get(g)
            if totals is None:
                totals = self._totals[g] = _Totals()
            totals.members += 1
            gpus[g] = totals.mark()
        handle, self._next = self._next, self._next + 1
        self._active[handle] = _Share(gpus)
        return handle

    def narrow(self, handle: int, gpus: Iterable[str]) -> None:
        """From now on the request occupies only those of its GPUs in `gpus`: it leaves the
        others (its slices there so far are dropped) and takes no more of their energy."""
        share = self._active.get(handle)
        if share is None:
            return
        keep = set(gpus)
        leaving = [g for g in share.gpus if g not in keep]
        if not leaving:  # the usual case: placed where it began
            return
        self._change_point(self._clock())
        for g in leaving:
            self._totals[g].members -= 1
            del share.gpus[g]

    def end(self, handle: int, gpus: Iterable[str]) -> GpuUsage | None:
        """The request's share on `gpus` (the GPUs that served it); None when empty or unknown."""
        self._change_point(self._clock())
        share = self._active.pop(handle, None)
        if share is None:
            return None
        for g in share.gpus:
            self._totals[g].members -= 1
        served = [g for g in dict.fromkeys(gpus) if g in share.gpus]
        energy = busy = busy_wall = covered = 0.0
        segments = unmeasured = 0
        for g in served:
            now = self._totals[g].mark()
            then = share.gpus[g]
            energy += now[0] - then[0]
            segments += now[1] - then[1]
            unmeasured += now[2] - then[2]
            busy += now[3] - then[3]
            busy_wall += now[4] - then[4]
            covered += now[5] - then[5]
        if segments == 0:
            return None
        usage = GpuUsage(
            energy_joules=energy if unmeasured == 0 else None,
            gpu_seconds=busy if covered > 0 else None,
            utilization_ratio=busy_wall / covered if covered > 0 else None,
        )
        return usage if usage != GpuUsage() else None

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
        if elapsed > 0:
            for g, totals in self._totals.items():
                if totals.members:
                    self._slice(totals, g, latest.get(g), pins.get(g), now, elapsed)
        self._pins, self._last = pins, now

    def _slice(
        self,
        totals: _Totals,
        g: str,
        reading: CounterReading | None,
        after: _Pin | None,
        now: float,
        elapsed: float,
    ) -> None:
        """Hand out one slice of GPU `g` since the last change point to its members."""
        n = totals.members
        before = self._pins.get(g)
        totals.segments += 1
        if before is not None and after is not None and before.epoch == after.epoch:
            totals.energy += (after.joules - before.joules) / n
        else:
            totals.unmeasured += 1
        stale = reading is None or now - reading.at > self._stale_after
        utilization = None if stale or reading is None else reading.utilization
        if utilization is not None:
            totals.busy += elapsed * utilization / n
            totals.busy_wall += elapsed * utilization
            totals.covered += elapsed
