"""The receipt's GPU list, through the real proxy and emulator, names only the GPUs where the
model's runner holds memory, not every GPU with an Ollama process; the per-process GPU memory
is exported."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import aiohttp

from exporters import GpuProcess
from exporters.testing import FakeGpuSource, fake_reading
from telemetry.core import Processor
from telemetry.emulator import DEFAULT_MODELS, EmulatorConfig, EmulatorServer
from tests.telemetry.app._gpu_stack import gpu_sidecar

MODEL = "llama3.1:8b"


async def test_receipt_names_the_gpu_the_runner_holds(tmp_path: Path) -> None:
    size_vram = next(m.size_vram for m in DEFAULT_MODELS if m.name == MODEL)
    runner = GpuProcess(4242, size_vram + (300 << 20), ollama=True)  # + its CUDA context
    other = GpuProcess(5151, 2 << 30, ollama=False)
    another_runner = GpuProcess(6161, 40 << 30, ollama=True)  # a 70b model's runner
    gpus = [
        fake_reading(0, processes=(other,)),
        fake_reading(1, processes=(runner,)),
        fake_reading(2, processes=(another_runner,)),
    ]
    async with (
        EmulatorServer(EmulatorConfig(ttft_seconds=0.01, tokens_per_second=0)) as emu,
        gpu_sidecar(
            emu.url,
            tmp_path,
            [FakeGpuSource(gpus)],
            gpu={"ollama_poll_interval_seconds": 0.05, "sample_interval_seconds": 0.05},
            receipts={"flush_interval_seconds": 0.05},
        ) as (sidecar, _),
    ):
        url = f"http://127.0.0.1:{sidecar.listen_port}"
        admin = f"http://127.0.0.1:{sidecar.admin_port}"
        body = {"model": MODEL, "prompt": "x", "stream": False}
        async with aiohttp.ClientSession() as session:
            async with session.post(url + "/api/generate", json=body) as r:
                assert r.status == 200
            assert sidecar.gpu is not None
            async with asyncio.timeout(5):
                while sidecar.gpu.placement(MODEL).processor is Processor.UNKNOWN:
                    await asyncio.sleep(0.02)
            async with session.post(url + "/api/generate", json=body) as r:
                request_id = r.headers["X-Request-ID"]
            assert sidecar.receipts is not None
            await asyncio.to_thread(sidecar.receipts.flush, 5.0)
            async with session.get(f"{admin}/receipts/receipt/{request_id}") as r:
                raw = (await r.json())["receipt"]["raw"]
            async with session.get(admin + "/metrics") as r:
                text = await r.text()
    placement = json.loads(base64.b64decode(raw))["receipt"]["placement"]
    assert placement["processor"] == "gpu"
    assert [g["uuid"] for g in placement["gpus"]] == [gpus[1].uuid]
    assert 'pid="4242"' in text and 'ollama="true"' in text and 'pid="5151"' in text
