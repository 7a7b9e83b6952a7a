"""GPU exporters (NVIDIA NVML, AMD SMI / ROCm SMI, Apple), Ollama's residency view, the
processor decision for receipts, and `ollama-sidecar inventory`. Doubles: `exporters.testing`."""

from exporters._amdsmi import AmdSmiSource
from exporters._apple import AppleSource, GpuPower, parse_powermetrics
from exporters._collector import GpuCollector
from exporters._errors import BackendUnavailable, DeviceFailed, ExporterError, SourceFailed
from exporters._inventory import HostInventory, tier_for_host
from exporters._monitor import GpuMonitor
from exporters._nvml import NvmlSource
from exporters._ollama import (
    AiohttpOllamaClient,
    ModelResidency,
    OllamaClient,
    OllamaUnavailable,
    OllamaView,
)
from exporters._probe import default_sources
from exporters._processor import decide, ollama_processor
from exporters._rocm_cli import RocmSmiCliSource, parse_amd_smi_json, parse_rocm_smi_json
from exporters._rocm_smi import RocmSmiLibSource
from exporters._sampler import BackendState, GpuSampler, GpuSnapshot
from exporters._source import (
    GpuProcess,
    GpuReading,
    GpuSource,
    SourceInfo,
)

__all__ = [
    "AiohttpOllamaClient",
    "AmdSmiSource",
    "AppleSource",
    "BackendState",
    "BackendUnavailable",
    "DeviceFailed",
    "ExporterError",
    "GpuCollector",
    "GpuMonitor",
    "GpuPower",
    "GpuProcess",
    "GpuReading",
    "GpuSampler",
    "GpuSnapshot",
    "GpuSource",
    "HostInventory",
    "ModelResidency",
    "NvmlSource",
    "OllamaClient",
    "OllamaUnavailable",
    "OllamaView",
    "RocmSmiCliSource",
    "RocmSmiLibSource",
    "SourceFailed",
    "SourceInfo",
    "decide",
    "default_sources",
    "ollama_processor",
    "parse_amd_smi_json",
    "parse_powermetrics",
    "parse_rocm_smi_json",
    "tier_for_host",
]
