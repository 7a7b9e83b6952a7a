"""The processor decision: where a request's model ran (ollama-api.md §9).

Ollama's rule, as `ollama ps` prints it: size_vram == 0 → cpu; size_vram == size → gpu;
size_vram > size or size == 0 → unknown; otherwise partial. No `/api/ps` entry → unknown.

Against the GPUs we see:
- a GPU backend is active but no device is healthy → unknown: Ollama's figures describe a GPU
  that has since failed, so we cannot vouch for either answer;
- no GPU backend at all (CPU fallback) but Ollama reports VRAM → Ollama's answer with no GPU
  listed: the runner is the authority on where its weights are, and the exporter may merely
  lack access (a container without NVML, a missing library);
- Apple Metal reports size_vram == size, which is gpu like any other.
The GPUs listed are those running an Ollama process when the driver says so, else every
healthy GPU.
"""

from __future__ import annotations

from exporters._ollama import ModelResidency
from exporters._sampler import GpuSnapshot
from exporters._source import GpuReading
from telemetry.core import UNKNOWN_PLACEMENT, GpuRef, Placement, Processor


def ollama_processor(size: int, size_vram: int) -> Processor:
    if size_vram == 0:
        return Processor.CPU
    if size_vram == size:
        return Processor.GPU
    if size_vram > size or size == 0:
        return Processor.UNKNOWN
    return Processor.PARTIAL


def gpu_refs(devices: tuple[GpuReading, ...]) -> tuple[GpuRef, ...]:
    healthy = [d for d in devices if d.healthy]
    running = [d for d in healthy if d.processes and any(p.ollama for p in d.processes)]
    return tuple(
        GpuRef(d.vendor, d.name, d.uuid, d.memory_total_bytes) for d in (running or healthy)
    )


def decide(
    residency: ModelResidency | None, snapshot: GpuSnapshot, refs: tuple[GpuRef, ...]
) -> Placement:
    """The placement of a model given its `/api/ps` entry and the GPUs as last sampled."""
    if residency is None:
        return UNKNOWN_PLACEMENT
    size, vram = residency.size_bytes, residency.size_vram_bytes
    processor = ollama_processor(size, vram)
    if processor in (Processor.GPU, Processor.PARTIAL):
        if snapshot.info is not None and snapshot.devices and not refs:
            processor = Processor.UNKNOWN
    gpus = refs if processor in (Processor.GPU, Processor.PARTIAL) else ()
    return Placement(processor, size, vram, gpus)
