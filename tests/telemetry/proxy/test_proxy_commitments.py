"""What the client received is exactly what the record commits to (SHA-256 over salt ‖ bytes),
also when the proxy itself ended the exchange; and edge cases of deadlines and uploads."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json

import aiohttp
from aiohttp import web

from telemetry import Outcome
from telemetry.app._sidecar import Components
from telemetry.emulator import EmulatorConfig, EmulatorServer
from tests.telemetry.conftest import FakeReceipts, Running, StartSidecar

SHORT = """
[tiers.gpu-8gb]
ttft_timeout_seconds = 0.4
idle_timeout_seconds = 0.3
"""
GENERATE = {"model": "llama3.1:8b", "prompt": "hi"}


async def exchange(url: str, fault: str | None = None) -> tuple[int, bytes, str]:
    headers = {"X-Emulator-Fault": fault} if fault else {}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url + "/api/generate", json=GENERATE, headers=headers) as response,
    ):
        return response.status, await response.read(), response.headers["X-Receipt-Salt"]


async def test_commitment_covers_the_bytes_the_client_got(start_sidecar: StartSidecar) -> None:
    async with EmulatorServer(
        EmulatorConfig(ttft_seconds=0.01, tokens_per_second=100, output_tokens=6)
    ) as emu:
        running: Running = await start_sidecar(
            emu.url, SHORT, components=Components(receipts=FakeReceipts())
        )
        cases = (
            (None, 200),
            ("stall_midstream", 200),
            ("stall_before", 504),
            ("error_before", 500),
        )
        for count, (fault, status) in enumerate(cases, start=1):
            got_status, body, salt = await exchange(running.url, fault)
            assert got_status == status
            record = (await running.sink.wait_for(count))[count - 1]
            assert record.response_bytes == len(body), fault
            expected = hashlib.sha256(bytes.fromhex(salt) + body).hexdigest()
            assert record.response_sha256 == expected, fault
            assert (
                record.request_sha256
                == hashlib.sha256(bytes.fromhex(salt) + json.dumps(GENERATE).encode()).hexdigest()
            )


async def test_slow_reading_client_is_not_an_upstream_timeout(
    start_sidecar: StartSidecar,
) -> None:
    async with EmulatorServer(
        EmulatorConfig(ttft_seconds=0, tokens_per_second=0, output_tokens=40000)
    ) as emu:
        # The in-process emulator writes 40000 chunks without pausing and can hold the shared
        # event loop for a while: give the first token time, keep the idle timeout short.
        patient_first_token = SHORT.replace(
            "ttft_timeout_seconds = 0.4", "ttft_timeout_seconds = 10"
        )
        running: Running = await start_sidecar(emu.url, patient_first_token)
        async with (
            aiohttp.ClientSession() as session,
            session.post(running.url + "/api/generate", json=GENERATE) as response,
        ):
            await response.content.read(1024)
            await asyncio.sleep(1.0)  # > idle timeout: the proxy's writes wait on us
            rest = await response.read()
        record = (await running.sink.wait_for(1))[0]
        assert record.outcome is Outcome.OK, record.error_type
        assert b'"done":true' in rest


async def test_streamed_upload_moves_the_idle_deadline(start_sidecar: StartSidecar) -> None:
    async def blob(request: web.Request) -> web.Response:
        size = len(await request.read())
        return web.json_response({"received": size}, status=201)

    app = web.Application(client_max_size=1 << 30)
    app.router.add_post("/api/blobs/{digest}", blob)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        running: Running = await start_sidecar(url, management_idle_timeout=0.3)

        async def slow_body():  # type: ignore[no-untyped-def]
            for _ in range(8):
                await asyncio.sleep(0.1)
                yield b"x" * 1024

        async with (
            aiohttp.ClientSession() as session,
            session.post(running.url + "/api/blobs/sha256:abc", data=slow_body()) as response,
        ):
            assert response.status == 201
            assert await response.json() == {"received": 8192}
        assert (await running.sink.wait_for(1))[0].outcome is Outcome.OK
    finally:
        await runner.cleanup()


async def test_upstream_path_prefix_is_kept(start_sidecar: StartSidecar) -> None:
    seen: list[str] = []

    async def anything(request: web.Request) -> web.Response:
        seen.append(request.path_qs)
        return web.Response(body=io.BytesIO(b"ok").getvalue())

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", anything)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        running: Running = await start_sidecar(f"http://127.0.0.1:{runner.addresses[0][1]}/ollama")
        async with (
            aiohttp.ClientSession() as session,
            session.get(running.url + "/api/tags?x=1") as response,
        ):
            assert response.status == 200
        assert "/ollama/api/tags?x=1" in seen
    finally:
        await runner.cleanup()
