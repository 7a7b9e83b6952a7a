"""Per-request GPU usage as metrics: energy by model and tier, GPU seconds by model, joules per
output token, and GPU-served requests whose energy could not be measured.

Model labels are the `/api/ps` key (`llama3` → `llama3:latest`): a record carries GPU usage only
for a model Ollama reported loaded, so the label set is bounded by the installed models.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from exporters import metric_names as m
from exporters._ollama import model_key
from telemetry.core import Config, GpuUsage, Processor, RequestRecord

JOULES_PER_TOKEN_BUCKETS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)


class UsageMetrics:
    def __init__(self, config: Config, registry: CollectorRegistry) -> None:
        self._energy = Counter(
            m.REQUEST_ENERGY,
            "GPU energy attributed to inference requests (their shares).",
            [m.LABEL_MODEL, "tier"],
            registry=registry,
        )
        self._seconds = Counter(
            m.REQUEST_GPU_SECONDS,
            "GPU busy time attributed to inference requests (their shares).",
            [m.LABEL_MODEL],
            registry=registry,
        )
        self._per_token = Histogram(
            m.ENERGY_PER_OUTPUT_TOKEN,
            "GPU energy of a request divided by the tokens it generated.",
            [m.LABEL_MODEL],
            buckets=JOULES_PER_TOKEN_BUCKETS,
            registry=registry,
        )
        self._unmetered = Counter(
            m.REQUESTS_UNMETERED,
            "Requests served on a GPU whose energy was not measured (no counter, or a reset).",
            ["tier"],
            registry=registry,
        )
        for tier in config.tiers:
            self._unmetered.labels(tier.name)

    def observe(self, record: RequestRecord) -> None:
        if record.model is None:
            return
        usage = record.gpu_usage or GpuUsage()
        model = model_key(record.model)
        if usage.gpu_seconds is not None:
            self._seconds.labels(model).inc(usage.gpu_seconds)
        energy = usage.energy_joules
        if energy is None:
            if record.placement.processor in (Processor.GPU, Processor.PARTIAL):
                self._unmetered.labels(record.tier).inc()
            return
        self._energy.labels(model, record.tier).inc(energy)
        if record.output_tokens:
            self._per_token.labels(model).observe(energy / record.output_tokens)
