"""A cloud model, shaped as Ollama serves it, goes through the real proxy as processor `remote`:
in its signed receipt (with the remote host) and in the metrics, never `gpu` or `cpu`."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from exporters import GpuMonitor
from exporters.testing import FakeGpuSource, fake_reading
from receipts import ReceiptService
from telemetry import Processor, load_config
from telemetry.app._sidecar import Components, Sidecar
from telemetry.emulator import EmulatorConfig, EmulatorServer

CLOUD = "gpt-oss:120b-cloud"
HOST = "https://ollama.com:443"


async def test_the_emulator_shows_a_cloud_model_as_ollama_does() -> None:
    async with (
        EmulatorServer(EmulatorConfig(ttft_seconds=0, tokens_per_second=0)) as emu,
        aiohttp.ClientSession() as session,
    ):
        async with session.get(emu.url + "/api/tags") as reply:
            listed = {m["name"]: m for m in (await reply.json())["models"]}
        assert listed[CLOUD]["remote_model"] == "gpt-oss:120b"
        assert listed[CLOUD]["remote_host"] == HOST
        assert "remote_host" not in listed["llama3.1:8b"]
        async with session.post(emu.url + "/api/show", json={"model": CLOUD}) as reply:
            assert (await reply.json())["remote_host"] == HOST
        body = {"model": CLOUD, "messages": [{"role": "user", "content": "hi"}]}
        async with session.post(emu.url + "/api/chat", json=body) as reply:
            lines = [json.loads(line) for line in (await reply.read()).splitlines()]
        assert lines and all(line["remote_host"] == HOST for line in lines)
        assert lines[-1]["done"] is True
        async with session.get(emu.url + "/api/ps") as reply:
            assert CLOUD not in {m["name"] for m in (await reply.json())["models"]}


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[tuple[Sidecar, CollectorRegistry]]:
    async with EmulatorServer(EmulatorConfig(ttft_seconds=0, tokens_per_second=0)) as emu:
        config = load_config(
            env={},
            overrides={
                "proxy": {
                    "listen": "127.0.0.1:0",
                    "admin_listen": "127.0.0.1:0",
                    "upstream": emu.url,
                    "data_dir": tmp_path,
                    "log_requests": False,
                },
                "receipts": {"flush_interval_seconds": 0.02},
                "gpu": {"ollama_poll_interval_seconds": 0.05},
            },
        )
        registry = CollectorRegistry()
        components = Components(
            receipts=ReceiptService(config, registry=registry),
            gpu=GpuMonitor(config, registry, sources=[FakeGpuSource([fake_reading(0)])]),
        )
        sidecar = Sidecar(config, env={}, registry=registry, components=components)
        await sidecar.start()
        try:
            yield sidecar, registry
        finally:
            await sidecar.stop()


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "whole"])
async def test_a_cloud_model_request_is_remote_work(
    stack: tuple[Sidecar, CollectorRegistry], stream: bool
) -> None:
    sidecar, registry = stack
    url = f"http://127.0.0.1:{sidecar.listen_port}"
    body = {"model": CLOUD, "prompt": "hi", "stream": stream}
    async with aiohttp.ClientSession() as session:
        async with session.post(url + "/api/generate", json=body) as reply:
            assert reply.status == 200
            await reply.read()
            request_id = reply.headers["X-Request-ID"]
        assert sidecar.receipts.flush(5.0)
        admin = f"http://127.0.0.1:{sidecar.admin_port}"
        async with session.get(f"{admin}/receipts/receipt/{request_id}") as reply:
            stored = (await reply.json())["receipt"]
    assert stored["processor"] == "remote"
    placement = json.loads(base64.b64decode(stored["raw"]))["receipt"]["placement"]
    assert placement == {"processor": "remote", "remote_host": HOST}
    assert sidecar.config.tier_for(CLOUD).name == "gpu-8gb"
    value = registry.get_sample_value(
        "ollama_sidecar_requests_by_processor_total", {"processor": "remote", "tier": "gpu-8gb"}
    )
    assert value == 1.0
    assert not registry.get_sample_value(
        "ollama_sidecar_requests_by_processor_total", {"processor": "gpu", "tier": "gpu-8gb"}
    )


async def test_openai_route_to_a_cloud_model_is_remote_from_the_tags(
    stack: tuple[Sidecar, CollectorRegistry],
) -> None:
    """Ollama's OpenAI shapes carry no `remote_host`: the monitor knows it from /api/tags."""
    sidecar, _ = stack
    assert sidecar.gpu is not None
    sidecar.gpu.note_request(CLOUD)
    async with asyncio.timeout(10):
        while sidecar.gpu.placement(CLOUD).processor is not Processor.REMOTE:
            await asyncio.sleep(0.05)
    url = f"http://127.0.0.1:{sidecar.listen_port}"
    body = {"model": CLOUD, "messages": [{"role": "user", "content": "hi"}], "stream": True}
    async with aiohttp.ClientSession() as session:
        async with session.post(url + "/v1/chat/completions", json=body) as reply:
            assert b"remote_host" not in await reply.read()
            request_id = reply.headers["X-Request-ID"]
        assert sidecar.receipts.flush(5.0)
        admin = f"http://127.0.0.1:{sidecar.admin_port}"
        async with session.get(f"{admin}/receipts/receipt/{request_id}") as reply:
            stored = (await reply.json())["receipt"]
    placement = json.loads(base64.b64decode(stored["raw"]))["receipt"]["placement"]
    assert placement == {"processor": "remote", "remote_host": HOST}
