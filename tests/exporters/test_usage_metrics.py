"""Per-request GPU usage metrics: energy by model and tier, GPU seconds, joules per token, and
GPU-served requests left unmetered."""

from __future__ import annotations

import dataclasses

from prometheus_client import CollectorRegistry

from exporters._usage_metrics import UsageMetrics
from telemetry.core import GpuUsage, Placement, Processor, load_config
from tests.exporters._records import finished_request

RECORD = finished_request(
    "llama3", streaming=True, output_tokens=20, placement=Placement(Processor.GPU)
)


def test_usage_goes_to_the_model_and_tier() -> None:
    registry = CollectorRegistry()
    metrics = UsageMetrics(load_config(env={}), registry)
    usage = GpuUsage(energy_joules=40.0, gpu_seconds=0.5, utilization_ratio=0.5)
    metrics.observe(dataclasses.replace(RECORD, gpu_usage=usage))
    model = {"gen_ai_request_model": "llama3:latest"}
    energy = "ollama_sidecar_gpu_request_energy_joules_total"
    assert registry.get_sample_value(energy, model | {"tier": "gpu-8gb"}) == 40.0
    assert registry.get_sample_value("ollama_sidecar_gpu_request_seconds_total", model) == 0.5
    per_token = "ollama_sidecar_gpu_energy_per_output_token_joules"
    assert registry.get_sample_value(per_token + "_sum", model) == 2.0
    assert registry.get_sample_value(per_token + "_bucket", model | {"le": "3.0"}) == 1.0


def test_a_gpu_request_without_energy_is_unmetered_and_a_cpu_one_is_not() -> None:
    registry = CollectorRegistry()
    metrics = UsageMetrics(load_config(env={}), registry)
    metrics.observe(dataclasses.replace(RECORD, gpu_usage=GpuUsage(gpu_seconds=0.25)))
    metrics.observe(dataclasses.replace(RECORD, placement=Placement(Processor.CPU)))
    unmetered = "ollama_sidecar_gpu_requests_unmetered_total"
    assert registry.get_sample_value(unmetered, {"tier": "gpu-8gb"}) == 1.0
    seconds = registry.get_sample_value(
        "ollama_sidecar_gpu_request_seconds_total", {"gen_ai_request_model": "llama3:latest"}
    )
    assert seconds == 0.25
