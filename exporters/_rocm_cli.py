"""AMD GPUs from the `rocm-smi --json` and `amd-smi metric --json` CLIs (gpu.md §3.3).

rocm-smi: an object keyed `card<N>`, every value a string, the unit inside the key name, an
unsupported metric missing. `--showenergycounter` adds "Energy counter" (ticks) and "Accumulated
Energy (uJ)" (ticks times the library's counter resolution, `showEnergy` in rocm_smi.py).
amd-smi: `{value, unit}` objects, memory in MB (MiB).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from typing import Any

from exporters._amdsmi import accumulator_joules
from exporters._errors import BackendUnavailable, DeviceFailed, SourceFailed
from exporters._source import GpuReading, SourceInfo

ROCM_SMI_ARGS = (
    "--showproductname",
    "--showuniqueid",
    "--showbus",
    "--showuse",
    "--showmeminfo",
    "vram",
    "--showpower",
    "--showtemp",
    "--showdriverversion",
    "--showenergycounter",
    "--json",
)
_MIB = 1024 * 1024
_TEMP_KEY = re.compile(r"Temperature \(Sensor (\w+)\) \(C\)")


def _num(value: Any) -> float | None:
    try:
        number = float(str(value).strip().split()[0])
    except (ValueError, IndexError):
        return None
    return number if number >= 0 else None


def parse_rocm_smi_json(text: str) -> tuple[list[GpuReading], str | None]:
    """`rocm-smi ... --json` output → readings in base units, and the driver version."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise SourceFailed("bad_output", f"rocm-smi --json: {exc}") from exc
    if not isinstance(data, Mapping):
        raise SourceFailed("bad_output", "rocm-smi --json: expected an object")
    system = data.get("system") if isinstance(data.get("system"), Mapping) else {}
    driver = system.get("Driver version") if isinstance(system, Mapping) else None
    cards = sorted((k for k in data if re.fullmatch(r"card\d+", k)), key=lambda k: int(k[4:]))
    readings = []
    for position, key in enumerate(cards):
        card = data[key]
        if not isinstance(card, Mapping):
            continue
        total, used = (
            _num(card.get("VRAM Total Memory (B)")),
            _num(card.get("VRAM Total Used Memory (B)")),
        )
        busy = _num(card.get("GPU use (%)"))
        power = _num(card.get("Current Socket Graphics Package Power (W)"))
        if power is None:
            power = _num(card.get("Average Graphics Package Power (W)"))
        temps = tuple(
            (match.group(1).lower(), value)
            for name, raw in card.items()
            if (match := _TEMP_KEY.fullmatch(name)) and (value := _num(raw)) is not None
        )
        uid = card.get("Unique ID")
        joules, wrap = _cli_energy(card)
        readings.append(
            GpuReading(
                index=position,
                vendor="amd",
                name=str(card.get("Card Series") or card.get("Card series") or "AMD GPU"),
                uuid=str(uid) if uid else f"amd-{key}",
                pci_bus_id=str(card["PCI Bus"]) if card.get("PCI Bus") else None,
                memory_total_bytes=int(total) if total is not None else None,
                memory_used_bytes=int(used) if used is not None else None,
                utilization_ratio=busy / 100.0 if busy is not None else None,
                temperatures_celsius=temps,
                power_watts=power,
                energy_joules=joules,
                energy_wrap_joules=wrap,
            )
        )
    return readings, str(driver) if driver else None


def _cli_energy(card: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """The accumulator as the library reports it: the resolution is the µJ over the ticks."""
    ticks, micro = _num(card.get("Energy counter")), _num(card.get("Accumulated Energy (uJ)"))
    if ticks is None or micro is None or not ticks.is_integer() or ticks <= 0:
        return None, None
    return accumulator_joules(int(ticks), micro / ticks)


def _value(entry: Any) -> tuple[float | None, str]:
    if isinstance(entry, Mapping):
        return _num(entry.get("value")), str(entry.get("unit", ""))
    return _num(entry), ""


_WATTS = {"W": 1.0, "mW": 1e-3, "uW": 1e-6}
_BYTES = {"B": 1, "KB": 1024, "MB": _MIB, "GB": 1024 * _MIB}


def parse_amd_smi_json(text: str) -> list[GpuReading]:
    """`amd-smi metric --json` output (a list, or `{"gpu_data": [...]}`) → readings."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise SourceFailed("bad_output", f"amd-smi --json: {exc}") from exc
    items = data.get("gpu_data", []) if isinstance(data, Mapping) else data
    if not isinstance(items, list):
        raise SourceFailed("bad_output", "amd-smi --json: expected a list of GPUs")
    readings = []
    for position, gpu in enumerate(items):
        if not isinstance(gpu, Mapping):
            continue
        usage, power = gpu.get("usage") or {}, gpu.get("power") or {}
        mem, temp = gpu.get("mem_usage") or {}, gpu.get("temperature") or {}
        busy, _ = _value(usage.get("gfx_activity"))
        watts, unit = _value(power.get("socket_power"))
        total, total_unit = _value(mem.get("total_vram"))
        used, used_unit = _value(mem.get("used_vram"))
        temps = tuple(
            (sensor, value)
            for sensor in ("edge", "hotspot", "mem")
            if (value := _value(temp.get(sensor))[0]) is not None
        )
        index = gpu.get("gpu", position)
        readings.append(
            GpuReading(
                index=index if isinstance(index, int) else position,
                vendor="amd",
                name=str(gpu.get("name") or "AMD GPU"),
                uuid=str(gpu.get("uuid") or f"amd-{position}"),
                pci_bus_id=str(gpu["bdf"]) if gpu.get("bdf") else None,
                memory_total_bytes=int(total * _BYTES.get(total_unit, _MIB)) if total else None,
                memory_used_bytes=int(used * _BYTES.get(used_unit, _MIB))
                if used is not None
                else None,
                utilization_ratio=busy / 100.0 if busy is not None else None,
                temperatures_celsius=temps,
                power_watts=watts * _WATTS.get(unit, 1.0) if watts is not None else None,
            )
        )
    return readings


Runner = Callable[[tuple[str, ...]], str]


def run_command(argv: tuple[str, ...], timeout: float = 10.0) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise SourceFailed("command_failed", f"{argv[0]} exited {done.returncode}")
    return done.stdout


class RocmSmiCliSource:
    """`GpuSource` over `rocm-smi --json`; one command per round, cached across device reads."""

    backend = "rocm_smi_cli"

    def __init__(self, runner: Runner | None = None, executable: str | None = None) -> None:
        self._runner = runner or run_command
        self._exe = executable
        self._cache: list[GpuReading] = []

    def open(self) -> SourceInfo:
        exe = self._exe or shutil.which("rocm-smi")
        if exe is None:
            raise BackendUnavailable("library_missing", "rocm-smi is not on PATH")
        self._exe = exe
        try:
            readings, driver = parse_rocm_smi_json(self._runner((exe, *ROCM_SMI_ARGS)))
        except (SourceFailed, OSError, subprocess.SubprocessError) as exc:
            raise BackendUnavailable("init_failed", f"rocm-smi: {exc}") from exc
        if not readings:
            raise BackendUnavailable("no_device", "rocm-smi lists no AMD GPU")
        self._cache = readings
        return SourceInfo("rocm_smi_cli", "amd", len(readings), driver, None, "rocm")

    def read(self, index: int) -> GpuReading:
        if index == 0 or not self._cache:
            assert self._exe is not None
            try:
                self._cache = parse_rocm_smi_json(self._runner((self._exe, *ROCM_SMI_ARGS)))[0]
            except (OSError, subprocess.SubprocessError) as exc:
                raise SourceFailed("command_failed", f"rocm-smi: {exc}") from exc
        for reading in self._cache:
            if reading.index == index:
                return reading
        raise DeviceFailed("lost", f"rocm-smi no longer lists card {index}")

    def close(self) -> None:
        self._cache = []
