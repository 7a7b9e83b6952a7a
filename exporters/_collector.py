"""The Prometheus collector: families and their text rendering, built from the last GPU snapshot
and Ollama view.

Per-GPU series carry `gpu`, `uuid`, `name`, `vendor`. A device that is down keeps only its
`hw_gpu_up 0` series; a field a device does not support is absent, never 0.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator

from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporters import metric_names as m
from exporters._ollama import OllamaView
from exporters._sampler import GpuSnapshot
from exporters._source import GpuReading

_GPU_LABELS = [m.LABEL_GPU, m.LABEL_UUID, m.LABEL_NAME, m.LABEL_VENDOR]


def _labels(d: GpuReading) -> list[str]:
    return [str(d.index), d.uuid, d.name, d.vendor]


class GpuCollector(Collector):
    """Builds metric families and renders them to text when a sample or a poll lands.

    `update_gpu` runs on the sampler thread after each round and `update_ollama` on the loop
    after each poll, so building and formatting are paid once per sample, not per scrape.
    `exposition()` returns the rendered text-format bytes, which the admin listener appends to
    the shared registry's output (the collector is never registered there as well, or its
    families would be exported twice); `collect()` serves the same families to a registry.
    Each update swaps whole references, which a concurrent scrape reads without a lock.
    """

    def __init__(self, snapshot: GpuSnapshot | None = None) -> None:
        self._lock = threading.Lock()
        self._gpu: tuple[Metric, ...] = tuple(gpu_families(snapshot or GpuSnapshot()))
        self._ollama: tuple[Metric, ...] = ()
        self._gpu_text = render(self._gpu)
        self._ollama_text = b""
        self._text = self._gpu_text

    def update_gpu(self, snapshot: GpuSnapshot) -> None:
        families = tuple(gpu_families(snapshot))
        text = render(families)
        with self._lock:  # the other part may be swapped concurrently from the other thread
            self._gpu, self._gpu_text = families, text
            self._text = text + self._ollama_text

    def update_ollama(self, view: OllamaView | None) -> None:
        families = tuple(ollama_families(view)) if view is not None else ()
        text = render(families)
        with self._lock:
            self._ollama, self._ollama_text = families, text
            self._text = self._gpu_text + text

    def exposition(self) -> bytes:
        """The families in Prometheus text format (0.0.4), as rendered at the last update."""
        return self._text

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        return self._gpu + self._ollama


class _Families(Collector):
    def __init__(self, families: tuple[Metric, ...]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


def render(families: tuple[Metric, ...]) -> bytes:
    """`families` in Prometheus text format, as `generate_latest` writes a registry's."""
    return generate_latest(_Families(families)) if families else b""


def _gauge(name: str, doc: str, extra: tuple[str, ...] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=[*_GPU_LABELS, *extra])


def gpu_families(snap: GpuSnapshot) -> Iterator[Metric]:
    backend = GaugeMetricFamily(
        m.GPU_BACKEND_UP,
        "1 when the GPU backend is in use, 0 with the reason it is not.",
        labels=[m.LABEL_BACKEND, m.LABEL_REASON],
    )
    for state in snap.backends:
        backend.add_metric([state.backend, state.reason], 1.0 if state.up else 0.0)
    yield backend
    yield GaugeMetricFamily(
        m.GPU_DEVICES, "GPUs found by the active backend.", value=float(len(snap.devices))
    )
    errors = CounterMetricFamily(
        m.GPU_SAMPLE_ERRORS,
        "GPU sampling failures by backend and reason.",
        labels=[m.LABEL_BACKEND, m.LABEL_REASON],
    )
    for b, reason, count in snap.errors:
        errors.add_metric([b, reason], float(count))
    yield errors
    if snap.sample_seconds is not None:
        yield GaugeMetricFamily(
            m.GPU_SAMPLE_DURATION, "Duration of the last sampling round.", value=snap.sample_seconds
        )

    up = _gauge(m.GPU_UP, "1 when the GPU answers, 0 when it is lost, hung or failing.")
    util = _gauge(m.GPU_UTILIZATION, "Fraction of time the GPU was busy (0-1).")
    used = _gauge(m.GPU_MEMORY_USAGE, "GPU memory in use.")
    limit = _gauge(m.GPU_MEMORY_LIMIT, "GPU memory size.")
    temp = _gauge(m.GPU_TEMPERATURE, "GPU temperature by sensor.", ("sensor",))
    power = _gauge(m.GPU_POWER, "GPU power draw.")
    cap = _gauge(m.GPU_POWER_LIMIT, "Enforced GPU power limit.")
    energy = CounterMetricFamily(
        m.GPU_ENERGY, "Energy used since the driver loaded.", labels=_GPU_LABELS
    )
    clock = _gauge(m.GPU_CLOCK, "Current clock frequency.", ("clock",))
    events = _gauge(
        m.GPU_CLOCK_EVENT, "1 while this reason holds the clocks down.", (m.LABEL_REASON,)
    )
    ecc = CounterMetricFamily(
        m.GPU_ERRORS,
        "ECC memory errors since the driver loaded.",
        labels=[*_GPU_LABELS, "error_type"],
    )
    xid = CounterMetricFamily(
        m.GPU_XID_ERRORS,
        "NVIDIA XID events seen since the sidecar started; a critical one marks the GPU down.",
        labels=[*_GPU_LABELS, "xid"],
    )
    remapped = _gauge(
        m.GPU_REMAPPED_ROWS, "Memory rows remapped since manufacture, by cause.", ("error_type",)
    )
    remap_pending = _gauge(m.GPU_ROW_REMAP_PENDING, "1 when a row remap awaits a GPU reset.")
    remap_failure = _gauge(m.GPU_ROW_REMAP_FAILURE, "1 when a row remap failed.")
    retired = _gauge(m.GPU_RETIRED_PAGES, "Memory pages retired, by cause.", ("cause",))
    procs = _gauge(m.GPU_PROCESSES, "Compute processes on the GPU.")
    proc_mem = _gauge(
        m.GPU_PROCESS_MEMORY, "GPU memory one compute process holds.", ("pid", "ollama")
    )
    ollama_mem = _gauge(m.GPU_OLLAMA_MEMORY, "GPU memory used by Ollama's processes.")
    for d in snap.devices:
        labels = _labels(d)
        up.add_metric(labels, 1.0 if d.healthy else 0.0)
        if d.memory_total_bytes is not None:
            limit.add_metric(labels, float(d.memory_total_bytes))
        for code, count in d.xid_errors or ():  # kept while down: they say why
            xid.add_metric([*labels, str(code)], float(count))
        if not d.healthy:
            continue
        if d.remapped_rows is not None:
            remapped.add_metric([*labels, "correctable"], float(d.remapped_rows[0]))
            remapped.add_metric([*labels, "uncorrectable"], float(d.remapped_rows[1]))
        if d.row_remap_pending is not None:
            remap_pending.add_metric(labels, 1.0 if d.row_remap_pending else 0.0)
        if d.row_remap_failure is not None:
            remap_failure.add_metric(labels, 1.0 if d.row_remap_failure else 0.0)
        if d.retired_pages is not None:
            retired.add_metric([*labels, "single_bit"], float(d.retired_pages[0]))
            retired.add_metric([*labels, "double_bit"], float(d.retired_pages[1]))
        _opt(util, labels, d.utilization_ratio)
        _opt(used, labels, d.memory_used_bytes)
        _opt(power, labels, d.power_watts)
        _opt(cap, labels, d.power_limit_watts)
        if d.energy_joules is not None:
            energy.add_metric(labels, d.energy_joules)
        for sensor, celsius in d.temperatures_celsius:
            temp.add_metric([*labels, sensor], celsius)
        _opt(clock, [*labels, "sm"], d.sm_clock_hertz)
        _opt(clock, [*labels, "memory"], d.memory_clock_hertz)
        for reason, active in d.clock_events or ():
            events.add_metric([*labels, reason], 1.0 if active else 0.0)
        if d.ecc_corrected_errors is not None:
            ecc.add_metric([*labels, "corrected"], float(d.ecc_corrected_errors))
        if d.ecc_uncorrected_errors is not None:
            ecc.add_metric([*labels, "uncorrected"], float(d.ecc_uncorrected_errors))
        if d.processes is not None:
            procs.add_metric(labels, float(len(d.processes)))
            for p in d.processes:
                if p.used_memory_bytes is not None:
                    ours = "true" if p.ollama else "false"
                    proc_mem.add_metric([*labels, str(p.pid), ours], float(p.used_memory_bytes))
            mine = [p.used_memory_bytes for p in d.processes if p.ollama]
            if mine and all(b is not None for b in mine):
                ollama_mem.add_metric(labels, float(sum(b for b in mine if b is not None)))
    yield from (
        up,
        util,
        used,
        limit,
        temp,
        power,
        cap,
        energy,
        clock,
        events,
        ecc,
        xid,
        remapped,
        remap_pending,
        remap_failure,
        retired,
        procs,
        proc_mem,
        ollama_mem,
    )


def _opt(family: GaugeMetricFamily, labels: list[str], value: float | None) -> None:
    if value is not None:
        family.add_metric(labels, float(value))


def ollama_families(view: OllamaView) -> Iterator[Metric]:
    yield GaugeMetricFamily(
        m.OLLAMA_UP,
        "1 when the last poll of Ollama's API succeeded.",
        value=1.0 if view.up else 0.0,
    )
    if view.version is not None:
        info = GaugeMetricFamily(m.OLLAMA_INFO, "Ollama's version.", labels=["version"])
        info.add_metric([view.version], 1.0)
        yield info
    if not view.up:
        return
    yield GaugeMetricFamily(
        m.MODELS_LOADED, "Models Ollama has loaded (/api/ps).", value=float(len(view.loaded))
    )
    size = GaugeMetricFamily(
        m.MODEL_SIZE, "Memory footprint of a loaded model.", labels=[m.LABEL_MODEL]
    )
    vram = GaugeMetricFamily(
        m.MODEL_VRAM, "Part of a loaded model resident in GPU memory.", labels=[m.LABEL_MODEL]
    )
    for model in view.loaded:
        size.add_metric([model.name], float(model.size_bytes))
        vram.add_metric([model.name], float(model.size_vram_bytes))
    yield size
    yield vram
