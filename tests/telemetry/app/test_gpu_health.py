"""A critical XID on the only GPU, through the real sidecar: the GPU reads down, its XID is
exported, `/readyz` fails with `require_gpu` until the hold ends, and requests are still served."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import aiohttp

from exporters import NvmlSource
from exporters.testing import FakeNvml
from telemetry.emulator import EmulatorConfig, EmulatorServer
from tests.telemetry.app._gpu_stack import gpu_sidecar


async def test_critical_xid_fails_readiness_until_recovery(tmp_path: Path) -> None:
    nvml = FakeNvml.h100s(1)
    source = NvmlSource(nvml, is_ollama=lambda pid: False, xid_hold_seconds=1.0)
    async with (
        EmulatorServer(EmulatorConfig(ttft_seconds=0.01, tokens_per_second=0)) as emu,
        gpu_sidecar(
            emu.url, tmp_path, [source], gpu={"sample_interval_seconds": 0.05, "require_gpu": True}
        ) as (sidecar, _),
    ):
        admin = f"http://127.0.0.1:{sidecar.admin_port}"
        async with aiohttp.ClientSession() as session:

            async def ready() -> tuple[int, str]:
                async with session.get(admin + "/readyz") as r:
                    return r.status, (await r.json())["checks"]["gpu"]["detail"]

            async def wait_ready(status: int) -> str:
                async with asyncio.timeout(5):
                    while (answer := await ready())[0] != status:
                        await asyncio.sleep(0.02)
                return answer[1]

            await wait_ready(200)
            nvml.xid(0, 79)
            detail = await wait_ready(503)
            assert "no healthy GPU" in detail and "require_gpu" in detail
            async with session.get(admin + "/metrics") as r:
                text = await r.text()
            assert 'ollama_sidecar_gpu_xid_errors_total{gpu="0"' in text
            assert 'xid="79"} 1.0' in text
            assert re.search(r'^hw_gpu_up\{gpu="0"[^}]*\} 0\.0$', text, re.M)
            body = {"model": "llama3.2:3b", "prompt": "x", "stream": False}
            url = f"http://127.0.0.1:{sidecar.listen_port}/api/generate"
            async with session.post(url, json=body) as r:
                assert r.status == 200  # telemetry never changes behaviour
            await wait_ready(200)  # the hold ended and the GPU answers: recovered
