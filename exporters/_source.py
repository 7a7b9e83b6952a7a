"""The GPU source interface, the records it produces, and an in-memory fake.

A source turns one vendor library into `GpuReading`s in base units (bytes, watts, joules,
celsius, hertz, ratios 0-1). A field the device does not support is `None`, never 0.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from exporters._errors import BackendUnavailable, DeviceFailed


@dataclass(frozen=True, slots=True)
class GpuProcess:
    """A compute process on a GPU; `ollama` is true for Ollama's server or runner."""

    pid: int
    used_memory_bytes: int | None = None
    ollama: bool = False


@dataclass(frozen=True, slots=True)
class GpuReading:
    """One device at one moment. `healthy` false means only the identity is meaningful."""

    index: int
    vendor: str
    name: str
    uuid: str
    pci_bus_id: str | None = None
    healthy: bool = True
    error: str | None = None
    memory_total_bytes: int | None = None
    memory_used_bytes: int | None = None
    utilization_ratio: float | None = None
    temperatures_celsius: tuple[tuple[str, float], ...] = ()
    power_watts: float | None = None
    power_limit_watts: float | None = None
    energy_joules: float | None = None
    sm_clock_hertz: float | None = None
    memory_clock_hertz: float | None = None
    clock_events: tuple[tuple[str, bool], ...] | None = None
    ecc_corrected_errors: int | None = None
    ecc_uncorrected_errors: int | None = None
    processes: tuple[GpuProcess, ...] | None = None

    def down(self, error: str) -> GpuReading:
        """The same device, identity kept, every reading dropped."""
        return GpuReading(
            index=self.index,
            vendor=self.vendor,
            name=self.name,
            uuid=self.uuid,
            pci_bus_id=self.pci_bus_id,
            healthy=False,
            error=error,
            memory_total_bytes=self.memory_total_bytes,
        )


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """What a source learns when it opens."""

    backend: str
    vendor: str
    device_count: int
    driver_version: str | None = None
    runtime_version: str | None = None
    runtime: str | None = None


class GpuSource(Protocol):
    """One vendor library. Calls may block or hang: the sampler runs them off the event loop."""

    @property
    def backend(self) -> str: ...

    def open(self) -> SourceInfo:
        """Initialise the library and count devices; raises `BackendUnavailable`."""
        ...

    def read(self, index: int) -> GpuReading:
        """Read one device; raises `DeviceFailed` for that device or `SourceFailed` for all."""
        ...

    def close(self) -> None: ...


def is_ollama_process(pid: int, proc_root: Path = Path("/proc")) -> bool:
    """True when `pid` runs Ollama (its server or a runner it spawned); False when unreadable."""
    try:
        comm = (proc_root / str(pid) / "comm").read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return False
    return comm.startswith("ollama")


class FakeGpuSource:
    """An in-memory `GpuSource` for tests and benchmarks: readings are set, not measured."""

    def __init__(
        self,
        readings: Sequence[GpuReading],
        *,
        backend: str = "fake",
        unavailable: str | None = None,
        driver_version: str | None = "fake-1.0",
    ) -> None:
        self.readings = list(readings)
        self._backend = backend
        self.unavailable = unavailable
        self.driver_version = driver_version
        self.failed: set[int] = set()
        self.hang: dict[int, threading.Event] = {}
        self.on_read: Callable[[int], None] | None = None
        self.opens = 0
        self.closed = 0

    @property
    def backend(self) -> str:
        return self._backend

    def open(self) -> SourceInfo:
        self.opens += 1
        if self.unavailable is not None:
            raise BackendUnavailable(self.unavailable, "fake source told to be unavailable")
        vendor = self.readings[0].vendor if self.readings else "none"
        return SourceInfo(self._backend, vendor, len(self.readings), self.driver_version)

    def read(self, index: int) -> GpuReading:
        if self.on_read is not None:
            self.on_read(index)
        gate = self.hang.get(index)
        if gate is not None:
            gate.wait()
        if index in self.failed:
            raise DeviceFailed("lost", f"fake device {index} lost")
        return self.readings[index]

    def close(self) -> None:
        self.closed += 1


def fake_reading(index: int, **fields: object) -> GpuReading:
    """A plausible healthy H100 reading for tests, with `fields` overriding."""
    base = GpuReading(
        index=index,
        vendor="nvidia",
        name="NVIDIA H100 80GB HBM3",
        uuid=f"GPU-00000000-0000-0000-0000-{index:012d}",
        pci_bus_id=f"00000000:{0x18 + index:02X}:00.0",
        memory_total_bytes=85_520_809_984,
        memory_used_bytes=1_048_576,
        utilization_ratio=0.0,
        temperatures_celsius=(("gpu", 31.0),),
        power_watts=70.5,
        power_limit_watts=700.0,
    )
    return replace(base, **fields)  # type: ignore[arg-type]
