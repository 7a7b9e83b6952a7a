"""Receipts through the real sidecar and emulator, as a hostile or careless client drives them:
refused requests leave no receipt, client headers do not name the agreement, a client-chosen
trace does not mix requests' spans, and a stuck store turns readiness red."""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client import CollectorRegistry

from receipts import MemoryStore, ReceiptService
from receipts import metric_names as names
from telemetry import load_config
from telemetry.app._sidecar import Components, Sidecar
from telemetry.emulator import EmulatorConfig, EmulatorServer

ROOT = Path(__file__).resolve().parents[3]
GEN = {"model": "llama3.2:3b", "prompt": "x", "stream": False}
TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

Start = Callable[..., AbstractAsyncContextManager[tuple[Sidecar, str, str]]]


@asynccontextmanager
async def running(
    tmp_path: Path,
    *,
    receipts: dict[str, Any] | None = None,
    token: str | None = None,
    store: MemoryStore | None = None,
) -> AsyncIterator[tuple[Sidecar, str, str]]:
    proxy: dict[str, Any] = {
        "listen": "127.0.0.1:0",
        "admin_listen": "127.0.0.1:0",
        "data_dir": tmp_path,
        "log_requests": False,
    }
    if token is not None:
        (tmp_path / "token").write_text(token + "\n")
        (tmp_path / "token").chmod(0o600)
        proxy["auth_token_file"] = tmp_path / "token"
    async with EmulatorServer(EmulatorConfig(ttft_seconds=0.0, tokens_per_second=0)) as emu:
        proxy["upstream"] = emu.url
        config = load_config(
            env={},
            overrides={
                "proxy": proxy,
                "gpu": {"enabled": False},
                "receipts": {"flush_interval_seconds": 0.05, **(receipts or {})},
            },
        )
        registry = CollectorRegistry()
        service = ReceiptService(config, registry=registry, store=store)
        sidecar = Sidecar(
            config, env={}, registry=registry, components=Components(receipts=service)
        )
        await sidecar.start()
        try:
            yield (
                sidecar,
                f"http://127.0.0.1:{sidecar.listen_port}",
                f"http://127.0.0.1:{sidecar.admin_port}",
            )
        finally:
            await sidecar.stop()


async def generate(http: aiohttp.ClientSession, url: str, **headers: str) -> int:
    async with http.post(url + "/api/generate", json=GEN, headers=headers) as r:
        await r.read()
        return r.status


async def receipt_body(http: aiohttp.ClientSession, admin: str, request_id: str) -> Any:
    async with http.get(f"{admin}/receipts/receipt/{request_id}") as r:
        assert r.status == 200
        data = await r.json()
    return data, json.loads(base64.b64decode(data["receipt"]["raw"]))["receipt"]


async def test_an_unauthenticated_request_leaves_no_receipt_and_cannot_shadow_a_real_one(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, token="s3cret") as (sidecar, url, admin):
        async with aiohttp.ClientSession() as http:
            ok = {"Authorization": "Bearer s3cret", "X-Request-ID": "victim"}
            assert await generate(http, url, **ok) == 200
            forged = {"X-Request-ID": "victim", "X-Golem-Agreement-Id": "forged"}
            for _ in range(20):
                assert await generate(http, url, **forged) == 401
            assert await asyncio.to_thread(sidecar.receipts.flush, 5.0)
            data, body = await receipt_body(http, admin, "victim")
            assert body["status"] == 200 and len(data["receipts"]) == 1
            async with http.get(f"{admin}/receipts/pubkey") as r:
                assert (await r.json())["size"] == 1
    assert sidecar.registry.get_sample_value(names.UNAUTHENTICATED) == 20


async def test_the_configured_agreement_wins_over_the_client_header_unless_trusted(
    tmp_path: Path,
) -> None:
    header = {"X-Golem-Agreement-Id": "client-agr", "X-Golem-Activity-Id": "client-act"}
    cases = [
        ({"golem_agreement_id": "cfg-agr"}, "cfg-agr", None),
        ({}, None, None),  # nothing configured: the header alone names nothing
        (
            {"golem_agreement_id": "cfg-agr", "trust_client_agreement_header": True},
            *header.values(),
        ),
    ]
    for i, (receipts, agreement, activity) in enumerate(cases):
        data_dir = tmp_path / str(i)
        data_dir.mkdir()
        async with running(data_dir, receipts=receipts) as (sidecar, url, admin):
            async with aiohttp.ClientSession() as http:
                assert await generate(http, url, **header, **{"X-Request-ID": "r"}) == 200
                assert await asyncio.to_thread(sidecar.receipts.flush, 5.0)
                _, body = await receipt_body(http, admin, "r")
        assert body.get("agreement_id") == agreement, receipts
        assert body.get("activity_id") == activity, receipts


async def test_a_receipt_shows_its_own_spans_not_every_span_of_a_client_chosen_trace(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as (sidecar, url, admin):
        async with aiohttp.ClientSession() as http:
            for request_id in ("mine", "other", "other2"):
                headers = {"X-Request-ID": request_id, "traceparent": TRACE}
                assert await generate(http, url, **headers) == 200
            sidecar.tracing._provider.force_flush()  # type: ignore[union-attr]
            assert await asyncio.to_thread(sidecar.receipts.flush, 5.0)
            data, body = await receipt_body(http, admin, "mine")
        spans = data["spans"]
        assert [s["span_id"] for s in spans] == [body["span_id"]]
        assert spans[0]["attributes"]["ollama_sidecar.request_id"] == "mine"
        show = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "receipts",
            "--data-dir",
            str(tmp_path),
            "--admin",
            admin,
            "show",
            "mine",
            "--json",
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await show.communicate()
    assert show.returncode == 0, err.decode()
    assert [s["span_id"] for s in json.loads(out)["spans"]] == [body["span_id"]]


async def test_a_store_that_keeps_failing_turns_readiness_red_and_fresh_checkpoints_503(
    tmp_path: Path,
) -> None:
    store = MemoryStore()
    async with running(tmp_path, store=store) as (sidecar, url, admin):
        async with aiohttp.ClientSession() as http:
            async with http.get(admin + "/readyz") as r:
                assert r.status == 200
            store.fail_writes = 1_000_000  # the disk is full from now on
            assert await generate(http, url) == 200  # the request itself is served
            async with asyncio.timeout(10):
                while True:
                    async with http.get(admin + "/readyz") as r:
                        report = await r.json()
                        if r.status == 503:
                            break
                    await asyncio.sleep(0.1)
            assert not report["checks"]["receipts"]["ok"]
            assert "receipt store failing" in report["checks"]["receipts"]["detail"]
            assert sidecar.registry.get_sample_value(names.WRITER_STUCK) == 1
            async with http.get(admin + "/receipts/checkpoint", params={"fresh": "1"}) as r:
                assert r.status == 503
            store.fail_writes = 0
            assert await asyncio.to_thread(sidecar.receipts.flush, 10.0)
            async with http.get(admin + "/readyz") as r:
                assert r.status == 200
    assert store.size() == 1
