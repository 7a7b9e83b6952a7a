"""A cloud model, shaped as Ollama serves it, goes through the real proxy as processor `remote`:
in its signed receipt (with the remote host) and in the metrics, never `gpu` or `cpu`."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from exporters.testing import FakeGpuSource, fake_reading
from telemetry import Processor
from telemetry.app._sidecar import Sidecar
from telemetry.emulator import EmulatorConfig, EmulatorServer
from tests.telemetry.app._gpu_stack import gpu_sidecar

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


@contextlib.asynccontextmanager
async def running(
    tmp_path: Path, emulator: EmulatorConfig, receipts: dict[str, object] | None = None
) -> AsyncIterator[tuple[Sidecar, CollectorRegistry]]:
    async with (
        EmulatorServer(emulator) as emu,
        gpu_sidecar(
            emu.url,
            tmp_path,
            [FakeGpuSource([fake_reading(0)])],
            gpu={"ollama_poll_interval_seconds": 0.05},
            receipts={"flush_interval_seconds": 0.02, **(receipts or {})},
        ) as stack,
    ):
        yield stack


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[tuple[Sidecar, CollectorRegistry]]:
    async with running(tmp_path, EmulatorConfig(ttft_seconds=0, tokens_per_second=0)) as stack:
        yield stack


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


AGREEMENT = "agreement-with-cloud-work"
LOCAL = "llama3.1:8b"


def agreement_cli(data: Path, *args: str) -> str:
    """`receipts agreement` in a subprocess, as the provider runs it; its stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "receipts", "--data-dir", str(data), "agreement", AGREEMENT, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.slow  # the CLI runs in subprocesses
async def test_the_agreement_split_counts_remote_time_as_no_local_gpu_work(tmp_path: Path) -> None:
    """A real run billed to one agreement: a cloud request alone, then a local GPU request with
    a cloud one started during it. `receipts agreement` names the processors the receipts do,
    and its time with no local GPU work is exactly the remote-only stretches."""
    data = tmp_path / "data"
    emulator = EmulatorConfig(ttft_seconds=0.1, tokens_per_second=30, output_tokens=9)
    trusted = {"trust_client_agreement_header": True}  # the warm-up request is billed to none
    async with running(data, emulator, trusted) as (sidecar, _):
        url = f"http://127.0.0.1:{sidecar.listen_port}"
        async with aiohttp.ClientSession() as session:

            async def generate(model: str, agreement: str = AGREEMENT) -> None:
                body = {"model": model, "prompt": "hi", "stream": True}
                headers = {"X-Golem-Agreement-Id": agreement}
                async with session.post(url + "/api/generate", json=body, headers=headers) as reply:
                    assert reply.status == 200
                    await reply.read()

            await generate(LOCAL, "warm-up")  # loaded, so that the monitor places it on the GPU
            assert sidecar.gpu is not None
            async with asyncio.timeout(10):
                while sidecar.gpu.placement(LOCAL).processor is not Processor.GPU:
                    await asyncio.sleep(0.05)
            await generate(CLOUD)
            local = asyncio.ensure_future(generate(LOCAL))
            await asyncio.sleep(0.15)
            await generate(CLOUD)
            await local
        assert await asyncio.to_thread(sidecar.receipts.flush, 5.0)
    summary = json.loads(agreement_cli(data, "--json"))
    bundle = tmp_path / "bundle"
    agreement_cli(data, "--bundle", str(bundle))
    bodies = [json.loads(p.read_text())["receipt"] for p in sorted(bundle.glob("*.json"))]
    spans = {
        p: sorted(
            (int(b["start_unix_ns"]), int(b["end_unix_ns"]))
            for b in bodies
            if b["placement"]["processor"] == p
        )
        for p in ("gpu", "remote")
    }
    assert summary["processors"] == {"gpu": 1, "remote": 2}
    ((g0, g1),), ((a0, a1), (r0, r1)) = spans["gpu"], spans["remote"]
    assert a1 <= g0 < r0 < g1  # the first cloud request ran alone, the second during the local one
    billed = Decimal(a1 - a0 + max(g1, r1) - g0) / 10**9  # Golem bills all of it as gpu-sec
    assert Decimal(summary["usage"]["golem.usage.gpu-sec"]) == billed
    remote_only = (a1 - a0) + max(0, r1 - g1)
    assert Decimal(summary["without_local_gpu_seconds"]) == Decimal(remote_only) / 10**9
    both = Decimal(min(r1, g1) - r0) / 10**9
    assert Decimal(summary["in_flight_seconds"]["gpu+remote"]) == both
    assert all(
        p["placement"] == {"processor": "remote", "remote_host": HOST}
        for p in bodies
        if p["placement"]["processor"] == "remote"
    )
