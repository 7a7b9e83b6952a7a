"""The published, witnessed log as operators and requestors run it: `ollama-sidecar serve` with
two witnesses (the project's `receipts witness serve` and a double written from the spec), the
`receipts` CLI verifying with witness policies, `receipts monitor` following the public tiles
listener, a rewritten history, and a witness SIGKILLed between persisting and answering."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from receipts import ReceiptService, verify_cosignatures
from receipts._keys import VerifierKey
from receipts._merkle import leaf_hash
from receipts._provider import open_signer
from receipts._receipt import SignedReceipt, sign_body
from receipts._store import Batch
from receipts._store_duckdb import DuckDBStore
from receipts._witness import origin_hash
from receipts._witness_client import HttpTransport
from telemetry.core._config import WitnessConfig
from tests._net import free_port, wait_http
from tests.receipts._spec_tiles import read_log
from tests.receipts._spec_witness import SpecWitness, SpecWitnessServer
from tests.receipts._support import config, record, witness_serve
from tests.receipts._support import receipts_cli as run
from tests.telemetry.app._procs import popen, serve

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


@dataclass
class Node:
    tmp: Path
    log_key: str
    emulator: str
    proxy_port: int
    admin_port: int
    log_port: int
    own_vkey: str
    own_url: str
    spec: SpecWitness
    sidecar: subprocess.Popen[bytes] | None = None

    @property
    def admin(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    @property
    def public_log(self) -> str:
        return f"http://127.0.0.1:{self.log_port}/log/"

    def start(self) -> None:
        with open(self.tmp / "sidecar.log", "ab") as stderr:
            self._start(stderr)

    def _start(self, stderr: IO[bytes]) -> None:
        self.sidecar = popen(
            serve(
                self.emulator,
                self.tmp / "data",
                f"127.0.0.1:{self.proxy_port}",
                f"127.0.0.1:{self.admin_port}",
                "--log-listen",
                f"127.0.0.1:{self.log_port}",
                "--config",
                str(self.tmp / "sidecar.toml"),
            ),
            stderr=stderr,
        )
        wait_http(self.admin + "/healthz")

    def stop(self) -> None:
        assert self.sidecar is not None
        self.sidecar.send_signal(signal.SIGTERM)
        assert self.sidecar.wait(30) == 0
        self.sidecar = None

    async def traffic(self, n: int, first: int = 0) -> None:
        async with aiohttp.ClientSession() as session:
            for i in range(first, first + n):
                body = {"model": "llama3.1:8b", "prompt": "hi", "stream": False}
                async with session.post(
                    f"http://127.0.0.1:{self.proxy_port}/api/generate",
                    json=body,
                    headers={"X-Request-ID": f"tx-{i}"},
                ) as response:
                    assert response.status == 200
                    await response.read()

    def cosigned_checkpoint(self, size: int, witnesses: int = 2) -> bytes:
        keys = [VerifierKey.parse(self.own_vkey), VerifierKey.parse(self.spec.vkey)]
        deadline = time.monotonic() + 30
        while True:
            note = b""
            try:  # 404 until the first checkpoint is published
                note = get(self.public_log + "checkpoint")
                if int(note.split(b"\n")[1]) >= size:
                    verify_cosignatures(note, keys, witnesses)
                    return note
            except Exception:
                pass
            assert time.monotonic() < deadline, note.decode()
            time.sleep(0.1)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    made = run("--data-dir", str(tmp_path / "data"), "keygen")
    assert made.returncode == 0, made.stderr
    log_key = made.stdout.strip()
    own = run("witness", "keygen", "--key", str(tmp_path / "w.key"), "--name", "own.example/w")
    own_vkey = own.stdout.strip()
    own_port = free_port()
    witness = subprocess.Popen(
        witness_serve(tmp_path / "w.key", log_key, own_port, tmp_path / "w-state"),
        cwd=ROOT,
        stderr=subprocess.DEVNULL,
    )
    spec = SpecWitness("spec.example/w", log_key)
    spec_server = SpecWitnessServer(spec)
    emu_port = free_port()
    emulator = popen(
        [
            "emulate",
            "--listen",
            f"127.0.0.1:{emu_port}",
            "--ttft",
            "0.01",
            "--output-tokens",
            "4",
        ]
    )
    (tmp_path / "sidecar.toml").write_text(
        f"""
[receipts]
flush_interval_seconds = 0.1
checkpoint_interval_seconds = 0.3
tiles_dir = "{tmp_path / "tiles"}"
witness_quorum = 2
[[receipts.witness]]
url = "http://127.0.0.1:{own_port}"
key = "{own_vkey}"
[[receipts.witness]]
url = "{spec_server.url}"
key = "{spec.vkey}"
[gpu]
enabled = false
"""
    )
    wait_http(f"http://127.0.0.1:{emu_port}/api/version")
    running = Node(
        tmp_path,
        log_key,
        f"http://127.0.0.1:{emu_port}",
        free_port(),
        free_port(),
        free_port(),
        own_vkey,
        f"http://127.0.0.1:{own_port}/",
        spec,
    )
    running.start()
    yield running
    if running.sidecar is not None:
        running.sidecar.kill()
        running.sidecar.wait()
    for process in (witness, emulator):
        process.terminate()
        process.wait(10)
    spec_server.close()


async def test_both_witnesses_cosign_and_every_verify_mode_takes_the_policy(node: Node) -> None:
    await node.traffic(6)
    note = await asyncio.to_thread(node.cosigned_checkpoint, 6)
    own, spec = node.own_vkey, node.spec.vkey
    stranger = run("witness", "keygen", "--key", str(node.tmp / "x.key"), "--name", "x.example")
    wrong = stranger.stdout.strip()
    admin = ("--data-dir", str(node.tmp / "data"), "--admin", node.admin)
    for policy, code in [
        (("--witness", own, "--witness", spec), 0),  # quorum 2 (every witness given)
        (("--witness", own, "--witness", spec, "--quorum", "1"), 0),
        (("--witness", spec, "--quorum", "1"), 0),
        (("--witness", wrong), 1),
        (("--witness", own, "--witness", spec, "--quorum", "3"), 1),
        (("--quorum", "1"), 1),  # a witness required, none given
    ]:
        by_id = run(*admin, "verify", "tx-2", *policy)
        everything = run(*admin, "verify", "--all", *policy)
        assert (by_id.returncode, everything.returncode) == (code, code), by_id.stderr
        if code:
            assert "valid witness cosignatures" in by_id.stderr
    three = run(*admin, "verify", "tx-1", "--witness", own, "--witness", spec, "--quorum", "3")
    assert "has 2 valid witness cosignatures" in three.stderr and "quorum is 3" in three.stderr

    # offline: the exported proof carries the cosigned checkpoint
    out = node.tmp / "export"
    assert run(*admin, "export", "tx-3", "-o", str(out)).returncode == 0
    offline = (
        "verify",
        "--receipt",
        str(out / "tx-3.json"),
        "--proof",
        str(out / "tx-3.tlog-proof"),
    )
    offline += ("--key", node.log_key)
    assert run(*offline, "--witness", own, "--witness", spec).returncode == 0
    assert run(*offline, "--witness", wrong).returncode == 1

    # receipts checkpoint verify, on the checkpoint the public listener serves
    (node.tmp / "cp").write_bytes(note)
    cp = ("checkpoint", "verify", str(node.tmp / "cp"), "--key", node.log_key)
    assert run(*cp, "--witness", own, "--witness", spec, "--quorum", "2").returncode == 0
    missing = run(*cp, "--witness", own, "--witness", wrong, "--quorum", "2")
    assert missing.returncode == 1 and "1 valid witness cosignatures" in missing.stderr

    # the public listener serves only the log; a spec reader reads it all back
    log = await asyncio.to_thread(read_log, lambda p: get(node.public_log + p))
    assert len(log.entries) >= 6
    with pytest.raises(urllib.error.HTTPError):
        get(node.public_log.replace("/log/", "/metrics"))
    # the monitor follows the public tiles with the same policy
    monitor = run(
        "monitor",
        "--log",
        node.public_log,
        "--key",
        node.log_key,
        "--witness",
        own,
        "--witness",
        spec,
        "--state",
        str(node.tmp / "monitor"),
        "--once",
    )
    assert monitor.returncode == 0, monitor.stderr
    assert "new receipts verified" in monitor.stderr


async def test_a_rewritten_history_is_refused_reported_and_detected(node: Node) -> None:
    await node.traffic(5)
    await asyncio.to_thread(node.cosigned_checkpoint, 5)
    state = str(node.tmp / "monitor")
    watch = ("monitor", "--log", node.public_log, "--key", node.log_key, "--state", state)
    assert run(*watch, "--once").returncode == 0
    node.stop()

    # change one stored receipt, re-signed by the provider's own key, and rebuild the log
    data = node.tmp / "data"
    db = DuckDBStore(data / "receipts.duckdb")
    rows = db.entries(0, 1000)
    db.close()
    signer = open_signer(data, node.log_key.split("+")[0], create=False)
    body = dict(SignedReceipt.parse(rows[2].raw).body)
    body["status"] = 500
    raw = sign_body(body, signer)[0]
    rows[2] = replace(rows[2], raw=raw, leaf_hash=leaf_hash(raw), status=500)
    (data / "receipts.duckdb").unlink()
    rebuilt = DuckDBStore(data / "receipts.duckdb")
    rebuilt.write(Batch(tuple(rows)))
    rebuilt.close()
    node.start()
    await node.traffic(2, first=100)

    deadline = time.monotonic() + 30
    while True:  # the sidecar reports both refusals
        metrics = get(node.admin + "/metrics").decode()
        refused = [
            line
            for line in metrics.splitlines()
            if line.startswith("ollama_sidecar_witness_submissions_total")
            and 'result="unprocessable"' in line
        ]
        if len(refused) == 2:
            break
        assert time.monotonic() < deadline, metrics
        await asyncio.sleep(0.2)
    assert "did not cosign" in (node.tmp / "sidecar.log").read_text()
    # both witnesses refused it and kept the history they cosigned
    assert 422 in node.spec.answers and node.spec.size == 5
    kept = get(node.own_url + origin_hash(node.log_key.split("+")[0]) + "/checkpoint")
    assert kept.split(b"\n")[1] == b"5"

    detected = run(*watch, "--once")
    assert detected.returncode == 1
    assert "fork" in detected.stderr and "size 5" in detected.stderr


def test_a_witness_killed_between_persisting_and_answering(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    log_key = open_signer(data, "", create=True).verifier()
    made = run("witness", "keygen", "--key", str(tmp_path / "k.key"), "--name", "k.example")
    witness_key = made.stdout.strip()
    port, marker = free_port(), tmp_path / "crash"
    marker.touch()

    def start_witness() -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.receipts._crashing_witness",
                str(tmp_path / "k.key"),
                str(log_key),
                str(tmp_path / "state"),
                str(marker),
                str(port),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None and process.stdout.readline() == "ready\n"
        return process

    witness = start_witness()
    registry = CollectorRegistry()
    cfg = config(
        data,
        witness=(WitnessConfig(f"http://127.0.0.1:{port}/", witness_key),),
        checkpoint_interval_seconds=0.1,
    )
    service = ReceiptService(cfg, registry=registry, witness_transport=HttpTransport())
    service.start()
    try:
        for i in range(5):
            service.submit(record(i))
        assert service.flush(10, checkpoint=True)
        assert witness.wait(30) == -signal.SIGKILL  # persisted size 5, never answered
        saved = json.loads((tmp_path / "state" / f"{origin_hash(log_key.name)}.json").read_text())
        assert saved["size"] == 5
        witness.stdout.close()  # type: ignore[union-attr]
        witness = start_witness()
        deadline = time.monotonic() + 30
        while True:  # retried: 409 names 5, resubmitted from 5, cosigned
            published = service.published_checkpoint()
            try:
                assert published is not None
                verify_cosignatures(published[1], [VerifierKey.parse(witness_key)], 1)
                break
            except Exception:
                assert time.monotonic() < deadline
                time.sleep(0.1)

        def count(result: str) -> float:
            labels = {"witness": "k.example", "result": result}
            return (
                registry.get_sample_value("ollama_sidecar_witness_submissions_total", labels) or 0.0
            )

        assert count("unreachable") >= 1 and count("conflict") == 1 and count("ok") == 1
        assert count("unprocessable") == 0  # no fork
    finally:
        service.stop()
        witness.terminate()
        witness.wait(10)
        if witness.stdout:
            witness.stdout.close()
