"""AMD GPUs through the `amdsmi` Python package (gpu.md §3.1).

`import amdsmi` on a host without ROCm fails with `KeyError`, not `ImportError`, so the import
guard catches `Exception`. Units: VRAM in MB (MiB), temperature °C, power W, caps µW, "N/A"
strings for absent values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from exporters._errors import BackendUnavailable, DeviceFailed
from exporters._processes import is_ollama_process
from exporters._source import GpuProcess, GpuReading, SourceInfo

_MIB = 1024 * 1024
_NOT_SUPPORTED = 2


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value >= 0xFFFF_FFFF:
        return None
    return float(value)


def accumulator_joules(ticks: Any, resolution_uj: Any) -> tuple[float | None, float | None]:
    """An AMD energy accumulator (a 64-bit count of `resolution_uj` µJ ticks, amdsmi and ROCm
    SMI alike) → (joules, the counter's width in joules). A count of 0 (the secondary die of an
    MI200/MI300 package, which rocm-smi detects that way) or of 2^64 - 1 (not supported) is
    absent, never 0 J."""
    if isinstance(ticks, bool) or not isinstance(ticks, int) or not 0 < ticks < 2**64 - 1:
        return None, None
    if isinstance(resolution_uj, bool) or not isinstance(resolution_uj, (int, float)):
        return None, None
    if not resolution_uj > 0:
        return None, None
    return ticks * resolution_uj / 1e6, 2**64 * resolution_uj / 1e6


def _energy(count: Any) -> tuple[float | None, float | None]:
    """`amdsmi_get_energy_count`: the accumulator is `energy_accumulator` (amdsmi 6.2+) or
    `power` (older), with `counter_resolution` µJ per tick."""
    return accumulator_joules(
        count.get("energy_accumulator", count.get("power")), count.get("counter_resolution")
    )


def _ecc(counts: Any) -> tuple[int | None, int | None]:
    """`amdsmi_get_gpu_total_ecc_count`: the device's correctable and uncorrectable totals
    (`deferred_count`, in newer releases, is neither and left out)."""
    return _count(counts.get("correctable_count")), _count(counts.get("uncorrectable_count"))


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**64 - 1:
        return None
    return value


class AmdSmiSource:
    """`GpuSource` over `amdsmi`; `module` is the binding (a fake in tests)."""

    backend = "amdsmi"

    def __init__(
        self, module: Any = None, *, is_ollama: Callable[[int], bool] = is_ollama_process
    ) -> None:
        self._module = module
        self._is_ollama = is_ollama
        self._smi: Any = None
        self._handles: list[Any] = []

    def open(self) -> SourceInfo:
        smi = self._module
        if smi is None:
            try:
                import amdsmi

                smi = amdsmi
            except Exception as exc:  # KeyError when libamd_smi.so is missing
                raise BackendUnavailable("library_missing", f"import amdsmi: {exc!r}") from exc
        try:
            smi.amdsmi_init(smi.AmdSmiInitFlags.INIT_AMD_GPUS)
        except smi.AmdSmiException as exc:
            raise BackendUnavailable("init_failed", f"amdsmi_init: {exc}") from exc
        self._smi = smi
        self._handles = list(smi.amdsmi_get_processor_handles())
        if not self._handles:
            self.close()
            raise BackendUnavailable("no_device", "amdsmi found no AMD GPU")
        driver = self._get(smi.amdsmi_get_gpu_driver_info, self._handles[0]) or {}
        return SourceInfo(
            "amdsmi", "amd", len(self._handles), driver.get("driver_version"), None, "rocm"
        )

    def close(self) -> None:
        smi, self._smi = self._smi, None
        if smi is not None:
            try:
                smi.amdsmi_shut_down()
            except Exception:  # best effort on a failing driver
                pass

    def read(self, index: int) -> GpuReading:
        smi, h = self._smi, self._handles[index]
        try:
            asic = self._get(smi.amdsmi_get_gpu_asic_info, h) or {}
            uuid = self._get(smi.amdsmi_get_gpu_device_uuid, h)
            bdf = self._get(smi.amdsmi_get_gpu_device_bdf, h)
            activity = self._get(smi.amdsmi_get_gpu_activity, h) or {}
            vram = self._get(smi.amdsmi_get_gpu_vram_usage, h) or {}
            power = self._get(smi.amdsmi_get_power_info, h) or {}
            cap = self._get(smi.amdsmi_get_power_cap_info, h) or {}
            energy = self._get(smi.amdsmi_get_energy_count, h) or {}
            ecc = self._get(smi.amdsmi_get_gpu_total_ecc_count, h) or {}
            processes = self._processes(h)
            temps = []
            for sensor in ("EDGE", "HOTSPOT", "VRAM"):
                value = _num(
                    self._get(
                        smi.amdsmi_get_temp_metric,
                        h,
                        getattr(smi.AmdSmiTemperatureType, sensor),
                        smi.AmdSmiTemperatureMetric.CURRENT,
                    )
                )
                if value is not None:
                    temps.append((sensor.lower(), value))
        except smi.AmdSmiException as exc:
            raise DeviceFailed("error", f"GPU {index}: {exc}") from exc
        busy = _num(activity.get("gfx_activity"))
        total, used = _num(vram.get("vram_total")), _num(vram.get("vram_used"))
        watts = _num(power.get("average_socket_power"))
        if watts is None:
            watts = _num(power.get("current_socket_power"))
        cap_uw = _num(cap.get("power_cap"))
        joules, wrap = _energy(energy)
        corrected, uncorrected = _ecc(ecc)
        return GpuReading(
            index=index,
            vendor="amd",
            name=str(asic.get("market_name") or "AMD GPU"),
            uuid=str(uuid or f"amd-{index}"),
            pci_bus_id=str(bdf) if bdf else None,
            memory_total_bytes=int(total * _MIB) if total is not None else None,
            memory_used_bytes=int(used * _MIB) if used is not None else None,
            utilization_ratio=busy / 100.0 if busy is not None else None,
            temperatures_celsius=tuple(temps),
            power_watts=watts,
            power_limit_watts=cap_uw / 1e6 if cap_uw else None,
            energy_joules=joules,
            energy_wrap_joules=wrap,
            ecc_corrected_errors=corrected,
            ecc_uncorrected_errors=uncorrected,
            processes=processes,
        )

    def _processes(self, h: Any) -> tuple[GpuProcess, ...] | None:
        """`amdsmi_get_gpu_process_list`: dicts with `pid` and `memory_usage.vram_mem` (bytes)
        in amdsmi 6+, process handles for `amdsmi_get_gpu_process_info` before."""
        smi = self._smi
        listed = self._get(smi.amdsmi_get_gpu_process_list, h)
        if listed is None:
            return None
        out = []
        for item in listed:
            info = (
                item
                if isinstance(item, dict)
                else self._get(smi.amdsmi_get_gpu_process_info, h, item)
            )
            if not isinstance(info, dict) or not isinstance(info.get("pid"), int):
                continue
            usage = info.get("memory_usage")
            vram = usage.get("vram_mem") if isinstance(usage, dict) else None
            pid = int(info["pid"])
            used = int(vram) if isinstance(vram, int) and not isinstance(vram, bool) else None
            out.append(GpuProcess(pid, used, self._is_ollama(pid)))
        return tuple(out)

    def _get(self, fn: Any, *args: Any) -> Any:
        """A reading, or None when the device does not support it."""
        try:
            return fn(*args)
        except self._smi.AmdSmiLibraryException as exc:
            if getattr(exc, "err_code", None) == _NOT_SUPPORTED:
                return None
            raise
