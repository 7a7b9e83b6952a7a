"""Apple Silicon: `powermetrics` when it may run (root), static facts otherwise (gpu.md §4).

`powermetrics -f plist` writes NUL-separated plist documents; the last complete one is parsed.
`gpu.freq_hz` is in MHz despite its name; `gpu.gpu_energy` is mJ over `elapsed_ns`. Without
privilege the device still appears with its chip name and unified memory, and Ollama's
`size_vram == size` says the rest.
"""

from __future__ import annotations

import platform
import plistlib
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

from exporters._errors import BackendUnavailable, SourceFailed
from exporters._source import GpuReading, SourceInfo

POWERMETRICS = (
    "sudo",
    "-n",
    "powermetrics",
    "--samplers",
    "gpu_power",
    "-f",
    "plist",
    "-i",
    "500",
    "-n",
    "1",
)


@dataclass(frozen=True, slots=True)
class GpuPower:
    """One powermetrics GPU sample in base units."""

    active_ratio: float | None
    clock_hertz: float | None
    power_watts: float | None
    thermal_pressure: str | None


def parse_powermetrics(data: bytes) -> GpuPower:
    """The last complete plist document of `powermetrics -f plist` output."""
    documents = [part for part in data.split(b"\0") if part.strip()]
    for raw in reversed(documents):
        try:
            doc = plistlib.loads(raw.strip())
        except Exception:  # a truncated trailing document; try the one before
            continue
        gpu = doc.get("gpu") if isinstance(doc, dict) else None
        if not isinstance(gpu, dict):
            continue
        idle, mhz = gpu.get("idle_ratio"), gpu.get("freq_hz")
        energy, elapsed = gpu.get("gpu_energy"), doc.get("elapsed_ns")
        watts = None
        if isinstance(energy, (int, float)) and isinstance(elapsed, int) and elapsed > 0:
            watts = energy / (elapsed / 1e9) / 1000.0
        pressure = doc.get("thermal_pressure")
        return GpuPower(
            active_ratio=1.0 - float(idle) if isinstance(idle, (int, float)) else None,
            clock_hertz=float(mhz) * 1e6 if isinstance(mhz, (int, float)) else None,
            power_watts=watts,
            thermal_pressure=pressure if isinstance(pressure, str) else None,
        )
    raise SourceFailed("bad_output", "powermetrics: no complete plist with a gpu section")


def _run(argv: tuple[str, ...]) -> bytes:
    done = subprocess.run(argv, capture_output=True, timeout=5, check=False)
    if done.returncode != 0:
        raise SourceFailed("no_permission", f"{argv[0]} exited {done.returncode}")
    return done.stdout


def _sysctl(name: str) -> str:
    return _run(("sysctl", "-n", name)).decode().strip()


class AppleSource:
    """`GpuSource` for the one integrated GPU of an Apple Silicon Mac."""

    backend = "apple"

    def __init__(
        self,
        *,
        system: str | None = None,
        machine: str | None = None,
        runner: Callable[[tuple[str, ...]], bytes] = _run,
        sysctl: Callable[[str], str] = _sysctl,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._system = system or platform.system()
        self._machine = machine or platform.machine()
        self._runner = runner
        self._sysctl = sysctl
        self._privileged = False
        self._identity: GpuReading | None = None
        self._clock = clock
        # powermetrics has no energy counter: its GPU power, integrated over wall time since
        # the last reading, makes one. A failed reading restarts it at 0 (a reset, so a request
        # spanning the gap gets no energy rather than a guess).
        self._joules = 0.0
        self._read_at: float | None = None

    def open(self) -> SourceInfo:
        if self._system != "Darwin" or self._machine != "arm64":
            raise BackendUnavailable("not_apple_silicon", f"{self._system} {self._machine}")
        try:
            chip, memory = self._sysctl("machdep.cpu.brand_string"), int(self._sysctl("hw.memsize"))
            version = self._sysctl("kern.osproductversion")
        except (SourceFailed, OSError, ValueError, subprocess.SubprocessError) as exc:
            raise BackendUnavailable("init_failed", f"sysctl: {exc}") from exc
        self._identity = GpuReading(
            0, "apple", chip, f"apple-{chip.replace(' ', '-')}", memory_total_bytes=memory
        )
        try:
            parse_powermetrics(self._runner(POWERMETRICS))
            self._privileged = True
        except (SourceFailed, OSError, subprocess.SubprocessError):
            self._privileged = False
        return SourceInfo("apple", "apple", 1, version, None, "metal")

    def read(self, index: int) -> GpuReading:
        assert self._identity is not None
        if not self._privileged:
            return self._identity
        try:
            power = parse_powermetrics(self._runner(POWERMETRICS))
        except (SourceFailed, OSError, subprocess.SubprocessError):
            self._joules, self._read_at = 0.0, None
            return self._identity
        now = self._clock()
        if power.power_watts is None:
            self._joules, self._read_at = 0.0, None
        else:
            if self._read_at is not None:
                self._joules += power.power_watts * (now - self._read_at)
            self._read_at = now
        i = self._identity
        return GpuReading(
            index=0,
            vendor="apple",
            name=i.name,
            uuid=i.uuid,
            memory_total_bytes=i.memory_total_bytes,
            utilization_ratio=power.active_ratio,
            sm_clock_hertz=power.clock_hertz,
            power_watts=power.power_watts,
            energy_joules=self._joules if self._read_at is not None else None,
        )

    def close(self) -> None:
        self._identity = None
