"""Background GPU sampling: a supervisor thread, a worker thread, and the last snapshot.

Driver calls run on a worker thread; the supervisor waits for each with a timeout. A call that
hangs gets its device quarantined (it reads down with reason `hung`), the worker is abandoned
(it is a daemon thread and exits once the call returns, which lifts the quarantine) and a fresh
worker carries on with the other devices. A scrape only reads `snapshot`, an immutable object
replaced atomically after each round, so it never waits on a driver.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, TypeVar

from exporters._errors import BackendUnavailable, DeviceFailed, SourceFailed
from exporters._source import GpuReading, GpuSource, SourceInfo

log = logging.getLogger("ollama_sidecar.gpu")
T = TypeVar("T")
CPU_BACKEND = "cpu"


@dataclass(frozen=True, slots=True)
class BackendState:
    """One probed backend: up, or down with a low-cardinality reason."""

    backend: str
    up: bool
    reason: str


@dataclass(frozen=True, slots=True)
class GpuSnapshot:
    """Everything a scrape or a placement decision needs, as of the last round."""

    backend: str = CPU_BACKEND
    info: SourceInfo | None = None
    devices: tuple[GpuReading, ...] = ()
    backends: tuple[BackendState, ...] = ()
    errors: tuple[tuple[str, str, int], ...] = ()
    sample_seconds: float | None = None
    rounds: int = 0
    # time.monotonic() when the round's readings were complete.
    taken_at: float = 0.0

    @property
    def healthy(self) -> tuple[GpuReading, ...]:
        return tuple(d for d in self.devices if d.healthy)


class _Hung(Exception):
    pass


class _Worker:
    """A daemon thread that runs one call at a time."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._run, name="gpu-sampler-worker", daemon=True)
        self._thread.start()

    def call(self, fn: Callable[[], T], timeout: float) -> tuple[T, Future[T]]:
        future: Future[T] = Future()
        self._jobs.put((fn, future))
        try:
            return future.result(timeout), future
        except FutureTimeout:
            raise _Hung(future) from None

    def stop(self) -> None:
        self._jobs.put(None)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, future = job
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the waiting supervisor
                future.set_exception(exc)


@dataclass
class _State:
    source: GpuSource | None = None
    info: SourceInfo | None = None
    backends: tuple[BackendState, ...] = ()
    last: dict[int, GpuReading] = field(default_factory=dict)
    quarantined: set[int] = field(default_factory=set)
    device_errors: dict[int, str] = field(default_factory=dict)
    errors: dict[tuple[str, str], int] = field(default_factory=dict)
    next_probe: float = 0.0


class GpuSampler:
    """Probes `sources` in order, samples the first that opens, publishes `snapshot`.

    `on_snapshot` is called on the sampling thread with each new snapshot (the collector builds
    its metric families there, once per round rather than once per scrape).
    """

    def __init__(
        self,
        sources: Sequence[GpuSource],
        interval: float = 1.0,
        *,
        hang_timeout: float = 5.0,
        reprobe_interval: float = 60.0,
        on_snapshot: Callable[[GpuSnapshot], None] | None = None,
    ) -> None:
        self._sources = list(sources)
        self._on_snapshot = on_snapshot
        self._interval = interval
        self._hang_timeout = hang_timeout
        self._reprobe_interval = reprobe_interval
        self._state = _State()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._worker = _Worker()
        self._thread: threading.Thread | None = None
        self.snapshot = GpuSnapshot()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="gpu-sampler", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        source = self._state.source
        if source is not None:
            self._state.source = None
            self._call(source.close, None)
        self._worker.stop()

    def run_once(self) -> GpuSnapshot:
        """Probe if needed and sample one round on the calling thread's schedule."""
        st = self._state
        if st.source is None and time.monotonic() >= st.next_probe:
            self._probe()
        started = time.perf_counter()
        devices = self._round() if st.source is not None else ()
        self._publish(devices, time.perf_counter() - started)
        return self.snapshot

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # the sampler must never die; count and carry on
                log.exception("GPU sampling round failed")
                self._count(self.snapshot.backend, "internal")
            self._stop.wait(self._interval)

    def _call(self, fn: Callable[[], T], device: int | None) -> T:
        try:
            result, _ = self._worker.call(fn, self._hang_timeout)
            return result
        except _Hung as hung:
            future: Future[Any] = hung.args[0]
            self._worker.stop()
            self._worker = _Worker()
            if device is not None:
                with self._lock:
                    self._state.quarantined.add(device)
                future.add_done_callback(lambda _f: self._release(device))
            raise

    def _release(self, device: int) -> None:
        with self._lock:
            self._state.quarantined.discard(device)
        log.warning("GPU %d: the call that hung has returned; sampling it again", device)

    def _probe(self) -> None:
        st = self._state
        states: list[BackendState] = []
        for source in self._sources:
            try:
                info = self._call(source.open, None)
            except BackendUnavailable as exc:
                states.append(BackendState(source.backend, False, exc.reason))
                log.debug("GPU backend %s unavailable: %s", source.backend, exc)
                continue
            except _Hung:
                states.append(BackendState(source.backend, False, "hung"))
                self._count(source.backend, "hung")
                continue
            except Exception as exc:  # a binding failing in an unforeseen way
                states.append(BackendState(source.backend, False, "error"))
                log.warning("GPU backend %s failed to open: %r", source.backend, exc)
                continue
            states.append(BackendState(source.backend, True, "ok"))
            st.source, st.info, st.last = source, info, {}
            log.info(
                "GPU backend %s: %d device(s), driver %s",
                source.backend,
                info.device_count,
                info.driver_version,
            )
            break
        else:
            states.append(BackendState(CPU_BACKEND, True, "no_gpu"))
            if not any(s.backend == CPU_BACKEND for s in st.backends):
                log.warning(
                    "no GPU found (%s); serving on CPU",
                    ", ".join(f"{s.backend}: {s.reason}" for s in states[:-1]) or "-",
                )
            st.next_probe = time.monotonic() + self._reprobe_interval
        st.backends = tuple(states)

    def _round(self) -> tuple[GpuReading, ...]:
        st = self._state
        source, info = st.source, st.info
        assert source is not None and info is not None
        readings: list[GpuReading] = []
        for index in range(info.device_count):
            with self._lock:
                quarantined = index in st.quarantined
            if quarantined:
                readings.append(self._down(index, "hung"))
                continue
            try:
                reading = self._call(lambda i=index: source.read(i), index)  # type: ignore[misc]
            except DeviceFailed as exc:
                reading = self._down(index, exc.reason, str(exc))
            except _Hung:
                self._count(source.backend, "hung")
                reading = self._down(index, "hung", f"GPU {index}: a driver call hung")
            except SourceFailed as exc:
                self._source_failed(source, exc.reason, str(exc))
                return ()
            except Exception as exc:  # an unforeseen binding error stays with its device
                reading = self._down(index, "error", f"GPU {index}: {exc!r}")
            else:
                if index in st.device_errors:
                    log.warning("GPU %d (%s) recovered", index, reading.uuid)
                    del st.device_errors[index]
                st.last[index] = reading
            readings.append(reading)
        return tuple(readings)

    def _down(self, index: int, reason: str, detail: str = "") -> GpuReading:
        st = self._state
        if st.device_errors.get(index) != reason:
            st.device_errors[index] = reason
            if reason != "hung":
                self._count(st.source.backend if st.source else CPU_BACKEND, reason)
            log.warning("GPU %d down (%s): %s", index, reason, detail or reason)
        last = st.last.get(index)
        if last is None:
            vendor = st.info.vendor if st.info else "unknown"
            last = GpuReading(index, vendor, "unknown", f"unknown-{index}")
        return last.down(reason)

    def _source_failed(self, source: GpuSource, reason: str, detail: str) -> None:
        st = self._state
        log.warning(
            "GPU backend %s failed: %s; probing again in %.0f s",
            source.backend,
            detail,
            self._reprobe_interval,
        )
        self._count(source.backend, reason)
        try:
            self._call(source.close, None)
        except Exception as exc:  # closing a failed driver is best effort
            log.debug("closing %s failed: %r", source.backend, exc)
        st.source, st.info = None, None
        st.backends = (
            BackendState(source.backend, False, reason),
            BackendState(CPU_BACKEND, True, "no_gpu"),
        )
        st.next_probe = time.monotonic() + self._reprobe_interval

    def _count(self, backend: str, reason: str) -> None:
        key = (backend, reason)
        self._state.errors[key] = self._state.errors.get(key, 0) + 1

    def _publish(self, devices: tuple[GpuReading, ...], seconds: float) -> None:
        st = self._state
        self.snapshot = GpuSnapshot(
            backend=st.source.backend if st.source is not None else CPU_BACKEND,
            info=st.info,
            devices=devices,
            backends=st.backends,
            errors=tuple((b, r, n) for (b, r), n in sorted(st.errors.items())),
            sample_seconds=seconds,
            rounds=self.snapshot.rounds + 1,
            taken_at=time.monotonic(),
        )
        if self._on_snapshot is not None:
            self._on_snapshot(self.snapshot)
