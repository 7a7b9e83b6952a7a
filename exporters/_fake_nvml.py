"""A scenario fake of the `pynvml` module, for tests and the benchmark (gpu.md §7).

It offers the module-level functions `NvmlSource` calls and raises the binding's real exception
classes (`pynvml.NVMLError_GpuIsLost`, ...), which exist without any GPU. Scenarios are set on
the instance: `FakeNvml.h100s(8)`, then `lose(3)`, `unsupported`, `hang(2)`, `library_missing`,
`draw(0, 300.0)` (the energy counter advances with that power over wall time), `reload_driver(0)`
(the counter restarts at 0), `xid(0, 79)` (an XID event for a registered event set), and the
`processes` each device runs. The counter is NVML's unsigned 64-bit millijoule count, so one set
near 2**64 wraps as hardware would. No device was lent for this work: behaviour follows NVML's
documented formats (nvml.h, gpu.md §2), not a recording.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pynvml

NVMLError = pynvml.NVMLError
nvmlMemory_v2 = pynvml.nvmlMemory_v2
NVML_TEMPERATURE_GPU = pynvml.NVML_TEMPERATURE_GPU
NVML_CLOCK_SM = pynvml.NVML_CLOCK_SM
NVML_CLOCK_MEM = pynvml.NVML_CLOCK_MEM
NVML_VOLATILE_ECC = pynvml.NVML_VOLATILE_ECC
NVML_MEMORY_ERROR_TYPE_CORRECTED = pynvml.NVML_MEMORY_ERROR_TYPE_CORRECTED
NVML_MEMORY_ERROR_TYPE_UNCORRECTED = pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED
nvmlEventTypeXidCriticalError = pynvml.nvmlEventTypeXidCriticalError
SINGLE_BIT = pynvml.NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS
DOUBLE_BIT = pynvml.NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR


@dataclass(frozen=True)
class _Memory:
    total: int
    used: int
    free: int


@dataclass(frozen=True)
class _Util:
    gpu: int
    memory: int


@dataclass(frozen=True)
class _Pci:
    busId: str


@dataclass(frozen=True)
class _Event:
    device: int
    eventType: int
    eventData: int


@dataclass(frozen=True)
class _Process:
    pid: int
    usedGpuMemory: int | None


@dataclass
class FakeDevice:
    """One fake GPU; values in NVML's own units (bytes, %, °C, mW, mJ, MHz)."""

    name: str = "NVIDIA H100 80GB HBM3"
    uuid: str = "GPU-00000000-0000-0000-0000-000000000000"
    bus_id: str = "00000000:18:00.0"
    memory_total: int = 85_520_809_984
    memory_used: int = 1_048_576
    util_gpu: int = 0
    util_memory: int = 0
    temperature: int = 31
    power_mw: int = 70_500
    power_limit_mw: int = 700_000
    energy_mj: int = 123_456_789
    # When set, the clock reading from which `energy_mj` advances at `power_mw`.
    energy_since: float | None = None
    sm_mhz: int = 345
    mem_mhz: int = 2619
    clock_events: int = 0x1
    ecc: tuple[int, int] = (0, 0)
    processes: list[tuple[int, int | None]] = field(default_factory=list)
    # (correctable, uncorrectable, pending, failure) as nvmlDeviceGetRemappedRows returns them
    remapped_rows: tuple[int, int, int, int] = (0, 0, 0, 0)
    retired_pages: tuple[list[int], list[int]] = field(default_factory=lambda: ([], []))
    unsupported: set[str] = field(default_factory=set)
    lost: bool = False


class FakeNvml:
    """Stands in for the `pynvml` module."""

    NVMLError = NVMLError
    nvmlMemory_v2 = nvmlMemory_v2
    NVML_TEMPERATURE_GPU = NVML_TEMPERATURE_GPU
    NVML_CLOCK_SM = NVML_CLOCK_SM
    NVML_CLOCK_MEM = NVML_CLOCK_MEM
    NVML_VOLATILE_ECC = NVML_VOLATILE_ECC
    NVML_MEMORY_ERROR_TYPE_CORRECTED = NVML_MEMORY_ERROR_TYPE_CORRECTED
    NVML_MEMORY_ERROR_TYPE_UNCORRECTED = NVML_MEMORY_ERROR_TYPE_UNCORRECTED
    nvmlEventTypeXidCriticalError = nvmlEventTypeXidCriticalError
    NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS = SINGLE_BIT
    NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR = DOUBLE_BIT

    def __init__(
        self,
        devices: list[FakeDevice] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.devices = devices if devices is not None else []
        self.clock = clock
        self.init_error: int | None = None
        self.driver_version = "560.35.03"
        self.cuda_version = 12060
        self.initialised = 0
        self.calls = 0
        self._hangs: dict[int, threading.Event] = {}
        self._events: queue.SimpleQueue[_Event] = queue.SimpleQueue()
        self.registered: set[int] = set()

    @classmethod
    def h100s(cls, count: int) -> FakeNvml:
        return cls(
            [
                FakeDevice(
                    uuid=f"GPU-6a1c2e3f-0000-0000-0000-{i:012d}",
                    bus_id=f"00000000:{0x18 + i:02X}:00.0",
                    memory_used=1_048_576 * (100 + i),
                    util_gpu=10 * (i % 10),
                    temperature=30 + i,
                )
                for i in range(count)
            ]
        )

    # Scenario switches.
    def library_missing(self) -> FakeNvml:
        self.init_error = pynvml.NVML_ERROR_LIBRARY_NOT_FOUND
        return self

    def energy_mj(self, index: int) -> int:
        """Device `index`'s counter now, as NVML would return it."""
        d = self.devices[index]
        advanced = 0.0 if d.energy_since is None else d.power_mw * (self.clock() - d.energy_since)
        return (d.energy_mj + int(advanced)) % 2**64

    def draw(self, index: int, watts: float) -> None:
        """From now on device `index` draws `watts`, and its energy counter advances with it."""
        d = self.devices[index]
        d.energy_mj, d.energy_since = self.energy_mj(index), self.clock()
        d.power_mw = round(watts * 1000)

    def reload_driver(self, index: int) -> None:
        """The driver reloads: the energy counter starts again from 0."""
        d = self.devices[index]
        d.energy_mj = 0
        d.energy_since = self.clock() if d.energy_since is not None else None

    def xid(self, index: int, code: int) -> None:
        """Device `index` raises XID `code` (delivered to a registered event set)."""
        self._events.put(_Event(index, nvmlEventTypeXidCriticalError, code))

    def lose(self, index: int, lost: bool = True) -> None:
        self.devices[index].lost = lost

    def hang(self, index: int) -> threading.Event:
        """Make every call on device `index` block until the returned event is set."""
        gate = threading.Event()
        self._hangs[index] = gate
        return gate

    def release(self, index: int) -> None:
        gate = self._hangs.pop(index, None)
        if gate is not None:
            gate.set()

    # The pynvml surface.
    def nvmlInit(self) -> None:
        self.calls += 1
        if self.init_error is not None:
            raise NVMLError(self.init_error)
        self.initialised += 1

    def nvmlShutdown(self) -> None:
        self._check_init()
        self.initialised -= 1

    def nvmlDeviceGetCount(self) -> int:
        self._check_init()
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        self._check_init()
        return index

    def nvmlSystemGetDriverVersion(self) -> str:
        self._check_init()
        return self.driver_version

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        self._check_init()
        return self.cuda_version

    def nvmlDeviceGetName(self, h: int) -> str:
        return self._dev(h, "name").name

    def nvmlDeviceGetUUID(self, h: int) -> str:
        return self._dev(h, "uuid").uuid

    def nvmlDeviceGetPciInfo(self, h: int) -> _Pci:
        return _Pci(self._dev(h, "nvmlDeviceGetPciInfo").bus_id)

    def nvmlDeviceGetMemoryInfo(self, h: int, version: int | None = None) -> _Memory:
        d = self._dev(h, "nvmlDeviceGetMemoryInfo_v2" if version else "nvmlDeviceGetMemoryInfo")
        return _Memory(d.memory_total, d.memory_used, d.memory_total - d.memory_used)

    def nvmlDeviceGetUtilizationRates(self, h: int) -> _Util:
        d = self._dev(h, "nvmlDeviceGetUtilizationRates")
        return _Util(d.util_gpu, d.util_memory)

    def nvmlDeviceGetTemperature(self, h: int, sensor: int) -> int:
        return self._dev(h, "nvmlDeviceGetTemperature").temperature

    def nvmlDeviceGetPowerUsage(self, h: int) -> int:
        return self._dev(h, "nvmlDeviceGetPowerUsage").power_mw

    def nvmlDeviceGetEnforcedPowerLimit(self, h: int) -> int:
        return self._dev(h, "nvmlDeviceGetEnforcedPowerLimit").power_limit_mw

    def nvmlDeviceGetTotalEnergyConsumption(self, h: int) -> int:
        self._dev(h, "nvmlDeviceGetTotalEnergyConsumption")
        return self.energy_mj(h)

    def nvmlDeviceGetClockInfo(self, h: int, kind: int) -> int:
        d = self._dev(h, "nvmlDeviceGetClockInfo")
        return d.sm_mhz if kind == NVML_CLOCK_SM else d.mem_mhz

    def nvmlDeviceGetCurrentClocksEventReasons(self, h: int) -> int:
        return self._dev(h, "nvmlDeviceGetCurrentClocksEventReasons").clock_events

    def nvmlDeviceGetTotalEccErrors(self, h: int, kind: int, counter: int) -> int:
        return self._dev(h, "nvmlDeviceGetTotalEccErrors").ecc[kind]

    def nvmlDeviceGetComputeRunningProcesses(self, h: int) -> list[_Process]:
        d = self._dev(h, "nvmlDeviceGetComputeRunningProcesses")
        return [_Process(pid, used) for pid, used in d.processes]

    def nvmlDeviceGetRemappedRows(self, h: int) -> tuple[int, int, int, int]:
        return self._dev(h, "nvmlDeviceGetRemappedRows").remapped_rows

    def nvmlDeviceGetRetiredPages(self, h: int, cause: int) -> list[int]:
        return self._dev(h, "nvmlDeviceGetRetiredPages").retired_pages[cause]

    def nvmlDeviceGetIndex(self, h: int) -> int:
        self._check_init()
        return h

    def nvmlEventSetCreate(self) -> object:
        self._check_init()
        return self._events

    def nvmlDeviceRegisterEvents(self, h: int, types: int, event_set: object) -> None:
        self._dev(h, "nvmlDeviceRegisterEvents")
        self.registered.add(h)

    def nvmlEventSetWait_v2(self, event_set: object, timeout_ms: int) -> _Event:
        # At most 50 ms per wait, so a watcher stops promptly in tests; NVML honours timeout_ms.
        try:
            event = self._events.get(timeout=min(timeout_ms, 50) / 1000)
        except queue.Empty:
            raise NVMLError(pynvml.NVML_ERROR_TIMEOUT) from None
        if event.device not in self.registered:
            raise NVMLError(pynvml.NVML_ERROR_TIMEOUT)
        return event

    def nvmlEventSetFree(self, event_set: object) -> None:
        self.registered.clear()

    def _check_init(self) -> None:
        if self.initialised <= 0:
            raise NVMLError(pynvml.NVML_ERROR_UNINITIALIZED)

    def _dev(self, handle: int, function: str) -> FakeDevice:
        self.calls += 1
        self._check_init()
        gate = self._hangs.get(handle)
        if gate is not None:
            gate.wait()
        device = self.devices[handle]
        if device.lost:
            raise NVMLError(pynvml.NVML_ERROR_GPU_IS_LOST)
        if function in device.unsupported:
            code = (
                pynvml.NVML_ERROR_FUNCTION_NOT_FOUND
                if function.endswith("_v2")
                else pynvml.NVML_ERROR_NOT_SUPPORTED
            )
            raise NVMLError(code)
        return device
