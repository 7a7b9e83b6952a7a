"""GPU energy and time per request, through the real proxy and emulator, signed in the receipt:
a fake NVML GPU (or, where parametrized, a fake ROCm SMI library's) draws a constant power and
its energy counter advances with wall time."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from exporters import AiohttpOllamaClient, GpuSource, NvmlSource, RocmSmiLibSource
from exporters.testing import FakeNvml, FakeRocmSmi
from telemetry.app._sidecar import Sidecar
from telemetry.core import Processor
from telemetry.emulator import DEFAULT_MODELS, EmulatorConfig, EmulatorServer
from tests.telemetry.app._gpu_stack import gpu_sidecar

WATTS = 250.0
GPU_MODEL, PARTIAL_MODEL, CPU_MODEL = "llama3.1:8b", "llama3.3:70b", "llama3.2:3b"
CLOUD_MODEL = "gpt-oss:120b-cloud"  # served by ollama.com: no local GPU does its work
REMOTE_HOST = "https://ollama.com:443"
FRACTIONS = {GPU_MODEL: 1.0, PARTIAL_MODEL: 0.52, CPU_MODEL: 0.0}
# 12 tokens at 30/s after a 0.1 s first token: about half a second per request.
EMULATOR = EmulatorConfig(ttft_seconds=0.1, tokens_per_second=30, output_tokens=12)


@dataclasses.dataclass
class Stack:
    sidecar: Sidecar
    nvml: FakeNvml
    url: str
    admin: str


class UnawareOllama:
    """The monitor's view of Ollama when a cloud model was pulled after its last `/api/tags`:
    the real emulator's answers, with the cloud models left out of the tags."""

    def __init__(self, url: str) -> None:
        self._client = AiohttpOllamaClient(url)

    async def get_json(self, path: str) -> object:
        body = await self._client.get_json(path)
        if path == "/api/tags" and isinstance(body, dict):
            body["models"] = [m for m in body["models"] if "remote_host" not in m]
        return body

    async def close(self) -> None:
        await self._client.close()


@contextlib.asynccontextmanager
async def running(
    tmp_path: Path, *, backend: str = "nvml", knows_cloud: bool = True
) -> AsyncIterator[Stack]:
    models = tuple(
        dataclasses.replace(m, vram_fraction=FRACTIONS.get(m.name, m.vram_fraction))
        for m in DEFAULT_MODELS
    )
    nvml = FakeNvml.h100s(1)
    nvml.draw(0, WATTS)
    source: GpuSource = NvmlSource(nvml, is_ollama=lambda pid: False)
    if backend == "rocm_smi":
        smi = FakeRocmSmi.mi300x(1)
        smi.draw(0, WATTS)
        source = RocmSmiLibSource(smi, check_sysfs=False)
    async with EmulatorServer(dataclasses.replace(EMULATOR, models=models)) as emu:
        unaware = None if knows_cloud else UnawareOllama(emu.url)
        try:
            async with gpu_sidecar(
                emu.url,
                tmp_path,
                [source],
                gpu={"ollama_poll_interval_seconds": 0.1, "sample_interval_seconds": 0.1},
                receipts={"flush_interval_seconds": 0.05},
                ollama=unaware,
            ) as (sidecar, _):
                stack = Stack(
                    sidecar,
                    nvml,
                    f"http://127.0.0.1:{sidecar.listen_port}",
                    f"http://127.0.0.1:{sidecar.admin_port}",
                )
                async with aiohttp.ClientSession() as session:
                    for model in FRACTIONS:  # loaded, and shown by /api/ps, before the tests
                        await generate(session, stack, model)
                cloud = Processor.REMOTE if knows_cloud else Processor.UNKNOWN
                async with asyncio.timeout(5):
                    while sidecar.gpu is None or (
                        any(
                            sidecar.gpu.placement(m).processor is Processor.UNKNOWN
                            for m in FRACTIONS
                        )
                        or sidecar.gpu.placement(CLOUD_MODEL).processor is not cloud
                    ):
                        await asyncio.sleep(0.05)
                yield stack
        finally:
            if unaware is not None:
                await unaware.close()


@pytest.fixture
async def stack(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Stack]:
    async with running(tmp_path, backend=getattr(request, "param", "nvml")) as stack:
        yield stack


async def generate(session: aiohttp.ClientSession, stack: Stack, model: str) -> str:
    body = {"model": model, "prompt": "x", "stream": True}
    async with session.post(stack.url + "/api/generate", json=body) as r:
        await r.read()
        assert r.status == 200
        return r.headers["X-Request-ID"]


async def receipt(session: aiohttp.ClientSession, stack: Stack, request_id: str) -> Any:
    assert stack.sidecar.receipts is not None
    await asyncio.to_thread(stack.sidecar.receipts.flush, 5.0)
    async with session.get(f"{stack.admin}/receipts/receipt/{request_id}") as response:
        row = (await response.json())["receipt"]
    return json.loads(base64.b64decode(row["raw"]))["receipt"]


def seconds(body: Any) -> float:
    return int(body["duration_ns"]) / 1e9


@pytest.mark.parametrize(
    ("stack", "vendor"), [("nvml", "nvidia"), ("rocm_smi", "amd")], indirect=["stack"]
)
async def test_energy_is_power_times_request_time(stack: Stack, vendor: str) -> None:
    async with aiohttp.ClientSession() as session:
        body = await receipt(session, stack, await generate(session, stack, GPU_MODEL))
    assert [g["vendor"] for g in body["placement"]["gpus"]] == [vendor]
    usage = body["gpu_usage"]
    assert usage["energy_mj"] / 1000 == pytest.approx(WATTS * seconds(body), rel=0.05)
    assert seconds(body) > 0.3
    assert isinstance(usage["utilization_basis_points"], int)
    assert int(usage["gpu_time_ns"]) >= 0


async def test_overlapping_requests_share_the_measured_total(stack: Stack) -> None:
    async with aiohttp.ClientSession() as session:
        first = asyncio.ensure_future(generate(session, stack, GPU_MODEL))
        await asyncio.sleep(0.25)
        second = await generate(session, stack, GPU_MODEL)
        bodies = [await receipt(session, stack, rid) for rid in (await first, second)]
    start = min(int(b["start_unix_ns"]) for b in bodies)
    end = max(int(b["end_unix_ns"]) for b in bodies)
    shares = [b["gpu_usage"]["energy_mj"] / 1000 for b in bodies]
    assert sum(shares) == pytest.approx(WATTS * (end - start) / 1e9, rel=0.05)
    # Each got less than it would alone: the overlap was split.
    assert all(s < WATTS * seconds(b) * 0.95 for s, b in zip(shares, bodies, strict=True))


async def test_cpu_request_has_no_gpu_energy_and_partial_has_its_share(stack: Stack) -> None:
    async with aiohttp.ClientSession() as session:
        cpu = await receipt(session, stack, await generate(session, stack, CPU_MODEL))
        partial = await receipt(session, stack, await generate(session, stack, PARTIAL_MODEL))
    assert cpu["placement"]["processor"] == "cpu" and "gpu_usage" not in cpu
    assert partial["placement"]["processor"] == "partial"
    energy = partial["gpu_usage"]["energy_mj"] / 1000
    assert energy == pytest.approx(WATTS * seconds(partial), rel=0.05)
    registry = stack.sidecar.registry
    by_model = registry.get_sample_value(
        "ollama_sidecar_gpu_request_energy_joules_total",
        {"gen_ai_request_model": PARTIAL_MODEL, "tier": partial["tier"]},
    )
    assert by_model is not None and by_model >= energy * 0.99
    assert (
        registry.get_sample_value(
            "ollama_sidecar_gpu_request_energy_joules_total",
            {"gen_ai_request_model": CPU_MODEL, "tier": cpu["tier"]},
        )
        is None
    )
    per_token = registry.get_sample_value(
        "ollama_sidecar_gpu_energy_per_output_token_joules_count",
        {"gen_ai_request_model": PARTIAL_MODEL},
    )
    assert per_token is not None and per_token >= 1


async def test_a_driver_reload_during_a_request_omits_its_energy(stack: Stack) -> None:
    async with aiohttp.ClientSession() as session:
        running = asyncio.ensure_future(generate(session, stack, GPU_MODEL))
        await asyncio.sleep(0.25)
        stack.nvml.reload_driver(0)
        body = await receipt(session, stack, await running)
        after = await receipt(session, stack, await generate(session, stack, GPU_MODEL))
    assert "energy_mj" not in body.get("gpu_usage", {})
    assert after["gpu_usage"]["energy_mj"] > 0
    unmetered = stack.sidecar.registry.get_sample_value(
        "ollama_sidecar_gpu_requests_unmetered_total", {"tier": "gpu-8gb"}
    )
    assert unmetered == 1


async def overlap(stack: Stack, other_model: str) -> tuple[Any, Any]:
    """A local GPU request with a request for `other_model` started 0.1 s into it."""
    async with aiohttp.ClientSession() as session:
        local = asyncio.ensure_future(generate(session, stack, GPU_MODEL))
        await asyncio.sleep(0.1)
        other = await generate(session, stack, other_model)
        return (
            await receipt(session, stack, await local),
            await receipt(session, stack, other),
        )


@pytest.mark.parametrize("other_model", [CLOUD_MODEL, CPU_MODEL], ids=["remote", "cpu"])
async def test_off_gpu_work_takes_no_share_of_an_overlapping_local_request(
    stack: Stack, other_model: str
) -> None:
    local, other = await overlap(stack, other_model)
    assert int(other["start_unix_ns"]) < int(local["end_unix_ns"])  # they did overlap
    assert "gpu_usage" not in other
    if other_model == CLOUD_MODEL:
        # the GPU list of remote work names no local GPU
        assert other["placement"] == {"processor": "remote", "remote_host": REMOTE_HOST}
    else:
        assert other["placement"]["processor"] == "cpu" and "gpus" not in other["placement"]
    # the local request got the whole measured draw of its GPU, undiluted
    energy = local["gpu_usage"]["energy_mj"] / 1000
    assert energy == pytest.approx(WATTS * seconds(local), rel=0.05)
    registry = stack.sidecar.registry
    for family in (
        "ollama_sidecar_gpu_request_energy_joules_total",
        "ollama_sidecar_gpu_request_seconds_total",
    ):
        labels = {"gen_ai_request_model": other_model}
        if family.endswith("energy_joules_total"):
            labels["tier"] = other["tier"]
        assert registry.get_sample_value(family, labels) is None


async def test_a_cloud_model_the_monitor_does_not_know_leaves_the_gpu_at_its_first_line(
    tmp_path: Path,
) -> None:
    """Pulled after the last `/api/tags`: it counts on the GPU until its first line names its
    remote host, then no more; the overlapping local request loses at most that first 0.1 s."""
    async with running(tmp_path, knows_cloud=False) as stack:
        local, remote = await overlap(stack, CLOUD_MODEL)
    assert remote["placement"] == {"processor": "remote", "remote_host": REMOTE_HOST}
    assert "gpu_usage" not in remote
    energy = local["gpu_usage"]["energy_mj"] / 1000
    # diluted for the whole overlap it would get about 0.6 of this; for the first line, 0.9
    assert 0.85 * WATTS * seconds(local) < energy < 1.05 * WATTS * seconds(local)
