"""AMD GPUs through the ROCm SMI C library (`librocm_smi64`, Debian `librocm-smi64-1`), gpu.md §3.2.

Loaded with ctypes; every call returns a uint32 status. NOT_SUPPORTED (2) on one call means the
metric is absent. Units at the edge: memory bytes, temperature millidegrees, power microwatts,
energy a 64-bit accumulator of `counter_resolution` µJ ticks (`rsmi_dev_energy_count_get`), ECC
errors per GPU block (`rsmi_dev_ecc_count_get`) for the blocks `rsmi_dev_ecc_enabled_get` names.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from pathlib import Path
from typing import Any

from exporters._amdsmi import accumulator_joules
from exporters._errors import BackendUnavailable, DeviceFailed
from exporters._source import GpuReading, SourceInfo

log = logging.getLogger("ollama_sidecar.gpu")

CANDIDATES = ("librocm_smi64.so.1", "librocm_smi64.so.7", "/opt/rocm/lib/librocm_smi64.so")
_SUCCESS, _NOT_SUPPORTED, _PERMISSION, _INIT_ERROR, _NOT_FOUND = 0, 2, 4, 8, 10
_AMD_VENDOR = "0x1002"
_TEMP_SENSORS = (("edge", 0), ("junction", 1), ("memory", 2))

# rsmi_gpu_block_t: one bit per block, RSMI_GPU_BLOCK_FIRST (UMC, 0x1) to _LAST (FUSE, 0x2000).
_ECC_BLOCKS = tuple(1 << bit for bit in range(14))

u32, u64, i64 = ctypes.c_uint32, ctypes.c_uint64, ctypes.c_int64


class _ErrorCount(ctypes.Structure):
    """`rsmi_error_count_t`."""

    _fields_ = (("correctable_err", u64), ("uncorrectable_err", u64))


def has_amd_device(sysfs: Path = Path("/sys")) -> bool:
    """True when a DRM card with AMD's PCI vendor id exists."""
    try:
        return any(
            (card / "device" / "vendor").read_text(encoding="ascii").strip() == _AMD_VENDOR
            for card in (sysfs / "class" / "drm").glob("card[0-9]*")
        )
    except OSError:
        return False


def load_library(candidates: tuple[str, ...] = CANDIDATES) -> ctypes.CDLL:
    """The first ROCm SMI library that loads; raises `BackendUnavailable`."""
    found = ctypes.util.find_library("rocm_smi64")
    for name in ((found,) if found else ()) + candidates:
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    raise BackendUnavailable("library_missing", "librocm_smi64 not found")


class RocmSmiLibSource:
    """`GpuSource` over `librocm_smi64` through ctypes; `library` stands in for the loaded
    library (a fake in tests)."""

    backend = "rocm_smi"

    def __init__(
        self,
        library: Any = None,
        *,
        candidates: tuple[str, ...] = CANDIDATES,
        sysfs: Path = Path("/sys"),
        check_sysfs: bool = True,
    ) -> None:
        self._library = library
        self._candidates = candidates
        self._sysfs = sysfs
        self._check_sysfs = check_sysfs
        self._lib: Any = None
        self._count = 0

    def open(self) -> SourceInfo:
        lib = self._library if self._library is not None else load_library(self._candidates)
        present = has_amd_device(self._sysfs)
        # rsmi_init on a host without AMD GPUs prints to stderr; skip it when sysfs says none.
        if self._check_sysfs and not present:
            raise BackendUnavailable("no_device", "no AMD GPU in /sys/class/drm")
        lib.rsmi_init.argtypes, lib.rsmi_init.restype = [u64], u32
        status = lib.rsmi_init(0)
        if status != _SUCCESS:
            reason = "no_device" if status == _INIT_ERROR and not present else "init_failed"
            raise BackendUnavailable(reason, f"rsmi_init: {self._status(lib, status)}")
        self._lib = lib
        count = u32(0)
        status = self._call("rsmi_num_monitor_devices", ctypes.byref(count))
        if status != _SUCCESS or count.value == 0:
            self.close()
            raise BackendUnavailable("no_device", "ROCm SMI found no AMD GPU")
        self._count = count.value
        driver = ctypes.create_string_buffer(256)
        ok = self._call("rsmi_version_str_get", 0, driver, 256) == _SUCCESS
        return SourceInfo(
            "rocm_smi",
            "amd",
            self._count,
            driver.value.decode(errors="replace") if ok else None,
            None,
            "rocm",
        )

    def close(self) -> None:
        lib, self._lib = self._lib, None
        if lib is not None:
            lib.rsmi_shut_down()

    def read(self, index: int) -> GpuReading:
        name = ctypes.create_string_buffer(256)
        status = self._call("rsmi_dev_name_get", index, name, 256)
        if status not in (_SUCCESS, _NOT_SUPPORTED):
            raise DeviceFailed("error", f"GPU {index}: rsmi_dev_name_get status {status}")
        uid = self._u64("rsmi_dev_unique_id_get", index)
        pci = self._u64("rsmi_dev_pci_id_get", index)
        busy = self._u32("rsmi_dev_busy_percent_get", index)
        total = self._u64("rsmi_dev_memory_total_get", index, 0)
        used = self._u64("rsmi_dev_memory_usage_get", index, 0)
        temps = []
        for sensor, code in _TEMP_SENSORS:
            value = i64(0)
            if self._call("rsmi_dev_temp_metric_get", index, code, 0, ctypes.byref(value)) == 0:
                temps.append((sensor, value.value / 1000.0))
        power = self._u64("rsmi_dev_current_socket_power_get", index)
        if power is None:
            power = self._u64("rsmi_dev_power_ave_get", index, 0)
        cap = self._u64("rsmi_dev_power_cap_get", index, 0)
        joules, wrap = self._energy(index)
        corrected, uncorrected = self._ecc(index)
        return GpuReading(
            index=index,
            vendor="amd",
            name=name.value.decode(errors="replace") or "AMD GPU",
            uuid=f"{uid:016x}" if uid is not None else f"amd-{index}",
            pci_bus_id=_bdf(pci) if pci is not None else None,
            memory_total_bytes=total,
            memory_used_bytes=used,
            utilization_ratio=busy / 100.0 if busy is not None else None,
            temperatures_celsius=tuple(temps),
            power_watts=power / 1e6 if power is not None else None,
            power_limit_watts=cap / 1e6 if cap else None,
            energy_joules=joules,
            energy_wrap_joules=wrap,
            ecc_corrected_errors=corrected,
            ecc_uncorrected_errors=uncorrected,
        )

    def _energy(self, index: int) -> tuple[float | None, float | None]:
        ticks, resolution, stamp = u64(0), ctypes.c_float(0.0), u64(0)
        refs = (ctypes.byref(ticks), ctypes.byref(resolution), ctypes.byref(stamp))
        if self._call("rsmi_dev_energy_count_get", index, *refs) != _SUCCESS:
            return None, None
        return accumulator_joules(ticks.value, resolution.value)

    def _ecc(self, index: int) -> tuple[int | None, int | None]:
        """Summed over the blocks with ECC enabled; absent when none is (ECC off)."""
        enabled = self._u64("rsmi_dev_ecc_enabled_get", index) or 0
        counted, corrected, uncorrected = False, 0, 0
        for block in _ECC_BLOCKS:
            count = _ErrorCount()
            if block & enabled and (
                self._call("rsmi_dev_ecc_count_get", index, u64(block), ctypes.byref(count))
                == _SUCCESS
            ):
                counted = True
                corrected += count.correctable_err
                uncorrected += count.uncorrectable_err
        return (corrected, uncorrected) if counted else (None, None)

    def _call(self, function: str, *args: Any) -> int:
        fn = getattr(self._lib, function, None)
        if fn is None:
            return _NOT_SUPPORTED
        fn.restype = u32
        return int(fn(*args))

    def _u64(self, function: str, *args: Any) -> int | None:
        value = u64(0)
        return value.value if self._call(function, *args, ctypes.byref(value)) == 0 else None

    def _u32(self, function: str, *args: Any) -> int | None:
        value = u32(0)
        return value.value if self._call(function, *args, ctypes.byref(value)) == 0 else None

    @staticmethod
    def _status(lib: Any, status: int) -> str:
        text = ctypes.c_char_p()
        lib.rsmi_status_string.argtypes = [u32, ctypes.POINTER(ctypes.c_char_p)]
        if lib.rsmi_status_string(status, ctypes.byref(text)) == 0 and text.value:
            return f"{status} ({text.value.decode(errors='replace')})"
        return str(status)


def _bdf(bdfid: int) -> str:
    """rsmi's BDFID packs domain<<32 | bus<<8 | device<<3 | function."""
    domain, bus = (bdfid >> 32) & 0xFFFFFFFF, (bdfid >> 8) & 0xFF
    return f"{domain:04x}:{bus:02x}:{(bdfid >> 3) & 0x1F:02x}.{bdfid & 0x7}"
