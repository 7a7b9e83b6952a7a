"""`receipts audit` catches every kind of tampering with the database, named."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from receipts import ReceiptService, sign_receipt
from receipts._audit import audit, check_entries, row_pages
from receipts._keys import Signer
from receipts._merkle import leaf_hash
from receipts._store import iter_entries
from receipts._store_duckdb import DuckDBStore
from tests.receipts._support import config, record, signer

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # every test runs the CLI in a subprocess
N = 12


def build_log(data_dir: Path, n: int = N, start: int = 0) -> ReceiptService:
    service = ReceiptService(config(data_dir))
    service.start()
    for i in range(start, start + n):
        service.submit(record(i))
        if i % 4 == 3:
            assert service.flush(10, checkpoint=True)
    service.stop()
    return service


def run_audit(data_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "receipts", "--data-dir", str(data_dir), "audit", *extra],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def sql(data_dir: Path, *statements: str) -> None:
    con = duckdb.connect(str(data_dir / "receipts.duckdb"))
    for statement in statements:
        con.execute(statement)
    con.close()


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    build_log(tmp_path)
    return tmp_path


def test_an_untouched_log_passes(log_dir: Path) -> None:
    result = run_audit(log_dir, "--json")
    assert result.returncode == 0, result.stderr
    assert f"OK: {N} receipts, 3 checkpoints" in result.stderr


@pytest.mark.parametrize(
    ("statements", "named"),
    [
        # a field edited inside the signed bytes (leaf hash fixed up to match)
        (
            [
                "UPDATE receipts SET raw = replace(raw::VARCHAR, '\"status\":200', "
                "'\"status\":201')::BLOB WHERE seq = 5",
                "UPDATE receipts SET leaf_hash = sha256(concat('\\x00'::BLOB, raw))::BLOB "
                "WHERE seq = 5",
            ],
            "receipt 5",
        ),
        # a queryable column edited
        (["UPDATE receipts SET model = 'gpt-5' WHERE seq = 2"], "receipt 2: column model"),
        # a row deleted
        (["DELETE FROM receipts WHERE seq = 4"], "receipt 4 is missing"),
        # two rows reordered
        (
            ["UPDATE receipts SET seq = CASE seq WHEN 1 THEN 2 ELSE 1 END WHERE seq IN (1, 2)"],
            "root does not match",
        ),
        # the log truncated
        (["DELETE FROM receipts WHERE seq >= 10"], "log truncated"),
        # a checkpoint note replaced by garbage
        (["UPDATE checkpoints SET note = 'x'::BLOB WHERE size = 8"], "checkpoint of size 8"),
    ],
)
def test_tampering_is_caught_and_named(log_dir: Path, statements: list[str], named: str) -> None:
    sql(log_dir, *statements)
    result = run_audit(log_dir)
    assert result.returncode == 1, result.stderr
    assert named in result.stderr and "Traceback" not in result.stderr


def test_a_receipt_signed_by_another_key_is_caught(log_dir: Path) -> None:
    store = DuckDBStore(log_dir / "receipts.duckdb", read_only=True)
    original = store.entries(3, 1)[0]
    store.close()
    intruder: Signer = signer()
    from receipts import leaf_hash, receipt_body

    raw = sign_receipt(
        receipt_body(record(3), origin=intruder.name, key_id=intruder.key_id.hex()), intruder
    ).raw
    con = duckdb.connect(str(log_dir / "receipts.duckdb"))
    con.execute("UPDATE receipts SET raw = ?, leaf_hash = ? WHERE seq = 3", [raw, leaf_hash(raw)])
    con.close()
    assert original.raw != raw
    result = run_audit(log_dir)
    assert result.returncode == 1 and "receipt 3" in result.stderr


def test_history_rewritten_after_a_checkpoint_was_exported(tmp_path: Path) -> None:
    build_log(tmp_path, 8)
    exported = subprocess.run(
        [sys.executable, "-m", "receipts", "--data-dir", str(tmp_path), "checkpoint"],
        capture_output=True,
        cwd=ROOT,
        check=True,
    ).stdout
    held = tmp_path / "held.checkpoint"
    held.write_bytes(exported)
    # The provider rebuilds the log with the same key: different receipts, fresh checkpoints.
    # (the watermark goes too: it alone would refuse the shorter log)
    (tmp_path / "receipts.duckdb").unlink()
    (tmp_path / "receipts.watermark").unlink()
    build_log(tmp_path, 10, start=100)
    assert run_audit(tmp_path).returncode == 0  # self-consistent on its own
    result = run_audit(tmp_path, "--checkpoint", str(held))
    assert result.returncode == 1
    assert "history was rewritten" in result.stderr


def test_audit_in_process_with_a_pool_matches_the_serial_answer(tmp_path: Path) -> None:
    service = build_log(tmp_path, 40)
    store = DuckDBStore(tmp_path / "receipts.duckdb", read_only=True)
    key = service.signer.verifier()
    serial = audit(row_pages(iter_entries(store, page=7)), store.checkpoints(), key, workers=1)
    pooled = audit(
        row_pages(iter_entries(store, page=7)),
        store.checkpoints(),
        key,
        workers=2,
        pool_threshold=10,
        chunk_size=8,
    )
    store.close()
    assert serial.ok and pooled.ok and serial.receipts == pooled.receipts == 40
    bad = check_entries(str(key), [(0, leaf_hash(b"{}"), b"{}", "req-x", None, "ok", 200)])
    assert bad is not None and bad[0] == 0


def _forge_signature(data_dir: Path, seq: int) -> None:
    """Flip one bit of receipt `seq`'s signature (canonical base64, leaf hash fixed up)."""
    con = duckdb.connect(str(data_dir / "receipts.duckdb"))
    row = con.execute("SELECT raw FROM receipts WHERE seq = ?", [seq]).fetchone()
    assert row is not None
    raw = bytes(row[0])
    at = raw.index(b'"sig":"') + len(b'"sig":"')
    signature = bytearray(base64.b64decode(raw[at : at + 88]))
    signature[10] ^= 0x04
    forged = raw[:at] + base64.b64encode(bytes(signature)) + raw[at + 88 :]
    con.execute(
        "UPDATE receipts SET raw = ?, leaf_hash = ? WHERE seq = ?",
        [forged, leaf_hash(forged), seq],
    )
    con.close()


def test_a_forged_signature_is_caught_by_the_cli(log_dir: Path) -> None:
    _forge_signature(log_dir, 7)
    result = run_audit(log_dir)
    assert result.returncode == 1
    assert "receipt 7: receipt req-000007 signature does not verify" in result.stderr


def test_the_pool_reports_the_lowest_bad_receipt_even_from_held_chunks(tmp_path: Path) -> None:
    service = build_log(tmp_path, 40)
    _forge_signature(tmp_path, 3)
    _forge_signature(tmp_path, 33)
    store = DuckDBStore(tmp_path / "receipts.duckdb", read_only=True)
    key = service.signer.verifier()
    reports = [
        audit(
            row_pages(iter_entries(store, page=7)),
            store.checkpoints(),
            key,
            workers=workers,
            pool_threshold=threshold,
            chunk_size=5,
        )
        for workers, threshold in [(1, 10), (2, 10), (2, 1000)]
    ]
    store.close()
    for report in reports:
        assert report.problems == [
            "receipt 3: receipt req-000003 signature does not verify with " + key.name
        ]
