"""Test doubles for the users of `exporters`: an in-memory GPU source, a plausible reading, an
Ollama API client answering from a dict, a scenario fake of `pynvml` (imports `pynvml`) and one
of the ROCm SMI C library as ctypes calls it.

Kept out of `exporters.__all__`, the way `httpx.MockTransport` is offered: import them from here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from exporters._errors import BackendUnavailable, DeviceFailed
from exporters._fake_nvml import FakeDevice, FakeNvml
from exporters._fake_rocm_smi import FakeAmdGpu, FakeRocmSmi
from exporters._ollama import OllamaUnavailable
from exporters._source import GpuReading, SourceInfo

__all__ = [
    "FakeAmdGpu",
    "FakeDevice",
    "FakeGpuSource",
    "FakeNvml",
    "FakeOllamaClient",
    "FakeRocmSmi",
    "fake_reading",
]


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


class FakeOllamaClient:
    """`OllamaClient` answering from `responses` (path → JSON); a missing path is unreachable."""

    def __init__(self, responses: Mapping[str, object] | None = None) -> None:
        self.responses: dict[str, object] = dict(responses or {})
        self.requests: list[str] = []

    async def get_json(self, path: str) -> object:
        self.requests.append(path)
        if path not in self.responses:
            raise OllamaUnavailable("unreachable", f"fake Ollama has no {path}")
        return self.responses[path]

    def set_ps(self, *models: tuple[str, int, int]) -> None:
        """Set `/api/ps` from (name, size, size_vram) triples."""
        self.responses["/api/ps"] = {
            "models": [
                {"name": n, "model": n, "size": s, "size_vram": v, "digest": f"sha-{n}"}
                for n, s, v in models
            ]
        }
