"""A scenario fake of `librocm_smi64` as ctypes hands it to `RocmSmiLibSource` (gpu.md §3.2).

Each function takes what ctypes would pass the C library: a Python int for a 32-bit value, a
`ctypes.c_uint64` for a 64-bit one (unless the function's `argtypes` declare it), a
`ctypes.byref(...)` for a pointer, checked against the pointee type of the prototype in
`include/rocm_smi/rocm_smi.h` (ROCm/rocm_smi_lib @ a129571, the same at rocm-5.2.3, Debian's
librocm-smi64-1 5.2.3), and a string buffer for `char *`. A mismatch raises `TypeError`, so a
source passing a 32-bit int where the C side reads 64 bits fails here as it would misread there.
Functions return the library's status codes and write through the pointers.

Scenarios: `FakeRocmSmi.mi300x(2)`, then `draw(0, 312.0)` (the energy accumulator advances in
`resolution` µJ ticks with that power over wall time), `reload_driver(0)` (it restarts at 0),
`without("rsmi_dev_energy_count_get")` (an older library lacking the symbol) and per-device
`unsupported` function names (NOT_SUPPORTED). No AMD device was lent: behaviour follows the
header and rocm-smi's own use of these calls, not a recording.
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SUCCESS, NOT_SUPPORTED, INIT_ERROR = 0, 2, 8
# rsmi_gpu_block_t bits (a 64-bit enum: RSMI_GPU_BLOCK_RESERVED is 0x8000000000000000).
BLOCK_UMC, BLOCK_SDMA, BLOCK_GFX = 0x1, 0x2, 0x4
# kEnergyCounterResolution in src/rocm_smi.cc: µJ per accumulator tick, for every ASIC so far.
ENERGY_RESOLUTION_UJ = 15.3


class ErrorCount(ctypes.Structure):
    """`rsmi_error_count_t`: accumulated correctable and uncorrectable errors of one block."""

    _fields_ = (("correctable_err", ctypes.c_uint64), ("uncorrectable_err", ctypes.c_uint64))


_U32, _U64, _I64, _F32 = ctypes.c_uint32, ctypes.c_uint64, ctypes.c_int64, ctypes.c_float
_INT, _BUF = "uint32", "char*"
# name -> parameter kinds: "uint32", "uint64" (a value), "char*", or the pointee of a pointer.
PROTOTYPES: dict[str, tuple[Any, ...]] = {
    "rsmi_init": ("uint64",),
    "rsmi_shut_down": (),
    "rsmi_status_string": (_INT, ctypes.c_char_p),
    "rsmi_num_monitor_devices": (_U32,),
    "rsmi_version_str_get": (_INT, _BUF, _INT),
    "rsmi_dev_name_get": (_INT, _BUF, _INT),
    "rsmi_dev_unique_id_get": (_INT, _U64),
    "rsmi_dev_pci_id_get": (_INT, _U64),
    "rsmi_dev_busy_percent_get": (_INT, _U32),
    "rsmi_dev_memory_total_get": (_INT, _INT, _U64),
    "rsmi_dev_memory_usage_get": (_INT, _INT, _U64),
    "rsmi_dev_temp_metric_get": (_INT, _INT, _INT, _I64),
    "rsmi_dev_current_socket_power_get": (_INT, _U64),
    "rsmi_dev_power_ave_get": (_INT, _INT, _U64),
    "rsmi_dev_power_cap_get": (_INT, _INT, _U64),
    "rsmi_dev_energy_count_get": (_INT, _U64, _F32, _U64),
    "rsmi_dev_ecc_enabled_get": (_INT, _U64),
    "rsmi_dev_ecc_count_get": (_INT, "uint64", ErrorCount),
}
# Added after 5.2.3 (Debian's library lacks it): the source falls back to the average power.
NEWER_THAN_DEBIAN = frozenset({"rsmi_dev_current_socket_power_get"})


@dataclass
class FakeAmdGpu:
    """One fake GPU in the library's units: bytes, %, millidegrees, µW, µJ ticks."""

    name: str = "AMD Instinct MI300X"
    unique_id: int = 0x18F68E602B8A790F
    bdfid: int = 0x0C << 8
    busy_percent: int = 37
    vram_total: int = 206_141_652_992
    vram_used: int = 52_613_349_376
    # sensor (EDGE 0, JUNCTION 1, MEMORY 2) -> m°C; MI300X has no edge sensor.
    temperatures: dict[int, int] = field(default_factory=lambda: {1: 58_000, 2: 47_000})
    power_uw: int = 312_000_000
    power_cap_uw: int = 750_000_000
    energy_ticks: int = 2_000_000_000
    # When set, the clock reading from which `energy_ticks` advances at `power_uw`.
    energy_since: float | None = None
    resolution_uj: float = ENERGY_RESOLUTION_UJ
    ecc_enabled: int = BLOCK_UMC | BLOCK_GFX
    ecc: dict[int, tuple[int, int]] = field(
        default_factory=lambda: {BLOCK_UMC: (3, 0), BLOCK_GFX: (1, 1)}
    )
    unsupported: set[str] = field(default_factory=set)


class _Function:
    """One exported symbol: settable `argtypes`/`restype`, arguments checked when called."""

    def __init__(self, name: str, body: Callable[..., int]) -> None:
        self.name = name
        self.body = body
        self.argtypes: list[Any] | None = None
        self.restype: Any = ctypes.c_int

    def __call__(self, *args: Any) -> int:
        kinds = PROTOTYPES[self.name]
        if len(args) != len(kinds):
            raise TypeError(f"{self.name}: {len(args)} arguments, the prototype has {len(kinds)}")
        values = [
            self._check(i, kind, arg) for i, (kind, arg) in enumerate(zip(kinds, args, strict=True))
        ]
        return self.body(*values)

    def _check(self, position: int, kind: Any, arg: Any) -> Any:
        where = f"{self.name} argument {position}"
        if kind == _INT:
            if not isinstance(arg, int):
                raise TypeError(f"{where}: expected an int, got {type(arg).__name__}")
            return arg
        if kind == "uint64":
            declared = self.argtypes is not None and self.argtypes[position] is _U64
            if isinstance(arg, _U64):
                return arg.value
            if declared and isinstance(arg, int):
                return arg
            raise TypeError(f"{where}: a 64-bit value needs c_uint64 or declared argtypes")
        if kind == _BUF:
            if not isinstance(arg, ctypes.Array):
                raise TypeError(f"{where}: expected a string buffer")
            return arg
        target = getattr(arg, "_obj", None)
        if issubclass(kind, ctypes.Structure):  # the same layout, whoever declared it
            same = getattr(type(target), "_fields_", None) == kind._fields_
        else:
            same = type(target) is kind
        if not same:
            raise TypeError(f"{where}: expected byref({kind.__name__}), got {arg!r}")
        return target


class FakeRocmSmi:
    """Stands in for the `ctypes.CDLL` of `librocm_smi64`."""

    def __init__(
        self,
        devices: list[FakeAmdGpu] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.devices = devices if devices is not None else []
        self.clock = clock
        self.init_status = SUCCESS
        self.initialised = False
        for name in PROTOTYPES:
            setattr(self, name, _Function(name, getattr(self, "_" + name)))

    @classmethod
    def mi300x(cls, count: int) -> FakeRocmSmi:
        return cls(
            [
                FakeAmdGpu(unique_id=0x18F68E602B8A790F + i, bdfid=(0x0C + i) << 8)
                for i in range(count)
            ]
        )

    def without(self, *names: str) -> FakeRocmSmi:
        """The library of an older ROCm that does not export `names`."""
        for name in names:
            delattr(self, name)
        return self

    def energy_ticks(self, index: int) -> int:
        d = self.devices[index]
        if d.energy_since is None:
            return d.energy_ticks
        joules = d.power_uw / 1e6 * (self.clock() - d.energy_since)
        return d.energy_ticks + int(joules * 1e6 / d.resolution_uj)

    def draw(self, index: int, watts: float) -> None:
        """From now on device `index` draws `watts`, and its accumulator follows."""
        d = self.devices[index]
        d.energy_ticks, d.energy_since = self.energy_ticks(index), self.clock()
        d.power_uw = int(watts * 1e6)

    def reload_driver(self, index: int) -> None:
        """The amdgpu driver reloaded: the accumulator restarts at 0."""
        d = self.devices[index]
        d.energy_ticks = 0
        d.energy_since = self.clock() if d.energy_since is not None else None

    def _device(self, index: int, function: str) -> FakeAmdGpu | None:
        if not self.initialised or not 0 <= index < len(self.devices):
            return None
        d = self.devices[index]
        return None if function in d.unsupported else d

    def _rsmi_init(self, flags: int) -> int:
        if self.init_status == SUCCESS:
            self.initialised = True
        return self.init_status

    def _rsmi_shut_down(self) -> int:
        self.initialised = False
        return SUCCESS

    def _rsmi_status_string(self, status: int, text: ctypes.c_char_p) -> int:
        text.value = {INIT_ERROR: b"RSMI_STATUS_INIT_ERROR"}.get(status, b"RSMI_STATUS_UNKNOWN")
        return SUCCESS

    def _rsmi_num_monitor_devices(self, count: ctypes.c_uint32) -> int:
        count.value = len(self.devices)
        return SUCCESS

    def _rsmi_version_str_get(self, component: int, buffer: Any, length: int) -> int:
        buffer.value = b"6.8.5"[: length - 1]
        return SUCCESS

    def _write(
        self, index: int, function: str, out: Any, value: Callable[[FakeAmdGpu], Any]
    ) -> int:
        d = self._device(index, function)
        if d is None:
            return NOT_SUPPORTED if self.initialised else INIT_ERROR
        out.value = value(d)
        return SUCCESS

    def _rsmi_dev_name_get(self, index: int, buffer: Any, length: int) -> int:
        return self._write(index, "rsmi_dev_name_get", buffer, lambda d: d.name.encode())

    def _rsmi_dev_unique_id_get(self, index: int, out: Any) -> int:
        return self._write(index, "rsmi_dev_unique_id_get", out, lambda d: d.unique_id)

    def _rsmi_dev_pci_id_get(self, index: int, out: Any) -> int:
        return self._write(index, "rsmi_dev_pci_id_get", out, lambda d: d.bdfid)

    def _rsmi_dev_busy_percent_get(self, index: int, out: Any) -> int:
        return self._write(index, "rsmi_dev_busy_percent_get", out, lambda d: d.busy_percent)

    def _rsmi_dev_memory_total_get(self, index: int, kind: int, out: Any) -> int:
        return self._write(index, "rsmi_dev_memory_total_get", out, lambda d: d.vram_total)

    def _rsmi_dev_memory_usage_get(self, index: int, kind: int, out: Any) -> int:
        return self._write(index, "rsmi_dev_memory_usage_get", out, lambda d: d.vram_used)

    def _rsmi_dev_temp_metric_get(self, index: int, sensor: int, metric: int, out: Any) -> int:
        d = self._device(index, "rsmi_dev_temp_metric_get")
        if d is None or sensor not in d.temperatures:
            return NOT_SUPPORTED
        out.value = d.temperatures[sensor]
        return SUCCESS

    def _rsmi_dev_current_socket_power_get(self, index: int, out: Any) -> int:
        name = "rsmi_dev_current_socket_power_get"
        return self._write(index, name, out, lambda d: d.power_uw)

    def _rsmi_dev_power_ave_get(self, index: int, sensor: int, out: Any) -> int:
        return self._write(index, "rsmi_dev_power_ave_get", out, lambda d: d.power_uw)

    def _rsmi_dev_power_cap_get(self, index: int, sensor: int, out: Any) -> int:
        return self._write(index, "rsmi_dev_power_cap_get", out, lambda d: d.power_cap_uw)

    def _rsmi_dev_energy_count_get(
        self, index: int, ticks: Any, resolution: Any, stamp: Any
    ) -> int:
        status = self._write(
            index, "rsmi_dev_energy_count_get", ticks, lambda d: self.energy_ticks(index)
        )
        if status == SUCCESS:
            resolution.value = self.devices[index].resolution_uj
            stamp.value = int(self.clock() * 1e9)
        return status

    def _rsmi_dev_ecc_enabled_get(self, index: int, out: Any) -> int:
        return self._write(index, "rsmi_dev_ecc_enabled_get", out, lambda d: d.ecc_enabled)

    def _rsmi_dev_ecc_count_get(self, index: int, block: int, out: ErrorCount) -> int:
        d = self._device(index, "rsmi_dev_ecc_count_get")
        if d is None or not d.ecc_enabled & block or block not in d.ecc:
            return NOT_SUPPORTED
        out.correctable_err, out.uncorrectable_err = d.ecc[block]
        return SUCCESS
