"""NVIDIA GPUs through NVML (`nvidia-ml-py`, import name `pynvml`), gpu.md §1-2.

The binding module is a constructor argument so tests pass scenario fakes of it. Every field
read goes through `_field`, which turns NotSupported / NoPermission / FunctionNotFound into
`None`; GpuIsLost / Unknown / ResetRequired fail the device; Uninitialized / DriverNotLoaded
fail the source.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from exporters._errors import BackendUnavailable, DeviceFailed, SourceFailed
from exporters._processes import is_ollama_process
from exporters._source import GpuProcess, GpuReading, SourceInfo
from exporters._xid import XidWatcher

log = logging.getLogger("ollama_sidecar.gpu")
T = TypeVar("T")

# NVML return codes (nvml.h), stable across releases.
_NOT_SUPPORTED, _NO_PERMISSION, _FUNCTION_NOT_FOUND = 3, 4, 13
_UNINITIALIZED, _DRIVER_NOT_LOADED, _LIBRARY_NOT_FOUND = 1, 9, 12
_LIB_RM_MISMATCH = 18
_MISSING_FIELD = {_NOT_SUPPORTED, _NO_PERMISSION, _FUNCTION_NOT_FOUND}
_SOURCE_WIDE = {_UNINITIALIZED, _DRIVER_NOT_LOADED, _LIBRARY_NOT_FOUND, _LIB_RM_MISMATCH}
_OPEN_REASONS = {
    _LIBRARY_NOT_FOUND: "library_missing",
    _DRIVER_NOT_LOADED: "driver_not_loaded",
    _NO_PERMISSION: "no_permission",
    _LIB_RM_MISMATCH: "driver_mismatch",
}
_DEVICE_REASONS = {15: "lost", 16: "reset_required", 999: "unknown_error"}

CLOCK_EVENTS: tuple[tuple[str, int], ...] = (
    ("gpu_idle", 0x1),
    ("applications_clocks_setting", 0x2),
    ("sw_power_cap", 0x4),
    ("hw_slowdown", 0x8),
    ("sync_boost", 0x10),
    ("sw_thermal_slowdown", 0x20),
    ("hw_thermal_slowdown", 0x40),
    ("hw_power_brake_slowdown", 0x80),
    ("display_clock_setting", 0x100),
)
_MHZ = 1e6
_ENERGY_WRAP_JOULES = 2**64 / 1000.0  # an unsigned 64-bit count of millijoules


def _text(value: object) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


class NvmlSource:
    """`GpuSource` over NVML."""

    backend = "nvml"

    def __init__(
        self,
        module: ModuleType | Any | None = None,
        *,
        is_ollama: Callable[[int], bool] | None = None,
        proc_root: Path = Path("/proc"),
        watch_xid: bool = True,
        xid_hold_seconds: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._module = module
        self._watch_xid = watch_xid
        self.xid_hold_seconds = xid_hold_seconds
        self._xid: XidWatcher | None = None
        self._nv: Any = None
        self._handles: list[Any] = []
        self._identity: dict[int, GpuReading] = {}
        self._missing_logged: set[str] = set()
        self._is_ollama = is_ollama or (lambda pid: is_ollama_process(pid, proc_root))

    def open(self) -> SourceInfo:
        nv = self._module
        if nv is None:
            try:
                import pynvml

                nv = pynvml
            except Exception as exc:  # a broken binding can fail with anything at import
                raise BackendUnavailable("library_missing", f"cannot import pynvml: {exc}") from exc
        self._nv = nv
        try:
            nv.nvmlInit()
        except nv.NVMLError as exc:
            reason = _OPEN_REASONS.get(getattr(exc, "value", -1), "init_failed")
            raise BackendUnavailable(reason, f"nvmlInit: {exc}") from exc
        try:
            count = int(nv.nvmlDeviceGetCount())
            self._handles = [nv.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        except nv.NVMLError as exc:
            self.close()
            raise BackendUnavailable("init_failed", f"device enumeration: {exc}") from exc
        if count == 0:
            self.close()
            raise BackendUnavailable("no_device", "NVML found no NVIDIA GPU")
        driver = self._field("nvmlSystemGetDriverVersion", nv.nvmlSystemGetDriverVersion)
        cuda = self._field("nvmlSystemGetCudaDriverVersion", nv.nvmlSystemGetCudaDriverVersion)
        cuda_text = f"{int(cuda) // 1000}.{int(cuda) % 1000 // 10}" if cuda is not None else None
        self._identity.clear()
        if self._watch_xid:
            watcher = XidWatcher(
                nv, self._handles, hold_seconds=self.xid_hold_seconds, clock=self._clock
            )
            self._xid = watcher if watcher.start() else None
        driver_text = _text(driver) if driver is not None else None
        return SourceInfo("nvml", "nvidia", count, driver_text, cuda_text, "cuda")

    def close(self) -> None:
        watcher, self._xid = self._xid, None
        if watcher is not None:
            watcher.stop()
        nv, self._nv = self._nv, None
        self._handles = []
        if nv is not None:
            try:
                nv.nvmlShutdown()
            except Exception as exc:  # shutting down a broken driver must not raise
                log.debug("nvmlShutdown failed: %s", exc)

    def read(self, index: int) -> GpuReading:
        nv = self._nv
        if nv is None or index >= len(self._handles):
            raise SourceFailed("closed", "NVML source is not open")
        handle = self._handles[index]
        try:
            identity = self._identity.get(index) or self._read_identity(index, handle)
            self._identity[index] = identity
            reading = self._read_fields(identity, handle)
        except nv.NVMLError as exc:
            code: int = getattr(exc, "value", -1)
            if code in _SOURCE_WIDE:
                raise SourceFailed("driver_error", f"NVML: {exc}") from exc
            raise DeviceFailed(_DEVICE_REASONS.get(code, "error"), f"GPU {index}: {exc}") from exc
        watcher = self._xid
        if watcher is None:
            return reading
        reading = replace(reading, xid_errors=watcher.counts(index))
        xid = watcher.critical(index)
        return reading if xid is None else replace(reading, healthy=False, error=f"xid {xid}")

    def _read_identity(self, index: int, handle: Any) -> GpuReading:
        nv = self._nv
        pci = self._field("nvmlDeviceGetPciInfo", nv.nvmlDeviceGetPciInfo, handle)
        return GpuReading(
            index=index,
            vendor="nvidia",
            name=_text(nv.nvmlDeviceGetName(handle)),
            uuid=_text(nv.nvmlDeviceGetUUID(handle)),
            pci_bus_id=_text(pci.busId) if pci is not None else None,
        )

    def _read_fields(self, identity: GpuReading, handle: Any) -> GpuReading:
        nv, f = self._nv, self._field
        memory = f(
            "nvmlDeviceGetMemoryInfo_v2",
            nv.nvmlDeviceGetMemoryInfo,
            handle,
            version=nv.nvmlMemory_v2,
        )
        if memory is None:
            memory = f("nvmlDeviceGetMemoryInfo", nv.nvmlDeviceGetMemoryInfo, handle)
        util = f("nvmlDeviceGetUtilizationRates", nv.nvmlDeviceGetUtilizationRates, handle)
        temp = f(
            "nvmlDeviceGetTemperature", nv.nvmlDeviceGetTemperature, handle, nv.NVML_TEMPERATURE_GPU
        )
        power = f("nvmlDeviceGetPowerUsage", nv.nvmlDeviceGetPowerUsage, handle)
        limit = f("nvmlDeviceGetEnforcedPowerLimit", nv.nvmlDeviceGetEnforcedPowerLimit, handle)
        energy = f(
            "nvmlDeviceGetTotalEnergyConsumption", nv.nvmlDeviceGetTotalEnergyConsumption, handle
        )
        sm = f("nvmlDeviceGetClockInfo", nv.nvmlDeviceGetClockInfo, handle, nv.NVML_CLOCK_SM)
        mem = f("nvmlDeviceGetClockInfo", nv.nvmlDeviceGetClockInfo, handle, nv.NVML_CLOCK_MEM)
        events = f(
            "nvmlDeviceGetCurrentClocksEventReasons",
            nv.nvmlDeviceGetCurrentClocksEventReasons,
            handle,
        )
        ecc = [
            f(
                "nvmlDeviceGetTotalEccErrors",
                nv.nvmlDeviceGetTotalEccErrors,
                handle,
                kind,
                nv.NVML_VOLATILE_ECC,
            )
            for kind in (nv.NVML_MEMORY_ERROR_TYPE_CORRECTED, nv.NVML_MEMORY_ERROR_TYPE_UNCORRECTED)
        ]
        procs = f(
            "nvmlDeviceGetComputeRunningProcesses", nv.nvmlDeviceGetComputeRunningProcesses, handle
        )
        remap = f("nvmlDeviceGetRemappedRows", nv.nvmlDeviceGetRemappedRows, handle)
        retired = [
            f("nvmlDeviceGetRetiredPages", nv.nvmlDeviceGetRetiredPages, handle, cause)
            for cause in (
                nv.NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS,
                nv.NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR,
            )
        ]
        return GpuReading(
            index=identity.index,
            vendor="nvidia",
            name=identity.name,
            uuid=identity.uuid,
            pci_bus_id=identity.pci_bus_id,
            memory_total_bytes=int(memory.total) if memory is not None else None,
            memory_used_bytes=int(memory.used) if memory is not None else None,
            utilization_ratio=util.gpu / 100.0 if util is not None else None,
            temperatures_celsius=(("gpu", float(temp)),) if temp is not None else (),
            power_watts=power / 1000.0 if power is not None else None,
            power_limit_watts=limit / 1000.0 if limit is not None else None,
            energy_joules=energy / 1000.0 if energy is not None else None,
            energy_wrap_joules=_ENERGY_WRAP_JOULES if energy is not None else None,
            sm_clock_hertz=sm * _MHZ if sm is not None else None,
            memory_clock_hertz=mem * _MHZ if mem is not None else None,
            clock_events=(
                tuple((name, bool(int(events) & bit)) for name, bit in CLOCK_EVENTS)
                if events is not None
                else None
            ),
            ecc_corrected_errors=int(ecc[0]) if ecc[0] is not None else None,
            ecc_uncorrected_errors=int(ecc[1]) if ecc[1] is not None else None,
            processes=(
                tuple(
                    GpuProcess(int(p.pid), _process_memory(p), self._is_ollama(int(p.pid)))
                    for p in procs
                )
                if procs is not None
                else None
            ),
            remapped_rows=(int(remap[0]), int(remap[1])) if remap is not None else None,
            row_remap_pending=bool(remap[2]) if remap is not None else None,
            row_remap_failure=bool(remap[3]) if remap is not None else None,
            retired_pages=(
                (len(retired[0]), len(retired[1]))
                if retired[0] is not None and retired[1] is not None
                else None
            ),
        )

    def _field(self, name: str, call: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """A reading, or None when the device or driver does not offer it."""
        try:
            return call(*args, **kwargs)
        except self._nv.NVMLError as exc:
            code: int = getattr(exc, "value", -1)
            if code not in _MISSING_FIELD:
                raise
            if code == _FUNCTION_NOT_FOUND and name not in self._missing_logged:
                self._missing_logged.add(name)
                log.info("NVML driver lacks %s; that metric is not exported", name)
            return None


def _process_memory(process: Any) -> int | None:
    used = getattr(process, "usedGpuMemory", None)
    # NVML_VALUE_NOT_AVAILABLE is the all-ones 64-bit value.
    return int(used) if isinstance(used, int) and used < 2**64 - 1 else None
