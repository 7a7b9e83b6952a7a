"""Golem market properties: what a provider offers, what a requestor demands for a model tier.

GPU properties follow GAP-35 (golemfactory/golem-architecture `gaps/gap-35_gpu_pci_capability`):
`golem.!exp.gap-35.v1.inf.gpu.{model, cuda.enabled, cuda.version, memory.total.gib, ...}`,
indexed per device group as current offers and requestors' constraints use them
(`...inf.gpu.d0.model`, `...inf.gpu.d0.quantity`): identical cards form one group, the group
with the most memory is `d0`. The GAP is written for NVIDIA; AMD and Apple GPUs use the same
keys (no `cuda.*`), and every group also carries our vendor key
`golem.!exp.ollama-sidecar.v1.inf.gpu.dN.vendor` (`nvidia`, `amd`, `apple`).

The receipt log's identity goes under our experimental namespace, so an agreement freezes the
key receipts must verify against: `golem.!exp.ollama-sidecar.v1.receipts.{origin,
verifier-key, fetch-prefix}` (and `witnesses`, a list of witness verifier keys, once there are
any). `...v1.tiers` lists the model tiers the host can serve (see docs/decisions/0002).

Demands are Golem constraint expressions (LDAP-like filters). A GPU tier asks for the vendor,
the tier, and at least the tier's VRAM on the largest card, with the 95% slack the inventory
uses (a "24 GB" card reports 23.99 GiB); the CPU tier asks for a host with no GPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from exporters._sampler import GpuSnapshot
from telemetry.core._config import Tier

GAP35 = "golem.!exp.gap-35.v1.inf.gpu"
OURS = "golem.!exp.ollama-sidecar.v1"
VENDORS = ("nvidia", "amd", "apple")
VRAM_SLACK = 0.95
_GIB = 1024**3


@dataclass(frozen=True)
class LogIdentity:
    """Who signs the receipts, and where a requestor fetches them."""

    origin: str
    verifier_key: str
    fetch_prefix: str
    witnesses: tuple[str, ...] = ()


@dataclass(frozen=True)
class Demand:
    constraints: str
    properties: dict[str, object]


def _gib(memory_bytes: int | None) -> float | None:
    return None if memory_bytes is None else round(memory_bytes / _GIB, 2)


def gpu_properties(snapshot: GpuSnapshot) -> dict[str, object]:
    """GAP-35 properties of the healthy GPUs, one set per group of identical cards."""
    groups: dict[tuple[str, str, int | None], int] = {}
    for device in snapshot.healthy:
        key = (device.vendor, device.name, device.memory_total_bytes)
        groups[key] = groups.get(key, 0) + 1
    ordered = sorted(groups.items(), key=lambda item: -(item[0][2] or 0))
    info = snapshot.info
    cuda_version = info.runtime_version if info and info.runtime == "cuda" else None
    properties: dict[str, object] = {}
    for n, ((vendor, name, memory), quantity) in enumerate(ordered):
        gap, ours = f"{GAP35}.d{n}", f"{OURS}.inf.gpu.d{n}"
        properties[f"{gap}.model"] = name
        properties[f"{gap}.quantity"] = quantity
        if (gib := _gib(memory)) is not None:
            properties[f"{gap}.memory.total.gib"] = gib
        if vendor == "nvidia":
            properties[f"{gap}.cuda.enabled"] = True
            if cuda_version:
                properties[f"{gap}.cuda.version"] = cuda_version
        properties[f"{ours}.vendor"] = vendor
    return properties


def servable_tiers(snapshot: GpuSnapshot, tiers: Sequence[Tier]) -> list[str]:
    """The tiers whose VRAM the largest healthy card has (with slack); `cpu`-like ones always."""
    largest = max((d.memory_total_bytes or 0 for d in snapshot.healthy), default=0)
    return [t.name for t in tiers if largest >= t.min_vram_gib * _GIB * VRAM_SLACK]


def offer_properties(
    snapshot: GpuSnapshot, tiers: Sequence[Tier], identity: LogIdentity
) -> dict[str, object]:
    properties = gpu_properties(snapshot)
    properties[f"{OURS}.tiers"] = servable_tiers(snapshot, tiers)
    properties[f"{OURS}.receipts.origin"] = identity.origin
    properties[f"{OURS}.receipts.verifier-key"] = identity.verifier_key
    properties[f"{OURS}.receipts.fetch-prefix"] = identity.fetch_prefix
    if identity.witnesses:
        properties[f"{OURS}.receipts.witnesses"] = list(identity.witnesses)
    return properties


def demand_for(tier: Tier, vendor: str) -> Demand:
    """The constraints that find a provider for `tier` (a GPU tier on `vendor` cards)."""
    properties: dict[str, object] = {f"{OURS}.tier": tier.name, f"{OURS}.models": list(tier.models)}
    if tier.min_vram_gib == 0:
        return Demand(f"(&({OURS}.tiers={tier.name})(!({GAP35}.d0.model=*)))", properties)
    if vendor not in VENDORS:
        raise ValueError(f"vendor must be one of {', '.join(VENDORS)}")
    vram = int(tier.min_vram_gib * VRAM_SLACK * 100) / 100
    parts = [
        f"({OURS}.tiers={tier.name})",
        f"({OURS}.inf.gpu.d0.vendor={vendor})",
        f"({GAP35}.d0.memory.total.gib>={vram:g})",
    ]
    if vendor == "nvidia":
        parts.append(f"({GAP35}.d0.cuda.enabled=true)")
    return Demand("(&" + "".join(parts) + ")", properties)
