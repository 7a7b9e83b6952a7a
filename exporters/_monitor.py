"""`GpuMonitor`: GPU sampling, Ollama's residency, placement decisions and their metrics.

It is the `ModelInfo` and a `RecordSink` the proxy is wired to. Every method the proxy calls
(`placement`, `digest`, `note_request`, `submit`, `readiness`) is a dictionary lookup on state
the background loops keep fresh; none waits on Ollama or a driver.

The GPU and residency metrics are not on the shared registry: they are rendered to text once per
sample and per changed `/api/ps` view, and `exposition()` hands the admin listener those bytes.
Only the per-request counter, which changes with every request, lives on the shared registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter

from exporters import metric_names as m
from exporters._collector import GpuCollector
from exporters._energy import EnergyCounters, EnergyMeter
from exporters._ollama import (
    AiohttpOllamaClient,
    ModelResidency,
    OllamaClient,
    OllamaUnavailable,
    OllamaView,
    model_key,
    parse_ps,
    parse_remote_hosts,
    parse_tags,
    parse_version,
)
from exporters._probe import default_sources
from exporters._processes import runner_gpus
from exporters._processor import decide, gpu_refs
from exporters._residency import ResidencyTracker
from exporters._sampler import CPU_BACKEND, GpuSampler, GpuSnapshot
from exporters._source import GpuSource
from exporters._usage_metrics import UsageMetrics
from telemetry.core import Config, GpuRef, GpuUsage, Placement, Processor, RequestRecord, spawn

log = logging.getLogger("ollama_sidecar.gpu")

_FAST_POLL_SECONDS = 0.25
_WANTED_FOR_SECONDS = 60.0
_VERSION_EVERY_SECONDS = 60.0
_TAGS_EVERY_SECONDS = 30.0


class GpuMonitor:
    """Implements `telemetry.core.ModelInfo`, `GpuMeter` and `RecordSink`."""

    def __init__(
        self,
        config: Config,
        registry: CollectorRegistry,
        *,
        sources: Sequence[GpuSource] | None = None,
        ollama: OllamaClient | None = None,
        hang_timeout: float = 5.0,
        reprobe_interval: float = 60.0,
    ) -> None:
        self._config = config
        self._enabled = config.gpu.enabled
        self._collector = GpuCollector()
        self.counters = EnergyCounters()
        self._meter = EnergyMeter(
            self.counters,
            self._gpus_of,
            stale_after=max(10.0, 5 * config.gpu.sample_interval_seconds + hang_timeout),
        )
        self._sampler = GpuSampler(
            list(sources)
            if sources is not None
            else default_sources(xid_hold_seconds=config.gpu.xid_hold_seconds),
            config.gpu.sample_interval_seconds,
            hang_timeout=hang_timeout,
            reprobe_interval=reprobe_interval,
            on_snapshot=self._on_snapshot,
        )
        self._own_client = ollama is None
        self._ollama: OllamaClient = ollama or AiohttpOllamaClient(config.proxy.upstream)
        self._view: OllamaView | None = None
        self._residency: dict[str, ModelResidency] = {}
        self._digests: dict[str, str] = {}
        self._remote: dict[str, str] = {}
        self._wanted: dict[str, float] = {}
        # Wanted models already looked up in /api/tags, and the current fast-poll spacing: it
        # doubles while models stay wanted, so an unknown model (or a client sending many) costs
        # a few quick polls, then the normal rate.
        self._looked_up: set[str] = set()
        self._fast = _FAST_POLL_SECONDS
        self._refs_for: GpuSnapshot | None = None
        self._refs: tuple[GpuRef, ...] = ()
        # The GPUs each matched model's runner holds memory on (exporters/_processes.py).
        self._loaded: tuple[ModelResidency, ...] = ()
        self._runners: dict[str, tuple[GpuRef, ...]] = {}
        self._runners_for: dict[str, ModelResidency] | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._by_processor = Counter(
            m.REQUESTS_BY_PROCESSOR,
            "Inference requests by the processor that served the model.",
            [m.LABEL_PROCESSOR, "tier"],
            registry=registry,
        )
        for tier in config.tiers:
            for processor in Processor:
                self._by_processor.labels(processor.value, tier.name)
        self._usage = UsageMetrics(config, registry)
        self.residency = ResidencyTracker(registry)

    async def start(self) -> None:
        if self._task is not None:
            return
        if self._enabled:
            self._sampler.start()
        self._wake = asyncio.Event()
        self._stopping = False
        self._task = spawn(self._poll_loop(), name="ollama-residency-poll")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            # aiohttp can turn a cancellation inside a request into a client error, which the
            # loop would survive; the flag ends it at its next turn all the same.
            self._stopping = True
            task.cancel()
            if self._wake is not None:
                self._wake.set()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._enabled:
            await asyncio.to_thread(self._sampler.stop)
        if self._own_client and isinstance(self._ollama, AiohttpOllamaClient):
            await self._ollama.close()

    def readiness(self) -> tuple[bool, str]:
        if not self._enabled:
            return True, "gpu: monitoring disabled"
        required = self._config.gpu.require_gpu
        snap = self._sampler.snapshot
        if snap.rounds == 0:
            return not required, "gpu: probe pending"
        healthy = len(snap.healthy)
        if healthy:
            return True, f"gpu: {healthy}/{len(snap.devices)} healthy via {snap.backend}"
        if snap.backend == CPU_BACKEND:
            why = ", ".join(f"{s.backend} {s.reason}" for s in snap.backends if not s.up)
            detail = f"gpu: none found ({why or 'no backend'}); CPU fallback"
        else:
            detail = f"gpu: no healthy GPU of {len(snap.devices)} via {snap.backend}"
        return (False, detail + "; require_gpu is set") if required else (True, detail)

    def digest(self, model: str) -> str | None:
        key = model_key(model)
        residency = self._residency.get(key)
        if residency is not None and residency.digest is not None:
            return residency.digest
        found = self._digests.get(key)
        if found is None:
            self._want(key)
        return found

    def placement(self, model: str) -> Placement:
        key = model_key(model)
        remote = self._remote.get(key)
        if remote is not None:  # a cloud model: Ollama forwards it, no local GPU or CPU runs it
            return Placement(Processor.REMOTE, remote_host=remote)
        residency = self._residency.get(key)
        if residency is None:
            self._want(key)
        snap = self._snapshot()
        if snap is not self._refs_for or self._residency is not self._runners_for:
            self._refs, self._refs_for = gpu_refs(snap.devices), snap
            self._runners_for = self._residency
            self._runners = {
                key: tuple(
                    GpuRef(d.vendor, d.name, d.uuid, d.memory_total_bytes)
                    for d in snap.devices
                    if d.healthy and d.uuid in gpus
                )
                for key, gpus in runner_gpus(
                    snap.devices, self._loaded, tolerance=self._config.gpu.runner_match_tolerance
                ).items()
            }
        return decide(residency, snap, self._runners.get(key) or self._refs)

    def note_request(self, model: str) -> None:
        key = model_key(model)
        if key not in self._residency:
            self._want(key)

    def begin(self, model: str) -> int:
        return self._meter.begin(model)

    def place(self, handle: int, placement: Placement) -> None:
        if placement.processor is not Processor.UNKNOWN:
            self._meter.narrow(handle, _served_on(placement))

    def end(self, handle: int, placement: Placement) -> GpuUsage | None:
        return self._meter.end(handle, _served_on(placement))

    def submit(self, record: RequestRecord) -> None:
        if record.model is None:
            return
        self._by_processor.labels(record.placement.processor.value, record.tier).inc()
        self._usage.observe(record)
        self.residency.note(record)

    def exposition(self) -> bytes:
        """The GPU and Ollama-residency metrics in Prometheus text format, rendered when the
        data last changed; the admin listener appends them to the shared registry's output."""
        return self._collector.exposition()

    @property
    def snapshot(self) -> GpuSnapshot:
        return self._snapshot()

    def _on_snapshot(self, snapshot: GpuSnapshot) -> None:
        """On the sampler thread, once per round."""
        self._collector.update_gpu(snapshot)
        self.counters.observe(snapshot)

    def _gpus_of(self, model: str) -> frozenset[str]:
        """The GPUs a running request for `model` occupies: its placement's, or, while the
        model is not (yet) in `/api/ps`, every GPU Ollama uses (it may be loading there)."""
        placement = self.placement(model)
        if placement.processor is Processor.UNKNOWN:
            return frozenset(g.uuid for g in self._refs)
        return frozenset(g.uuid for g in placement.gpus)

    def _snapshot(self) -> GpuSnapshot:
        return self._sampler.snapshot if self._enabled else GpuSnapshot()

    def _set_view(self, view: OllamaView) -> None:
        if view != self._view:
            self._collector.update_ollama(view)
        self._view = view

    def _want(self, key: str) -> None:
        if key not in self._wanted:
            self._wanted[key] = time.monotonic() + _WANTED_FOR_SECONDS
            if self._wake is not None:
                self._wake.set()

    async def _poll_loop(self) -> None:
        assert self._wake is not None
        next_version = next_tags = 0.0
        while not self._stopping:
            now = started = time.monotonic()
            try:
                if now >= next_version:
                    version = parse_version(await self._ollama.get_json("/api/version"))
                    next_version = now + _VERSION_EVERY_SECONDS
                else:
                    version = self._view.version if self._view else None
                loaded = parse_ps(await self._ollama.get_json("/api/ps"))
                self.residency.update(loaded, time.time())
                self._loaded = loaded
                self._residency = {model_key(r.name): r for r in loaded}
                self._residency.update({model_key(r.model): r for r in loaded})
                if now >= next_tags or any(
                    k not in self._digests and k not in self._looked_up for k in self._wanted
                ):
                    tags = await self._ollama.get_json("/api/tags")
                    self._digests, self._remote = parse_tags(tags), parse_remote_hosts(tags)
                    self._looked_up = set(self._wanted)
                    next_tags = now + _TAGS_EVERY_SECONDS
                if self._view is not None and not self._view.up:
                    log.info("Ollama answers again at its API")
                self._set_view(OllamaView(True, version, loaded))
            except OllamaUnavailable as exc:
                if self._view is None or self._view.up:
                    log.warning("Ollama API poll failed: %s", exc)
                self._set_view(OllamaView(False, self._view.version if self._view else None))
                next_version = 0.0
            except Exception:  # the poller must survive anything Ollama sends
                log.exception("Ollama API poll failed unexpectedly")
            self._wanted = {
                k: deadline
                for k, deadline in self._wanted.items()
                if deadline > now and k not in self._residency
            }
            interval = self._config.gpu.ollama_poll_interval_seconds
            gap = min(interval, self._fast)
            if self._wanted:
                interval = gap
                self._fast = min(gap * 2, self._config.gpu.ollama_poll_interval_seconds)
            else:
                self._fast = _FAST_POLL_SECONDS
            self._wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval)
            # A newly wanted model wakes the loop, but never sooner than the current spacing.
            await asyncio.sleep(max(0.0, started + gap - time.monotonic()))


def _served_on(placement: Placement) -> list[str]:
    """The GPUs (by UUID) that did a request's work: none for cpu, remote or unknown."""
    served = placement.processor in (Processor.GPU, Processor.PARTIAL)
    return [g.uuid for g in placement.gpus] if served else []
