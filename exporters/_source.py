"""The GPU source interface and the records it produces.

A source turns one vendor library into `GpuReading`s in base units (bytes, watts, joules,
celsius, hertz, ratios 0-1). A field the device does not support is `None`, never 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


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
    # The energy counter's width when it is known to wrap there (NVML: 2^64 mJ).
    energy_wrap_joules: float | None = None
    sm_clock_hertz: float | None = None
    memory_clock_hertz: float | None = None
    clock_events: tuple[tuple[str, bool], ...] | None = None
    ecc_corrected_errors: int | None = None
    ecc_uncorrected_errors: int | None = None
    processes: tuple[GpuProcess, ...] | None = None
    # NVIDIA RAS: XID events seen (xid, count), remapped rows (correctable, uncorrectable) with
    # the pending and failure flags, retired pages (multiple single-bit, double-bit ECC).
    xid_errors: tuple[tuple[int, int], ...] | None = None
    remapped_rows: tuple[int, int] | None = None
    row_remap_pending: bool | None = None
    row_remap_failure: bool | None = None
    retired_pages: tuple[int, int] | None = None

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
