"""The receipts admin API over real HTTP, and the CLI using it while the service holds the DB."""

from __future__ import annotations

import asyncio
import base64
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from receipts import ReceiptService, TlogProof, VerifierKey, verify_tlog_proof
from receipts._store import Batch, MemoryStore
from receipts._wire import row_from_json
from tests.receipts._support import OUTCOMES, config, record, signer

ROOT = Path(__file__).resolve().parents[2]


@asynccontextmanager
async def serving(routes: list[web.RouteDef]) -> AsyncIterator[str]:
    """The routes on a loopback port; yields the base URL."""
    app = web.Application()
    app.add_routes(routes)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[tuple[ReceiptService, str]]:
    service = ReceiptService(config(tmp_path, checkpoint_interval_seconds=3600))
    service.start()
    async with serving(service.admin_routes()) as url:
        yield service, url
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
    code, _, err = await _cli("--data-dir", str(tmp_path), "--admin", url, "audit")
    assert code == 0 and "the writer stored 12, refused 0, dropped 0" in err, err
    # the verifier key is the data dir's own or --key, never the one the API names
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = await _cli("--data-dir", str(empty), "--admin", url, "audit")
    assert code == 2 and "--key VKEY is required" in err, err
    code, _, err = await _cli(
        "--data-dir", str(empty), "--admin", url, "audit", "--key", service.verifier_key
    )
    assert code == 0, err
    code, out, _ = await _cli("--admin", url, "pubkey")
    assert out.strip() == service.verifier_key
    code, _, err = await _cli("--data-dir", str(tmp_path), "--admin", url, "verify", "nope")
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


async def test_query_parameters_out_of_range_are_a_400_naming_them(
    running: tuple[ReceiptService, str],
) -> None:
    _, url = running
    bad = [
        ("/receipts/list", {"limit": "-1"}, "limit"),
        ("/receipts/list", {"since_ns": str(1 << 64)}, "since_ns"),
        ("/receipts/list", {"model": "m" * 2000}, "model"),
        ("/receipts/entries", {"start": "-5"}, "start"),
        ("/receipts/entries", {"limit": "-1"}, "limit"),
        ("/receipts/checkpoint", {"fresh": "yes"}, "fresh"),
        ("/receipts/receipt/x", {"index": "-1"}, "index"),
        ("/receipts/receipt/x/proof", {"index": "99999999999999999999"}, "index"),
    ]
    async with aiohttp.ClientSession() as http:
        for path, params, name in bad:
            async with http.get(url + path, params=params) as r:
                assert r.status == 400, (path, params, r.status)
                assert (await r.json())["error"].startswith(f"{name}: ")


class _StuckStore(MemoryStore):
    """A store whose writes never return while `hold` is set (a disk that hangs)."""

    def __init__(self) -> None:
        super().__init__()
        self.hold = threading.Event()

    def write(self, batch: Batch) -> None:
        self.hold.wait()
        super().write(batch)


async def test_a_fresh_checkpoint_that_cannot_be_stored_is_a_503_not_a_stale_200(
    tmp_path: Path,
) -> None:
    store = _StuckStore()
    service = ReceiptService(config(tmp_path), store=store)
    store.hold.set()
    service.start()
    service.submit(record(0))
    assert await asyncio.to_thread(service.flush, 5.0, checkpoint=True)
    store.hold.clear()
    service.submit(record(1))
    try:
        async with serving(service.admin_routes()) as url, aiohttp.ClientSession() as http:
            async with http.get(f"{url}/receipts/checkpoint", params={"fresh": "1"}) as r:
                assert r.status == 503
                assert "timed out" in (await r.json())["error"]
            async with http.get(f"{url}/receipts/checkpoint") as r:  # the stored one, as asked
                assert r.status == 200
    finally:
        store.hold.set()
        service.stop()


_MALFORMED: list[tuple[str, object]] = [
    ("/receipts/entries", {"entries": [{"seq": "x"}]}),
    ("/receipts/entries", {"entries": 7}),
    ("/receipts/checkpoints", {"checkpoints": [{"size": 1}]}),
    ("/receipts/pubkey", {"origin": "o", "verifier_key": "v", "size": 0, "watermark": "many"}),
]


@pytest.mark.parametrize(("broken", "answer"), _MALFORMED)
async def test_malformed_admin_answers_are_exit_2_with_a_message(
    tmp_path: Path, broken: str, answer: object
) -> None:
    good: dict[str, object] = {
        "/receipts/pubkey": {
            "origin": "o",
            "verifier_key": "v",
            "size": 1,
            "watermark": {"stored": 0, "refused": 0, "dropped": 0},
        },
        "/receipts/entries": {"entries": []},
        "/receipts/checkpoints": {"checkpoints": []},
    }
    good[broken] = answer

    async def handler(request: web.Request) -> web.Response:
        return web.json_response(good.get(request.path, {}))

    key = str(signer("o").verifier())
    async with serving([web.get("/{tail:.*}", handler)]) as url:
        code, _, err = await _cli(
            "--data-dir", str(tmp_path), "--admin", url, "audit", "--key", key
        )
    assert code == 2, err
    assert err.startswith(f"error: {url}/receipts/") and err.count("\n") == 1, err


async def test_a_held_database_is_read_through_its_own_sidecar_s_noted_admin_api(
    running: tuple[ReceiptService, str], tmp_path: Path
) -> None:
    # This process holds the database, as a running sidecar does: the CLI must ask the admin API
    # that this data dir's sidecar noted, never a default address (another sidecar's log).
    service, url = running
    service.submit(record(0))
    await asyncio.to_thread(service.flush)
    code, _, err = await _cli("--data-dir", str(tmp_path), "audit")
    assert code == 2 and "names no admin API of its sidecar: pass --admin URL" in err, err
    service.announce_admin(url)
    assert (tmp_path / "admin.url").read_text() == url + "\n"
    code, _, err = await _cli("--data-dir", str(tmp_path), "audit")
    assert code == 0 and "OK: 1 receipts" in err, err
