"""The writer thread: group commit, checkpoints, store failures, recovery checks."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from receipts import metric_names as names
from receipts._errors import ReceiptsError, StoreError, StoreRefusedError
from receipts._log import LogMetrics, LogWriter, recover
from receipts._merkle import MerkleTree, leaf_hash
from receipts._note import open_checkpoint
from receipts._receipt import SignedReceipt, verify_receipt
from receipts._store import Batch, MemoryStore, SpanRow
from receipts._store_duckdb import DuckDBStore
from receipts._watermark import Watermark
from tests.receipts._support import OUTCOMES, record, sign_with, signer, wait_for, writer


def test_every_record_becomes_one_stored_signed_receipt_in_order() -> None:
    store, s = MemoryStore(), signer()
    registry = CollectorRegistry()
    w = writer(store, s, registry)
    w.start()
    for i in range(50):
        w.submit(record(i))
    assert w.barrier(checkpoint=True).wait(10)
    w.stop()
    rows = store.entries(0, 100)
    assert [r.request_id for r in rows] == [f"req-{i:06d}" for i in range(50)]
    assert {r.outcome for r in rows} == {o.value for o in OUTCOMES}
    for r in rows:
        receipt = SignedReceipt.parse(r.raw)
        verify_receipt(receipt, s.verifier())
        assert receipt.request_id == r.request_id and r.leaf_hash == leaf_hash(r.raw)
    checkpoint, _ = open_checkpoint(store.checkpoints()[-1].note, [s.verifier()], s.name)
    assert checkpoint.size == 50
    assert checkpoint.root == MerkleTree([r.leaf_hash for r in rows]).root()
    assert registry.get_sample_value(names.RECEIPTS) == 50
    assert registry.get_sample_value(names.LOG_SIZE) == 50
    assert registry.get_sample_value(names.RECEIPTS_PENDING) == 0
    assert registry.get_sample_value(names.CHECKPOINT_TIMESTAMP) > 0
    assert registry.get_sample_value(names.FLUSH_DURATION + "_count") >= 1


def test_records_are_group_committed() -> None:
    store = MemoryStore()
    w = writer(store, signer(), flush_interval=0.3)
    w.start()
    for i in range(200):
        w.submit(record(i))
    assert w.barrier().wait(10)
    w.stop()
    assert store.size() == 200
    assert store.writes <= 3


def test_checkpoints_follow_the_interval_and_stop_writes_a_final_one() -> None:
    store = MemoryStore()
    w = writer(store, signer(), checkpoint_interval=3600)
    w.start()
    w.submit(record(0))
    assert w.barrier().wait(10)
    # the first flush after a (re)start checkpoints; the next ones wait for the interval
    assert [c.size for c in store.checkpoints()] == [1]
    w.submit(record(1))
    assert w.barrier().wait(10)
    assert [c.size for c in store.checkpoints()] == [1]
    w.stop()
    assert [c.size for c in store.checkpoints()] == [1, 2]
    w.stop()  # idempotent


def test_store_failures_lose_nothing_and_are_counted(caplog: pytest.LogCaptureFixture) -> None:
    store, s, registry = MemoryStore(fail_writes=3), signer(), CollectorRegistry()
    w = writer(store, s, registry)
    w.start()
    for i in range(10):
        w.submit(record(i))
    wait_for(lambda: store.size() == 10)
    for i in range(10, 20):
        w.submit(record(i))
    w.stop()
    assert [r.seq for r in store.entries(0, 100)] == list(range(20))
    assert registry.get_sample_value(names.RECEIPT_FAILURES, {"stage": "store"}) == 3
    assert sum("store write failed" in r.message for r in caplog.records) == 1
    tree, latest = recover(store, s.verifier())
    assert tree.size == 20 and latest is not None and latest.size == 20


class _CommitsThenRaises(MemoryStore):
    """Commits the batch and then reports a failure: the ambiguous case."""

    def write(self, batch: Batch) -> None:
        super().write(batch)
        if self.writes == 1:
            raise StoreError("connection lost after commit")


def test_a_retry_after_an_ambiguous_failure_stores_nothing_twice() -> None:
    store = _CommitsThenRaises()
    w = writer(store, signer())
    w.start()
    for i in range(5):
        w.submit(record(i))
    wait_for(lambda: store.writes >= 1)
    for i in range(5, 8):
        w.submit(record(i))
    w.stop()
    assert [r.seq for r in store.entries(0, 100)] == list(range(8))


def test_records_sharing_a_request_id_all_get_receipts_and_unsignable_ones_are_dropped() -> None:
    store, registry = MemoryStore(), CollectorRegistry()
    w = writer(store, signer(), registry)
    w.start()
    w.submit(record(0))
    w.submit(record(0))  # a client sent its X-Request-ID twice: two requests, two receipts
    w.submit(record(1, model="bad\ud800model"))  # a lone surrogate cannot be canonical JSON
    w.submit(record(2))
    w.stop()
    rows = store.entries(0, 10)
    assert [(r.seq, r.request_id) for r in rows] == [
        (0, "req-000000"),
        (1, "req-000000"),
        (2, "req-000002"),
    ]
    assert store.receipts_for("req-000000") == rows[:2]
    assert registry.get_sample_value(names.RECEIPT_FAILURES, {"stage": "sign"}) == 1
    assert registry.get_sample_value(names.RECEIPT_FAILURES, {"stage": "store"}) is None


def test_a_receipt_the_store_refuses_is_dropped_alone_and_the_log_stays_whole(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A refusal (a constraint or conversion error) would be refused again on every retry: the
    # writer must not retry it forever, nor lose the receipts batched with it.
    store, s, registry = (
        MemoryStore(refused_ids=frozenset({"req-000002"})),
        signer(),
        CollectorRegistry(),
    )
    w = writer(store, s, registry, flush_interval=0.3)
    for i in range(6):  # queued before the thread starts: one batch
        w.submit(record(i))
    w.start()
    assert w.barrier(checkpoint=True).wait(10)
    rows = store.entries(0, 10)
    assert [(r.seq, r.request_id) for r in rows] == [
        (seq, f"req-{i:06d}") for seq, i in enumerate((0, 1, 3, 4, 5))
    ]
    latest = store.latest_checkpoint()
    assert latest is not None and latest.size == 5
    assert recover(store, s.verifier())[0].root() == MerkleTree(r.leaf_hash for r in rows).root()
    w.submit(record(6))
    w.stop()
    assert [r.request_id for r in store.entries(5, 10)] == ["req-000006"]
    tree, latest = recover(store, s.verifier())
    assert tree.size == 6 and latest is not None and latest.size == 6
    assert registry.get_sample_value(names.RECEIPT_FAILURES, {"stage": "store"}) == 2
    assert registry.get_sample_value(names.RECEIPTS) == 6
    assert registry.get_sample_value(names.LOG_SIZE) == 6
    assert registry.get_sample_value(names.RECEIPTS_PENDING) == 0
    assert sum("refused by the store" in r.message for r in caplog.records) == 1


def test_a_transient_failure_while_storing_receipt_by_receipt_is_retried() -> None:
    store, s, registry = (
        _RefusesThenFails(refused_ids=frozenset({"req-000001"})),
        signer(),
        CollectorRegistry(),
    )
    w = writer(store, s, registry, flush_interval=0.3)
    for i in range(4):  # queued before the thread starts: one batch
        w.submit(record(i))
    w.start()
    w.stop()
    assert [r.request_id for r in store.entries(0, 10)] == [
        "req-000000",
        "req-000002",
        "req-000003",
    ]
    tree, latest = recover(store, s.verifier())
    assert tree.size == 3 and latest is not None and latest.size == 3
    # the batch refused, the disk failure, the batch refused again, then req-000001 alone
    assert registry.get_sample_value(names.RECEIPT_FAILURES, {"stage": "store"}) == 4


class _RefusesThenFails(MemoryStore):
    """After the first refusal, the next write fails as a full disk would."""

    armed = True

    def write(self, batch: Batch) -> None:
        try:
            super().write(batch)
        except StoreRefusedError:
            if self.armed:
                self.armed = False
                self.fail_writes = 1
            raise


def test_pending_receipts_are_bounded_in_bytes_and_a_full_queue_is_not_ready() -> None:
    registry = CollectorRegistry()
    w = writer(MemoryStore(), signer(), registry, max_pending_bytes=5000)
    for i in range(5):  # not started: nothing drains the queue; about 2 KB a record
        w.submit(record(i))
    assert registry.get_sample_value(names.RECEIPT_FAILURES, {"stage": "overflow"}) == 3
    assert registry.get_sample_value(names.RECEIPTS_PENDING) == 2
    assert 4000 < (registry.get_sample_value(names.RECEIPTS_PENDING_BYTES) or 0) <= 5000
    # a model name of a megabyte takes a megabyte of the bound, not one slot of a million
    w.submit(record(5, model="m" * 1_000_000))
    assert registry.get_sample_value(names.RECEIPT_FAILURES, {"stage": "overflow"}) == 4
    w2 = writer(MemoryStore(), signer(), CollectorRegistry(), max_pending_bytes=4096)
    w2.submit(record(0))
    w2.submit(record(1))
    ready, detail = w2.readiness()
    assert not ready and "pending receipts full" in detail
    w.start()
    assert w.barrier().wait(10)
    assert w.readiness()[0] and registry.get_sample_value(names.RECEIPTS_PENDING_BYTES) == 0
    w.stop()
    assert w.watermark == Watermark(stored=2, refused=0, dropped=4)


def test_a_store_that_keeps_failing_is_not_ready_and_is_counted() -> None:
    store, registry = MemoryStore(fail_writes=1000), CollectorRegistry()
    w = writer(store, signer(), registry, stuck_after=3)
    w.start()
    w.submit(record(0))
    wait_for(lambda: not w.readiness()[0])
    detail = w.readiness()[1]
    assert "receipt store failing" in detail and "no space left on device" in detail
    assert registry.get_sample_value(names.WRITER_STUCK) == 1
    assert not w.barrier().wait(0.2)  # a flush that cannot finish says so
    store.fail_writes = 0
    assert w.barrier().wait(10)
    assert w.readiness()[0] and registry.get_sample_value(names.WRITER_STUCK) == 0
    w.stop()
    assert store.size() == 1


def test_a_lone_surrogate_is_refused_by_duckdb_alone_and_the_rest_is_stored(
    tmp_path: Path,
) -> None:
    # DuckDB raises InvalidInputException for text that is not UTF-8: that row is refused, the
    # batch is not retried forever (classification rejects such text too; the store is robust
    # on its own).
    store, s, registry = DuckDBStore(tmp_path / "r.duckdb"), signer(), CollectorRegistry()
    marks: list[Watermark] = []
    tree, latest = recover(store, s.verifier())
    sign = sign_with(s)
    w = LogWriter(
        store,
        s,
        lambda r: sign(replace(r, model="llama3.2:3b")),  # only the row's column is bad
        tree,
        latest,
        LogMetrics.create(registry),
        flush_interval=0.3,
        persist=marks.append,
    )
    for i in range(5):  # queued before the thread starts: one batch
        w.submit(record(i, model="fake\ud800" if i == 2 else "llama3.2:3b"))
    w.submit_span(span(1, "fine"))
    w.submit_span(span(2, "fake\ud800"))
    w.start()
    assert w.barrier(checkpoint=True).wait(10)
    w.submit(record(5))
    assert w.barrier(checkpoint=True).wait(10)
    w.stop()
    assert [r.request_id for r in store.entries(0, 10)] == [f"req-{i:06d}" for i in (0, 1, 3, 4, 5)]
    assert [sp.name for sp in store.spans(f"{1:032x}")] == ["fine"]
    tree, latest = recover(store, s.verifier())
    assert tree.size == 5 and latest is not None and latest.size == 5
    assert registry.get_sample_value(names.RECEIPT_FAILURES, {"stage": "span"}) == 1
    assert marks[-1] == Watermark(stored=5, refused=1, dropped=0)
    store.close()


def span(trace: int, name: str) -> SpanRow:
    return SpanRow(f"{trace:032x}", f"{trace:016x}", None, name, "CLIENT", 1, 2, "{}", "OK")


def _log_with(path: Path, n: int) -> tuple[DuckDBStore, object]:
    store, s = DuckDBStore(path), signer()
    w = writer(store, s)
    w.start()
    for i in range(n):
        w.submit(record(i))
    w.stop()
    return store, s


def test_recover_accepts_an_intact_log_and_rejects_damage(tmp_path: Path) -> None:
    store, s = _log_with(tmp_path / "r.duckdb", 6)
    key = s.verifier()  # type: ignore[attr-defined]
    tree, latest = recover(store, key)
    assert tree.size == 6 and latest is not None and latest.size == 6
    with pytest.raises(ReceiptsError):
        recover(store, signer().verifier())  # another key: the checkpoint does not verify
    con = store._con  # the tests may reach in to play the attacker
    con.execute("UPDATE receipts SET leaf_hash = ? WHERE seq = 2", [b"\x00" * 32])
    with pytest.raises(StoreError, match="do not match"):
        recover(store, key)
    con.execute("DELETE FROM receipts WHERE seq >= 4")
    with pytest.raises(StoreError, match="truncated"):
        recover(store, key)
    store.close()
