"""The processor decision, through the real proxy and emulator, ends up signed in the receipt:
all of the model in VRAM → gpu, split → partial, none → cpu, with the GPU's identity."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from exporters.testing import FakeGpuSource, fake_reading
from telemetry import Processor
from telemetry.app._sidecar import Sidecar
from telemetry.emulator import DEFAULT_MODELS, EmulatorConfig, EmulatorServer
from tests.telemetry.app._gpu_stack import gpu_sidecar

MODELS = {
    "llama3.1:8b": 1.0,
    "llama3.3:70b": 0.52,
    "llama3.2:3b": 0.0,
}


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[tuple[Sidecar, str]]:
    models = tuple(
        dataclasses.replace(m, vram_fraction=MODELS.get(m.name, m.vram_fraction))
        for m in DEFAULT_MODELS
    )
    emulator = EmulatorConfig(ttft_seconds=0.02, tokens_per_second=0, models=models)
    async with (
        EmulatorServer(emulator) as emu,
        gpu_sidecar(
            emu.url,
            tmp_path,
            [FakeGpuSource([fake_reading(0)])],
            gpu={"ollama_poll_interval_seconds": 0.2},
            receipts={"flush_interval_seconds": 0.05},
        ) as (sidecar, _),
    ):
        yield sidecar, emu.url


async def generate(session: aiohttp.ClientSession, url: str, model: str) -> str:
    async with session.post(url + "/api/generate", json={"model": model, "prompt": "x"}) as r:
        await r.read()
        assert r.status == 200
        return r.headers["X-Request-ID"]


async def test_processor_of_each_placement_is_in_the_receipt(stack: tuple[Sidecar, str]) -> None:
    sidecar, _ = stack
    url = f"http://127.0.0.1:{sidecar.listen_port}"
    admin = f"http://127.0.0.1:{sidecar.admin_port}"
    expected = {
        "llama3.1:8b": Processor.GPU,
        "llama3.3:70b": Processor.PARTIAL,
        "llama3.2:3b": Processor.CPU,
    }
    async with aiohttp.ClientSession() as session:
        for model in expected:  # load each model, then wait for /api/ps to show it
            await generate(session, url, model)
        async with asyncio.timeout(5):
            while any(sidecar.gpu.placement(m).processor is Processor.UNKNOWN for m in expected):
                await asyncio.sleep(0.05)
        ids = {model: await generate(session, url, model) for model in expected}
        await asyncio.to_thread(sidecar.receipts.flush, 5.0)
        for model, request_id in ids.items():
            async with session.get(f"{admin}/receipts/receipt/{request_id}") as response:
                row = (await response.json())["receipt"]
            body = json.loads(base64.b64decode(row["raw"]))["receipt"]
            placement = body["placement"]
            assert placement["processor"] == expected[model].value, model
            assert row["processor"] == expected[model].value
            if expected[model] is Processor.CPU:
                assert placement["size_vram_bytes"] == 0 or "size_vram_bytes" not in placement
            else:
                assert placement["gpus"][0]["uuid"] == fake_reading(0).uuid
                assert placement["gpus"][0]["vendor"] == "nvidia"
            assert body["model_digest"].startswith("sha256:") or len(body["model_digest"]) == 64
    by_processor = sidecar.registry.get_sample_value(
        "ollama_sidecar_requests_by_processor_total", {"processor": "gpu", "tier": "gpu-8gb"}
    )
    assert by_processor is not None and by_processor >= 1
