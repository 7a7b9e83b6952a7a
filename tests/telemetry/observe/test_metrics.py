"""Metric values after real requests, read from the registry and from a real /metrics scrape."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
from prometheus_client import CollectorRegistry

from telemetry import load_config
from telemetry.observe._metrics import ProxyMetrics
from tests.telemetry.conftest import Running

ROOT = Path(__file__).resolve().parents[3]
OP = {
    "gen_ai_operation_name": "chat",
    "gen_ai_provider_name": "ollama",
    "gen_ai_request_model": "llama3.1:8b",
    "tier": "gpu-8gb",
}


async def test_request_metrics_after_traffic(
    proxied: Running, client: aiohttp.ClientSession
) -> None:
    chat = {"model": "llama3.1:8b", "messages": [{"role": "user", "content": "x"}]}
    for _ in range(3):
        async with client.post(proxied.url + "/api/chat", json=chat) as response:
            await response.read()
    async with client.post(proxied.url + "/api/chat", json={**chat, "model": "ghost:1b"}) as r:
        await r.read()
    records = await proxied.sink.wait_for(4)
    assert (
        proxied.sample(
            "ollama_sidecar_requests_total",
            endpoint="/api/chat",
            gen_ai_request_model="llama3.1:8b",
            tier="gpu-8gb",
            outcome="ok",
        )
        == 3
    )
    assert (
        proxied.sample(
            "ollama_sidecar_requests_total",
            endpoint="/api/chat",
            gen_ai_request_model="_other",
            tier="cpu",
            outcome="error",
        )
        == 1
    )
    assert proxied.sample("gen_ai_server_request_duration_seconds_count", **OP, error_type="") == 3
    assert proxied.sample("gen_ai_server_time_to_first_token_seconds_count", **OP) == 3
    assert proxied.sample("gen_ai_server_time_per_output_token_seconds_count", **OP) == 3
    assert (
        proxied.sample(
            "ollama_sidecar_tokens_total",
            gen_ai_request_model="llama3.1:8b",
            tier="gpu-8gb",
            gen_ai_token_type="output",
        )
        == 24
    )
    assert proxied.sample("gen_ai_client_token_usage_sum", **OP, gen_ai_token_type="input") == sum(
        r.input_tokens or 0 for r in records[:3]
    )
    assert (
        proxied.sample(
            "ollama_sidecar_output_tokens_per_second_count",
            gen_ai_request_model="llama3.1:8b",
            tier="gpu-8gb",
        )
        == 3
    )
    assert proxied.sample("ollama_sidecar_requests_in_flight", tier="gpu-8gb") == 0
    async with client.get(proxied.admin + "/metrics") as response:
        text = await response.text()
    assert 'ollama_sidecar_tier_budget_seconds{quantile="0.95",tier="gpu-8gb"} 15.0' in text
    assert "request_id" not in text


def test_bucket_edges_hold_every_tier_budget() -> None:
    registry = CollectorRegistry()
    config = load_config(env={})
    metrics = ProxyMetrics(config, registry, "test")
    metrics.duration.labels("chat", "ollama", "m", "cpu", "").observe(1)
    metrics.ttft.labels("chat", "ollama", "m", "cpu").observe(1)
    edges = {
        s.labels["le"]
        for m in registry.collect()
        for s in m.samples
        if s.name.endswith("_bucket") and "request_duration" in s.name
    }
    ttft_edges = {
        s.labels["le"]
        for m in registry.collect()
        for s in m.samples
        if s.name.endswith("_bucket") and "first_token" in s.name
    }
    for tier in config.tiers:
        assert str(float(tier.p50_seconds)) in edges and str(float(tier.p95_seconds)) in edges
        assert str(float(tier.ttft_p95_seconds)) in ttft_edges


async def test_every_exported_metric_is_documented(
    proxied: Running, client: aiohttp.ClientSession
) -> None:
    async with client.get(proxied.admin + "/metrics") as response:
        text = await response.text()
    names = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    docs = (ROOT / "docs" / "metrics.md").read_text()
    missing = sorted(
        n
        for n in names
        if n.removesuffix("_total") not in docs and not n.startswith(("python_", "process_"))
    )
    assert missing == []


async def test_admin_health_and_readiness(proxied: Running, client: aiohttp.ClientSession) -> None:
    async with client.get(proxied.admin + "/healthz") as response:
        assert response.status == 200
    async with client.get(proxied.admin + "/readyz") as response:
        assert response.status == 200
        assert (await response.json())["checks"]["upstream"]["ok"] is True
    assert proxied.sample("ollama_sidecar_upstream_up") == 1
    async with client.get(proxied.url + "/metrics") as response:
        assert response.status == 404  # the proxied port serves only Ollama's paths
