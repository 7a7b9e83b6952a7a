"""ReceiptService end to end: key and database files, signals, store failures, spans."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from receipts import MemoryStore, ReceiptService, TlogProof, VerifierKey, verify_tlog_proof
from receipts import metric_names as names
from receipts._errors import KeyFileError, StoreError
from receipts._provider import default_origin
from tests.receipts._support import OUTCOMES, config, record

ROOT = Path(__file__).resolve().parents[2]


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "receipts", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def test_first_start_creates_a_private_key_and_continues_the_log(tmp_path: Path) -> None:
    data = tmp_path / "data"
    service = ReceiptService(config(data))
    service.start()
    key_file = data / "provider.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = VerifierKey.parse(service.verifier_key)
    assert key.name == default_origin(key.public_key)
    for i, outcome in enumerate(OUTCOMES):
        service.submit(record(i, outcome))
    service.stop()
    service.stop()
    again = ReceiptService(config(data))
    again.start()
    assert again.verifier_key == str(key)
    again.submit(record(len(OUTCOMES)))
    again.stop()
    result = cli(data, "verify", "--all", "--json")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count('"ok": true') == len(OUTCOMES) + 1


def test_configured_origin_and_golem_ids_are_used(tmp_path: Path) -> None:
    service = ReceiptService(
        config(tmp_path, origin="provider.example/log", golem_agreement_id="agr-1")
    )
    service.start()
    assert service.verifier_key.startswith("provider.example/log+")
    service.submit(record(0))
    assert service.flush(10)
    raw = service.store.entries(0, 1)[0].raw
    service.stop()
    assert b'"agreement_id":"agr-1"' in raw and b'"origin":"provider.example/log"' in raw


def test_a_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    ReceiptService(config(tmp_path)).start()
    (tmp_path / "provider.key").chmod(0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        ReceiptService(config(tmp_path)).start()


def test_submit_never_raises_and_store_failures_lose_nothing(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    store = MemoryStore(fail_writes=4)
    service = ReceiptService(config(tmp_path), store=store, registry=registry)
    service.submit(record(0))  # before start: counted, not raised
    service.start()
    for i in range(1, 31):
        service.submit(record(i))
    service.stop()
    assert [r.request_id for r in store.entries(0, 100)] == [f"req-{i:06d}" for i in range(1, 31)]
    assert registry.get_sample_value(names.RECEIPT_FAILURES, {"stage": "store"}) == 4
    assert registry.get_sample_value(names.RECEIPT_FAILURES, {"stage": "stopped"}) == 1


def json_values(text: str) -> list[dict[str, object]]:
    """The JSON values printed one after another (what `jq` reads)."""
    decoder, at = json.JSONDecoder(), 0
    values: list[dict[str, object]] = []
    while text[at:].strip():
        value, at = decoder.raw_decode(text, len(text) - len(text[at:].lstrip()))
        values.append(value)
    return values


def test_two_requests_with_one_request_id_both_get_receipts(tmp_path: Path) -> None:
    # A client may send one X-Request-ID twice; the proxy keeps it. This used to jam the writer on
    # the store's UNIQUE request_id: every later receipt stayed in memory, retried forever.
    registry = CollectorRegistry()
    service = ReceiptService(config(tmp_path), registry=registry)
    service.start()
    first = record(0)
    service.submit(first)
    assert service.flush(10)
    service.submit(replace(record(1), request_id=first.request_id))
    service.submit(record(2))
    assert service.flush(10)
    stored = service.store.entries(0, 10)
    service.stop()
    assert [r.request_id for r in stored] == ["req-000000", "req-000000", "req-000002"]
    assert [r.trace_id for r in stored] == [record(i).trace_id for i in range(3)]
    assert registry.get_sample_value(names.RECEIPT_FAILURES, {"stage": "store"}) is None

    result = cli(tmp_path, "verify", "req-000000", "req-000002")
    assert result.returncode == 0, result.stderr
    assert "OK: req-000000#0: index 0 " in result.stderr
    assert "OK: req-000000#1: index 1 " in result.stderr
    assert "OK: req-000002: index 2 " in result.stderr
    result = cli(tmp_path, "verify", "--all")
    assert result.returncode == 0 and "3 OK, 0 FAIL" in result.stderr, result.stderr
    result = cli(tmp_path, "--json", "show", "req-000000")
    assert result.returncode == 0, result.stderr
    shown = json_values(result.stdout)
    assert [(s["index"], s["verified"]) for s in shown] == [(0, True), (1, True)]
    assert shown[1]["receipt"]["trace_id"] == record(1).trace_id
    out = tmp_path / "out"
    result = cli(tmp_path, "export", "req-000000", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "req-000000.0.json",
        "req-000000.0.tlog-proof",
        "req-000000.1.json",
        "req-000000.1.tlog-proof",
    ]
    key = VerifierKey.parse(service.verifier_key)
    for i in (0, 1):
        proof = TlogProof.parse((out / f"req-000000.{i}.tlog-proof").read_bytes())
        assert proof.index == i
        verify_tlog_proof(proof, (out / f"req-000000.{i}.json").read_bytes(), key)


def test_a_tampered_database_refuses_to_start(tmp_path: Path) -> None:
    import duckdb

    service = ReceiptService(config(tmp_path))
    service.start()
    for i in range(4):
        service.submit(record(i))
    service.stop()
    con = duckdb.connect(str(tmp_path / "receipts.duckdb"))
    con.execute("DELETE FROM receipts WHERE seq = 3")
    con.close()
    with pytest.raises(StoreError, match="truncated"):
        ReceiptService(config(tmp_path)).start()


def _run_until_stored(data_dir: Path, at_least: int) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.receipts._service_proc", str(data_dir)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    stored = 0
    while stored < at_least:
        line = proc.stdout.readline()
        assert line, "the service process died"
        stored = int(line.split()[1])
    return proc, stored


@pytest.mark.slow
def test_sigterm_loses_nothing_and_writes_a_final_checkpoint(tmp_path: Path) -> None:
    proc, _ = _run_until_stored(tmp_path, 300)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "stopped" in out
    stored = (
        max(int(x.split()[1]) for x in out.split("\n") if x.startswith("stored"))
        if "stored" in out
        else 300
    )
    audit = cli(tmp_path, "audit", "--json")
    assert audit.returncode == 0, audit.stderr
    verify = cli(tmp_path, "verify", "--all")
    assert verify.returncode == 0, verify.stderr[-2000:]
    assert int(verify.stderr.strip().splitlines()[-1].split()[0]) >= stored


@pytest.mark.slow
def test_sigkill_keeps_what_was_committed_and_restart_continues(tmp_path: Path) -> None:
    proc, stored = _run_until_stored(tmp_path, 300)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    assert proc.stdout is not None
    proc.stdout.close()
    audit = cli(tmp_path, "audit")
    assert audit.returncode == 0, audit.stderr
    service = ReceiptService(config(tmp_path))
    service.start()  # verifies the stored log against its latest checkpoint
    size = service.store.size()
    assert size >= stored
    service.submit(record(size + 10_000))
    service.stop()
    verify = cli(tmp_path, "verify", "--all")
    assert verify.returncode == 0, verify.stderr[-2000:]
    assert f"{size + 1} OK, 0 FAIL" in verify.stderr


@pytest.mark.slow
def test_a_log_shortened_after_sigkill_fails_the_audit_and_refuses_to_start(
    tmp_path: Path,
) -> None:
    proc, stored = _run_until_stored(tmp_path, 80)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    assert proc.stdout is not None
    proc.stdout.close()
    mark = json.loads((tmp_path / "receipts.watermark").read_text())
    assert mark["stored"] >= stored
    wal = tmp_path / "receipts.duckdb.wal"
    with wal.open("r+b") as f:  # half of the WAL is lost (a disk that lied about its flush)
        f.truncate(wal.stat().st_size // 2)
    audit = cli(tmp_path, "audit")
    assert audit.returncode == 1, audit.stderr
    assert f"FAIL: log truncated: the writer stored {mark['stored']} receipts, only " in (
        audit.stderr
    )
    with pytest.raises(StoreError, match=f"the writer stored {mark['stored']} receipts"):
        ReceiptService(config(tmp_path)).start()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs (root only: skipped elsewhere), so the disk really fills up."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_a_full_disk_is_retried_not_refused_and_readiness_is_red_until_it_frees(
    small_disk: Path,
) -> None:
    registry = CollectorRegistry()
    service = ReceiptService(config(small_disk), registry=registry)
    service.start()
    for i in range(10):
        service.submit(record(i))
    assert service.flush(5.0)
    fill = small_disk / "fill"
    with fill.open("wb") as f, pytest.raises(OSError, match="No space left"):
        while True:
            f.write(b"\0" * 65536)
            f.flush()
    for i in range(10, 500):
        service.submit(record(i))
    assert not service.flush(3.0)  # the flush says it did not finish
    ready, detail = service.readiness()
    assert not ready and "No space left on device" in detail, detail
    assert registry.get_sample_value(names.WRITER_STUCK) == 1
    fill.unlink()
    assert service.flush(20.0)
    assert service.readiness()[0] and service.store.size() == 500
    service.stop()
    assert json.loads((small_disk / "receipts.watermark").read_text())["stored"] == 500
    assert cli(small_disk, "audit").returncode == 0
