"""The store contract, run against the DuckDB store and the in-memory fake alike."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from receipts._errors import StoreError, StoreRefusedError
from receipts._store import (
    Batch,
    CheckpointRow,
    MemoryStore,
    ReceiptQuery,
    ReceiptRow,
    ReceiptStore,
    SpanRow,
    iter_entries,
    matches,
)
from receipts._store_duckdb import SCHEMA_VERSION, DuckDBStore, StoreLockedError


def row(seq: int, model: str | None = "m1", outcome: str = "ok") -> ReceiptRow:
    raw = f'{{"n":{seq}}}'.encode()
    return ReceiptRow(
        seq,
        f"req-{seq}",
        hashlib.sha256(b"\0" + raw).digest(),
        raw,
        f"{seq:032x}",
        1000 + seq,
        2000 + seq,
        model,
        outcome,
        200,
        "gpu",
        1,
        None,
        1000,
    )


def span(trace: int, name: str, start: int) -> SpanRow:
    return SpanRow(
        f"{trace:032x}",
        f"{start:016x}",
        None,
        name,
        "SERVER",
        start,
        start + 5,
        '{"a": 1}',
        "UNSET",
    )


@pytest.fixture(params=["duckdb", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ReceiptStore]:
    s: ReceiptStore = (
        DuckDBStore(tmp_path / "r.duckdb") if request.param == "duckdb" else MemoryStore()
    )
    yield s
    s.close()


def test_write_and_read_back(store: ReceiptStore) -> None:
    cp = CheckpointRow(3, b"r" * 32, b"note\n", 99)
    store.write(Batch(tuple(row(i) for i in range(3)), (span(1, "b", 20), span(1, "a", 10)), (cp,)))
    assert store.size() == 3
    assert store.leaf_hashes() == [row(i).leaf_hash for i in range(3)]
    assert store.leaf_hashes(2) == [row(2).leaf_hash]
    assert store.entries(1, 5) == [row(1), row(2)]
    assert store.receipt("req-1") == row(1)
    assert store.receipt("nope") is None
    assert store.checkpoints() == [cp]
    assert store.latest_checkpoint() == cp
    assert [s.name for s in store.spans(f"{1:032x}")] == ["a", "b"]
    assert store.spans("0" * 32) == []


def test_queries_filter_and_keep_the_newest(store: ReceiptStore) -> None:
    rows = [
        row(i, model=("m1", "m2", None)[i % 3], outcome=("ok", "error")[i % 2]) for i in range(12)
    ]
    store.write(Batch(tuple(rows)))
    for query in (
        ReceiptQuery(),
        ReceiptQuery(model="m2"),
        ReceiptQuery(outcome="error"),
        ReceiptQuery(since_ns=1004, until_ns=1009),
        ReceiptQuery(limit=3),
        ReceiptQuery(model="m1", outcome="ok", limit=1),
    ):
        expected = [r for r in rows if matches(r, query)][-query.limit :]
        assert store.receipts(query) == expected, query


def test_a_batch_is_all_or_nothing(store: ReceiptStore) -> None:
    store.write(Batch((row(0),)))
    with pytest.raises(StoreRefusedError):
        # the second row reuses a leaf index: nothing of this batch may be stored
        store.write(Batch((row(1), row(1))))
    assert store.size() == 1
    store.write(Batch((row(1),)))
    assert store.size() == 2


def test_request_ids_may_repeat(store: ReceiptStore) -> None:
    # the proxy keeps a client's X-Request-ID, so two requests can share one
    again = _dup(row(1), "req-0")
    store.write(Batch((row(0), again)))
    store.write(Batch((_dup(row(2), "req-0"), row(3))))
    assert store.size() == 4
    assert store.receipts_for("req-0") == [row(0), again, _dup(row(2), "req-0")]
    assert store.receipt("req-0") == _dup(row(2), "req-0")
    assert store.receipts_for("req-3") == [row(3)]
    assert store.receipts_for("nope") == []


def _dup(r: ReceiptRow, request_id: str) -> ReceiptRow:
    return ReceiptRow(
        r.seq,
        request_id,
        r.leaf_hash,
        r.raw,
        r.trace_id,
        r.start_unix_ns,
        r.end_unix_ns,
        r.model,
        r.outcome,
        r.status,
        r.processor,
        r.input_tokens,
        r.output_tokens,
        r.duration_ns,
    )


def test_iter_entries_pages_through_everything(store: ReceiptStore) -> None:
    store.write(Batch(tuple(row(i) for i in range(25))))
    pages = list(iter_entries(store, start=3, page=10))
    assert [len(p) for p in pages] == [10, 10, 2]
    assert [r.seq for p in pages for r in p] == list(range(3, 25))


def test_duckdb_file_survives_reopen_read_only(tmp_path: Path) -> None:
    path = tmp_path / "r.duckdb"
    s = DuckDBStore(path)
    s.write(Batch((row(0), row(1))))
    s.close()
    ro = DuckDBStore(path, read_only=True)
    assert ro.entries(0, 10) == [row(0), row(1)]
    with pytest.raises(StoreError):
        ro.write(Batch((row(2),)))
    ro.close()


def test_read_only_open_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no receipts database"):
        DuckDBStore(tmp_path / "missing.duckdb", read_only=True)
    junk = tmp_path / "junk.duckdb"
    junk.write_bytes(b"not a database" * 100)
    with pytest.raises(StoreError):
        DuckDBStore(junk, read_only=True)


def test_second_process_sees_the_lock(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "r.duckdb"
    s = DuckDBStore(path)
    code = (
        "import sys; from pathlib import Path\n"
        "from receipts._store_duckdb import DuckDBStore, StoreLockedError\n"
        "try:\n    DuckDBStore(Path(sys.argv[1]), read_only=True)\n"
        "except StoreLockedError:\n    sys.exit(3)\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(path)], check=False)
    s.close()
    assert result.returncode == 3
    assert issubclass(StoreLockedError, StoreError)


def test_duckdb_refuses_rows_it_cannot_hold_and_keeps_working(tmp_path: Path) -> None:
    s = DuckDBStore(tmp_path / "r.duckdb")
    too_big = dataclasses.replace(row(0), input_tokens=2**70)
    with pytest.raises(StoreRefusedError, match="out of range"):
        s.write(Batch((too_big,)))
    s.write(Batch((row(0),)))
    with pytest.raises(StoreRefusedError):
        s.write(Batch((row(0),)))
    assert s.entries(0, 10) == [row(0)]
    s.close()


def test_duckdb_file_of_another_schema_version_is_refused_untouched(tmp_path: Path) -> None:
    import duckdb

    path = tmp_path / "r.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)")
    con.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    con.close()
    with pytest.raises(StoreError, match=f"schema version 1, this version reads {SCHEMA_VERSION}"):
        DuckDBStore(path)
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SELECT table_name FROM duckdb_tables()").fetchall() == [("meta",)]
    con.close()


def test_memory_store_can_fail_on_demand() -> None:
    s = MemoryStore(fail_writes=2)
    for _ in range(2):
        with pytest.raises(StoreError):
            s.write(Batch((row(0),)))
    s.write(Batch((row(0),)))
    assert s.size() == 1 and s.writes == 1
