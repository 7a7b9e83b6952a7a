"""NVIDIA XID events: a background thread waiting on NVML's event set (gpu.md §2, §7).

`nvmlEventSetWait_v2` blocks, so it runs on a thread of its own, never the sampler's worker, with
a short timeout so it stops promptly. Every XID is counted per device; a **critical** one (48
double-bit ECC, 62/64 internal/ECC page retirement failure, 74 NVLink, 79 fallen off the bus, 95
uncontained ECC, 119/120 GSP; nvidia_gpu_exporter's list, not the application faults 13, 31, 43)
makes its device unhealthy for `hold_seconds` after the last one: long enough for an operator to
see it and for the driver to be reset. A device that keeps failing keeps renewing the hold.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("ollama_sidecar.gpu.xid")

CRITICAL_XIDS = frozenset({48, 62, 64, 74, 79, 95, 119, 120})
_TIMEOUT, _NOT_SUPPORTED = 10, 3
_WAIT_MS = 500


class XidWatcher:
    """Counts XIDs per device index; `critical(index)` names a recent critical one."""

    def __init__(
        self,
        nv: Any,
        handles: list[Any],
        *,
        hold_seconds: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._nv = nv
        self._handles = handles
        self._hold = hold_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._counts: dict[int, dict[int, int]] = {}
        self._last_critical: dict[int, tuple[int, float]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._set: Any = None

    def start(self) -> bool:
        """Register for XID events on every device; False when the driver offers none."""
        nv = self._nv
        try:
            self._set = nv.nvmlEventSetCreate()
            registered = 0
            for handle in self._handles:
                try:
                    nv.nvmlDeviceRegisterEvents(handle, nv.nvmlEventTypeXidCriticalError, self._set)
                    registered += 1
                except nv.NVMLError as exc:
                    if getattr(exc, "value", None) != _NOT_SUPPORTED:
                        raise
        except (nv.NVMLError, AttributeError) as exc:  # AttributeError: a binding without them
            log.info("NVML XID events unavailable (%s); XIDs are not watched", exc)
            self._free()
            return False
        if not registered:
            self._free()
            return False
        self._thread = threading.Thread(target=self._run, name="gpu-xid-events", daemon=True)
        self._thread.start()
        return True

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2 * _WAIT_MS / 1000 + 1)
            self._thread = None
        self._free()

    def counts(self, index: int) -> tuple[tuple[int, int], ...]:
        with self._lock:
            return tuple(sorted(self._counts.get(index, {}).items()))

    def critical(self, index: int) -> int | None:
        """The critical XID that holds device `index` unhealthy, or None."""
        with self._lock:
            last = self._last_critical.get(index)
        if last is None or self._clock() - last[1] > self._hold:
            return None
        return last[0]

    def record(self, index: int, xid: int) -> None:
        with self._lock:
            per_device = self._counts.setdefault(index, {})
            per_device[xid] = per_device.get(xid, 0) + 1
            if xid in CRITICAL_XIDS:
                self._last_critical[index] = (xid, self._clock())
        level = logging.ERROR if xid in CRITICAL_XIDS else logging.WARNING
        log.log(
            level,
            "GPU XID event",
            extra={"fields": {"gpu": index, "xid": xid, "critical": xid in CRITICAL_XIDS}},
        )

    def _run(self) -> None:
        nv = self._nv
        while not self._stop.is_set():
            try:
                event = nv.nvmlEventSetWait_v2(self._set, _WAIT_MS)
                self.record(int(nv.nvmlDeviceGetIndex(event.device)), int(event.eventData))
            except nv.NVMLError as exc:
                if getattr(exc, "value", None) != _TIMEOUT:
                    log.warning("NVML event wait failed: %s; retrying in 5 s", exc)
                    self._stop.wait(5.0)
            except Exception:  # the watcher must not die on a binding surprise
                log.exception("NVML event wait failed unexpectedly")
                self._stop.wait(5.0)

    def _free(self) -> None:
        event_set, self._set = self._set, None
        if event_set is not None:
            try:
                self._nv.nvmlEventSetFree(event_set)
            except Exception as exc:  # freeing on a failing driver is best effort
                log.debug("nvmlEventSetFree failed: %r", exc)
