"""The probe order (gpu.md §6): NVML → amdsmi → ROCm SMI library → rocm-smi CLI → Apple.

When none opens, the sampler reports the CPU fallback (backend `cpu`, reason `no_gpu`).
"""

from __future__ import annotations

from exporters._amdsmi import AmdSmiSource
from exporters._apple import AppleSource
from exporters._nvml import NvmlSource
from exporters._rocm_cli import RocmSmiCliSource
from exporters._rocm_smi import RocmSmiLibSource
from exporters._source import GpuSource


def default_sources(*, xid_hold_seconds: float = 600.0) -> list[GpuSource]:
    """Every backend in probe order; `xid_hold_seconds` is `gpu.xid_hold_seconds`."""
    return [
        NvmlSource(xid_hold_seconds=xid_hold_seconds),
        AmdSmiSource(),
        RocmSmiLibSource(),
        RocmSmiCliSource(),
        AppleSource(),
    ]
