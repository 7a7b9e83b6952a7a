"""The receipts admin API over real HTTP, and the CLI using it while the service holds the DB."""

from __future__ import annotations

import asyncio
import base64
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from receipts import ReceiptService, TlogProof, VerifierKey, verify_tlog_proof
from receipts._wire import row_from_json
from tests.receipts._support import OUTCOMES, config, record

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[tuple[ReceiptService, str]]:
    service = ReceiptService(config(tmp_path, checkpoint_interval_seconds=3600))
    service.start()
    app = web.Application()
    app.add_routes(service.admin_routes())
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield service, f"http://127.0.0.1:{port}"
    await runner.cleanup()
    service.stop()


async def test_routes_answer_what_the_cli_needs(running: tuple[ReceiptService, str]) -> None:
    service, url = running
    for i, outcome in enumerate(OUTCOMES[:-1]):
        service.submit(record(i, outcome))
    await asyncio.to_thread(service.flush)  # stored, and checkpointed (first flush after start)
    service.submit(record(len(OUTCOMES) - 1, OUTCOMES[-1]))
    await asyncio.to_thread(service.flush)  # stored, but no checkpoint is due for an hour
    assert service.latest_checkpoint().size == len(OUTCOMES) - 1  # type: ignore[union-attr]
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/receipts/pubkey") as r:
            pub = await r.json()
        key = VerifierKey.parse(pub["verifier_key"])
        assert pub["origin"] == key.name
        # the proof route checkpoints first when no checkpoint covers the receipt yet
        async with http.get(f"{url}/receipts/receipt/req-{len(OUTCOMES) - 1:06d}/proof") as r:
            assert r.status == 200
            assert TlogProof.parse(await r.read()).index == len(OUTCOMES) - 1
        async with http.get(f"{url}/receipts/receipt/req-000000/proof") as r:
            assert r.status == 200
            proof = TlogProof.parse(await r.read())
        async with http.get(f"{url}/receipts/receipt/req-000000") as r:
            data = await r.json()
        row = row_from_json(data["receipt"])
        assert verify_tlog_proof(proof, row.raw, key).size == len(OUTCOMES)
        async with http.get(f"{url}/receipts/entries", params={"start": "2", "limit": "2"}) as r:
            assert [e["seq"] for e in (await r.json())["entries"]] == [2, 3]
        async with http.get(f"{url}/receipts/list", params={"outcome": "timeout"}) as r:
            assert [e["outcome"] for e in (await r.json())["receipts"]] == ["timeout"]
        async with http.get(f"{url}/receipts/checkpoints") as r:
            cps = (await r.json())["checkpoints"]
        assert cps[-1]["size"] == len(OUTCOMES)
        assert base64.b64decode(cps[-1]["root"]) == proof_root(proof)
        async with http.get(f"{url}/receipts/checkpoint") as r:
            assert (await r.read()) == cps[-1]["note"].encode()
        async with http.get(f"{url}/receipts/receipt/nope") as r:
            assert r.status == 404 and "unknown request ID" in (await r.json())["error"]
        async with http.get(f"{url}/receipts/list", params={"limit": "x"}) as r:
            assert r.status == 400


def proof_root(proof: TlogProof) -> bytes:
    from receipts import Checkpoint, SignedNote

    return Checkpoint.from_text(SignedNote.parse(proof.checkpoint).text).root


async def _cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "receipts",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.slow
async def test_cli_works_while_the_service_runs(
    running: tuple[ReceiptService, str], tmp_path: Path
) -> None:
    service, url = running
    for i in range(12):
        service.submit(record(i))
    await asyncio.to_thread(service.flush)
    # the database is held by this process: without --admin the CLI would try the default port
    code, _, err = await _cli(
        "--data-dir", str(tmp_path), "--admin", url, "verify", "req-000003", "req-000011"
    )
    assert code == 0, err
    code, _, err = await _cli("--data-dir", str(tmp_path), "--admin", url, "verify", "--all")
    assert code == 0 and "12 OK, 0 FAIL" in err, err
    code, _, err = await _cli("--admin", url, "audit")
    assert code == 0, err
    code, out, _ = await _cli("--admin", url, "pubkey")
    assert out.strip() == service.verifier_key
    code, _, err = await _cli("--admin", url, "verify", "nope")
    assert code == 1 and "FAIL: nope: unknown request ID" in err
    code, _, err = await _cli("--admin", "http://127.0.0.1:9", "verify", "--all")
    assert code == 2 and "cannot reach" in err and "Traceback" not in err


async def test_a_request_id_sent_twice_answers_the_latest_or_the_index_asked_for(
    running: tuple[ReceiptService, str], tmp_path: Path
) -> None:
    service, url = running
    for i in range(3):
        service.submit(replace(record(i), request_id="dup") if i != 1 else record(i))
    await asyncio.to_thread(service.flush)
    key = VerifierKey.parse(service.verifier_key)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/receipts/receipt/dup") as r:
            data = await r.json()
        assert data["receipt"]["seq"] == 2
        assert [e["seq"] for e in data["receipts"]] == [0, 2]
        async with http.get(f"{url}/receipts/receipt/dup", params={"index": "0"}) as r:
            assert (await r.json())["receipt"]["trace_id"] == record(0).trace_id
        for index, expected in ((None, 2), ("0", 0), ("2", 2)):
            params = {"index": index} if index else {}
            async with http.get(f"{url}/receipts/receipt/dup/proof", params=params) as r:
                proof = TlogProof.parse(await r.read())
            assert proof.index == expected
            raw = row_from_json(data["receipts"][expected // 2]).raw
            assert verify_tlog_proof(proof, raw, key).size == 3
        for index in ("1", "7"):  # another request's index, and one past the log
            async with http.get(f"{url}/receipts/receipt/dup/proof", params={"index": index}) as r:
                assert r.status == 404
                assert f"dup at index {index}" in (await r.json())["error"]
        async with http.get(f"{url}/receipts/receipt/dup", params={"index": "x"}) as r:
            assert r.status == 400
    code, _, err = await _cli("--data-dir", str(tmp_path), "--admin", url, "verify", "dup")
    assert code == 0, err
    assert "OK: dup#0: index 0 " in err and "OK: dup#2: index 2 " in err
