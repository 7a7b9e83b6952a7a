"""The log writer: one thread that signs, appends, group-commits and checkpoints.

`submit` (event loop) only enqueues. Every `flush_interval` the thread drains the queue, signs each
record's receipt, appends its leaf hash to the in-memory `MerkleTree`, signs a checkpoint when one
is due, and stores everything in one transaction. A failed write keeps the whole batch in memory
and is retried with backoff; rows are keyed by leaf index, so a retry after an ambiguous failure
stores nothing twice. A batch the store refuses for its content (`StoreRefusedError`) would be
refused forever, so it is stored one receipt at a time instead: a refused receipt is logged,
counted and taken out of the tree, the receipts after it move up one index, and the checkpoints
of the batch are signed again. Several records may carry one request ID (a client's
`X-Request-ID`); each gets its own receipt. Only committed state (`committed_size`,
`latest_checkpoint`) is published.

What waits in memory is bounded in bytes (`max_pending_bytes`, an estimate of the records, spans
and signed receipts held): when it is full a new record is dropped and counted (`overflow`), the
request itself is served as usual, and `readiness` is red. It is red too while the store keeps
failing (`stuck_after` failed writes in a row). After every commit the writer's own counts
(`Watermark`: stored, refused, dropped) go to the `persist` callback, which keeps them durable
next to the database so that a log that lost committed receipts can be told from one that never
had them.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from receipts import metric_names as names
from receipts._errors import StoreError, StoreRefusedError
from receipts._keys import Signer, VerifierKey
from receipts._merkle import MerkleTree, leaf_hash
from receipts._note import Checkpoint, open_checkpoint, sign_checkpoint
from receipts._store import Batch, CheckpointRow, ReceiptRow, ReceiptStore, SpanRow, iter_entries
from receipts._watermark import Watermark
from telemetry.core import RequestRecord

log = logging.getLogger("ollama_sidecar.receipts")

SignRecord = Callable[[RequestRecord], bytes]
"""Builds and signs the receipt of a record; returns the exact canonical signed bytes."""

_MAX_BACKOFF_SECONDS = 5.0
# Rough sizes in memory of a queued record and of a signed receipt row beyond their strings.
_RECORD_OVERHEAD = 2048
_ROW_OVERHEAD = 1024
_SPAN_OVERHEAD = 512


@dataclass(frozen=True)
class LogMetrics:
    receipts: Counter
    failures: Counter
    pending: Gauge
    pending_bytes: Gauge
    stuck: Gauge
    log_size: Gauge
    checkpoint_timestamp: Gauge
    flush_duration: Histogram

    @classmethod
    def create(cls, registry: CollectorRegistry) -> LogMetrics:
        return cls(
            receipts=Counter(
                names.RECEIPTS, "Receipts signed and stored in the log.", registry=registry
            ),
            failures=Counter(
                names.RECEIPT_FAILURES,
                "Receipt pipeline failures by stage (sign, store, overflow, span).",
                [names.LABEL_STAGE],
                registry=registry,
            ),
            pending=Gauge(
                names.RECEIPTS_PENDING,
                "Records and receipts held in memory, not yet stored.",
                registry=registry,
            ),
            pending_bytes=Gauge(
                names.RECEIPTS_PENDING_BYTES,
                "Estimated bytes of records, spans and receipts held in memory, not yet stored.",
                registry=registry,
            ),
            stuck=Gauge(
                names.WRITER_STUCK,
                "1 while the receipt store keeps failing and nothing is stored, else 0.",
                registry=registry,
            ),
            log_size=Gauge(
                names.LOG_SIZE, "Receipts in the stored log (tree size).", registry=registry
            ),
            checkpoint_timestamp=Gauge(
                names.CHECKPOINT_TIMESTAMP,
                "Unix time of the latest stored signed checkpoint.",
                registry=registry,
            ),
            flush_duration=Histogram(
                names.FLUSH_DURATION,
                "Duration of one group commit to the store.",
                buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
                registry=registry,
            ),
        )


class _Barrier:
    """Put in the queue; set once everything queued before it is stored."""

    def __init__(self, checkpoint: bool) -> None:
        self.checkpoint = checkpoint
        self.done = threading.Event()


def recover(store: ReceiptStore, key: VerifierKey) -> tuple[MerkleTree, CheckpointRow | None]:
    """Rebuild the tree from the store and check it against the latest signed checkpoint.

    Leaves after that checkpoint (at most one interval's worth after a SIGKILL) are checked
    against their own bytes. Raises `StoreError` or a `VerificationError` when the log is damaged.
    """
    tree = MerkleTree(store.leaf_hashes())
    latest = store.latest_checkpoint()
    start = 0
    if latest is not None:
        checkpoint, _ = open_checkpoint(latest.note, [key], origin=key.name)
        if checkpoint.size > tree.size:
            raise StoreError(
                f"log truncated: the latest checkpoint covers {checkpoint.size} receipts, "
                f"only {tree.size} are stored"
            )
        if tree.root(checkpoint.size) != checkpoint.root:
            raise StoreError(
                f"stored receipts do not match the checkpoint of size {checkpoint.size}"
            )
        start = checkpoint.size
    expected = start
    for rows in iter_entries(store, start):
        for row in rows:
            if row.seq != expected or leaf_hash(row.raw) != row.leaf_hash:
                raise StoreError(f"receipt {expected} after the latest checkpoint is damaged")
            expected += 1
    return tree, latest


class LogWriter:
    """Owns the tree and the single writer thread."""

    def __init__(
        self,
        store: ReceiptStore,
        signer: Signer,
        sign_record: SignRecord,
        tree: MerkleTree,
        latest_checkpoint: CheckpointRow | None,
        metrics: LogMetrics,
        *,
        flush_interval: float = 0.2,
        checkpoint_interval: float = 5.0,
        max_pending_bytes: int = 64 << 20,
        stuck_after: int = 3,
        persist: Callable[[Watermark], None] | None = None,
        carried: Watermark | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._store = store
        self._signer = signer
        self._sign_record = sign_record
        self.tree = tree
        self.tree_lock = threading.Lock()
        self.latest_checkpoint = latest_checkpoint
        self.committed_size = tree.size
        self._metrics = metrics
        self._flush_interval = flush_interval
        self._checkpoint_interval = checkpoint_interval
        self._max_pending_bytes = max_pending_bytes
        self._stuck_after = stuck_after
        self._persist = persist
        self._mark = replace(carried or Watermark(), stored=tree.size)
        self._dropped = 0  # dropped on the event loop, taken into `_mark` by the writer thread
        self._queued_bytes = 0
        self._held_bytes = 0
        self._bytes_lock = threading.Lock()
        self._last_error = ""
        self._clock = clock
        self._queue: queue.SimpleQueue[RequestRecord | SpanRow | _Barrier] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._receipts: list[ReceiptRow] = []
        self._spans: list[SpanRow] = []
        self._checkpoints: list[CheckpointRow] = []
        self._barriers: list[_Barrier] = []
        self._failures = 0
        self._last_attempt = (0, 0)  # spans and checkpoints in the last failed batch
        # Called (on the writer thread: it must only signal) when a checkpoint is stored.
        self.on_checkpoint: Callable[[], None] | None = None
        # A restarted log whose tail is not covered yet gets a checkpoint at the first flush.
        self._last_checkpoint_at = float("-inf")
        metrics.log_size.set(tree.size)
        if latest_checkpoint is not None:
            metrics.checkpoint_timestamp.set(latest_checkpoint.created_unix_ns / 1e9)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="receipts-writer", daemon=True)
        self._thread.start()

    @property
    def pending_bytes(self) -> int:
        return self._queued_bytes + self._held_bytes

    @property
    def watermark(self) -> Watermark:
        """The counts as of the last commit (what `persist` was last given)."""
        return self._mark

    def readiness(self) -> tuple[bool, str]:
        """Red while the store keeps failing or the pending bytes are at their bound."""
        if self._failures >= self._stuck_after:
            return False, f"receipt store failing ({self._failures} writes): {self._last_error}"
        if self.pending_bytes + _RECORD_OVERHEAD > self._max_pending_bytes:  # no room left
            return False, (
                f"pending receipts full ({self.pending_bytes} of {self._max_pending_bytes} "
                "bytes): new receipts are dropped"
            )
        return True, f"{self.committed_size} receipts stored"

    def _enqueue(self, item: RequestRecord | SpanRow, size: int) -> bool:
        with self._bytes_lock:
            if self._queued_bytes + self._held_bytes + size > self._max_pending_bytes:
                return False
            self._queued_bytes += size
        self._queue.put(item)
        self._metrics.pending_bytes.set(self.pending_bytes)
        return True

    def submit(self, record: RequestRecord) -> None:
        if not self._enqueue(record, _record_bytes(record)):
            with self._bytes_lock:
                self._dropped += 1
            self._metrics.failures.labels("overflow").inc()
            return
        self._metrics.pending.inc()

    def submit_span(self, span: SpanRow) -> None:
        if not self._enqueue(span, _span_bytes(span)):
            self._metrics.failures.labels("span").inc()

    def barrier(self, *, checkpoint: bool = False) -> threading.Event:
        """An event set once everything submitted so far is stored (and checkpointed if asked)."""
        barrier = _Barrier(checkpoint)
        self._queue.put(barrier)
        self._wake.set()
        return barrier.done

    def stop(self, timeout: float = 30.0) -> None:
        """Drain, store, write a final checkpoint and join the thread (gives up after timeout)."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping = True
        self._wake.set()
        thread.join(timeout)
        if thread.is_alive():
            log.error(
                "receipts writer did not finish within %.0f s; %d receipts not stored",
                timeout,
                len(self._receipts) + self._queue.qsize(),
            )

    def _run(self) -> None:
        backoff = self._flush_interval
        while True:
            self._wake.wait(backoff)
            self._wake.clear()
            stopping = self._stopping
            try:
                stored = self._cycle(final=stopping)
            except Exception:  # the writer thread must survive anything a batch throws
                log.exception("receipts writer cycle failed")
                stored = False
            if stored:
                backoff = self._flush_interval
                if stopping:
                    return
            else:
                backoff = min(backoff * 2, _MAX_BACKOFF_SECONDS)
                if stopping:
                    backoff = min(backoff, 0.5)

    def _cycle(self, *, final: bool) -> bool:
        force_checkpoint = final
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, RequestRecord):
                self._metrics.pending.dec()
                self._dequeued(_record_bytes(item))
                self._add(item)
            elif isinstance(item, SpanRow):
                self._dequeued(_span_bytes(item))
                self._hold(_span_bytes(item))
                self._spans.append(item)
            else:
                self._barriers.append(item)
                force_checkpoint = force_checkpoint or item.checkpoint
        self._maybe_checkpoint(force_checkpoint)
        if not (self._receipts or self._spans or self._checkpoints):
            self._release()
            return True
        return self._flush()

    def _add(self, record: RequestRecord) -> None:
        try:
            raw = self._sign_record(record)
        except Exception:
            self._dropped += 1
            self._metrics.failures.labels("sign").inc()
            log.exception("cannot build the receipt of a record; dropped")
            return
        digest = leaf_hash(raw)
        with self.tree_lock:
            seq = self.tree.append(digest)
        placement = record.placement
        self._receipts.append(
            ReceiptRow(
                seq=seq,
                request_id=record.request_id,
                leaf_hash=digest,
                raw=raw,
                trace_id=record.trace_id,
                start_unix_ns=record.start_unix_ns,
                end_unix_ns=record.end_unix_ns,
                model=record.model,
                outcome=str(record.outcome),
                status=record.status,
                processor=str(placement.processor),
                input_tokens=record.input_tokens,
                output_tokens=record.output_tokens,
                duration_ns=record.duration_ns,
            )
        )
        self._hold(_ROW_OVERHEAD + len(raw))
        self._metrics.pending.inc()

    def _maybe_checkpoint(self, force: bool) -> None:
        size = self.tree.size
        covered = (
            self._checkpoints[-1].size
            if self._checkpoints
            else (self.latest_checkpoint.size if self.latest_checkpoint else 0)
        )
        now = time.monotonic()
        if size <= covered:
            return
        if not force and now - self._last_checkpoint_at < self._checkpoint_interval:
            return
        with self.tree_lock:
            root = self.tree.root(size)
        note = sign_checkpoint(Checkpoint(self._signer.name, size, root), self._signer)
        self._checkpoints.append(CheckpointRow(size, root, note, self._clock()))
        self._last_checkpoint_at = now

    def _flush(self) -> bool:
        if self._failures:
            self._trim_committed()
        batch = Batch(tuple(self._receipts), tuple(self._spans), tuple(self._checkpoints))
        started = time.perf_counter()
        try:
            self._store.write(batch)
        except StoreRefusedError as exc:
            self._metrics.failures.labels("store").inc()
            log.error("receipt store refused a batch, storing it receipt by receipt: %s", exc)
            return self._salvage()
        except Exception as exc:
            self._failed(exc)
            self._last_attempt = (len(batch.spans), len(batch.checkpoints))
            if self._failures == 1:
                log.warning(
                    "receipt store write failed, keeping %d receipts in memory and retrying: %s",
                    len(batch.receipts),
                    exc,
                )
            return False
        self._metrics.flush_duration.observe(time.perf_counter() - started)
        self._recovered()
        self._committed(batch)
        return True

    def _failed(self, exc: Exception) -> None:
        self._failures += 1
        self._last_error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        self._metrics.failures.labels("store").inc()
        if self._failures == self._stuck_after:
            self._metrics.stuck.set(1)
            log.error(
                "receipt store failed %d writes in a row; not ready until it recovers: %s",
                self._failures,
                self._last_error,
            )

    def _recovered(self) -> None:
        if self._failures:
            log.warning("receipt store recovered after %d failed writes", self._failures)
        self._failures = 0
        self._metrics.stuck.set(0)

    def _salvage(self) -> bool:
        """Store the pending receipts one at a time, dropping only those the store refuses."""
        # The pending checkpoints may cover a refused leaf; barriers wait for the new checkpoint.
        self._checkpoints.clear()
        barriers, self._barriers = self._barriers, []
        try:
            while self._receipts:
                row = self._receipts[0]
                try:
                    self._store.write(Batch((row,)))
                except StoreRefusedError as exc:
                    self._refuse_first(exc)
                    continue
                self._committed(Batch((row,)))
            if self._spans:
                self._store_spans()
            self._maybe_checkpoint(force=True)
            if self._checkpoints:
                self._store.write(Batch(checkpoints=tuple(self._checkpoints)))
                self._committed(Batch(checkpoints=tuple(self._checkpoints)))
        except Exception as exc:  # not the rows' fault: the usual retry with backoff takes over
            self._failed(exc)
            self._last_attempt = (0, 0)
            log.warning("receipt store write failed, retrying: %s", exc)
            return False
        finally:
            self._barriers[:0] = barriers
        self._recovered()
        self._release()
        return True

    def _refuse_first(self, exc: StoreRefusedError) -> None:
        row = self._receipts.pop(0)
        self._metrics.failures.labels("store").inc()
        self._metrics.pending.dec()
        self._hold(-(_ROW_OVERHEAD + len(row.raw)))
        self._mark = replace(self._mark, refused=self._mark.refused + 1)
        log.error("receipt %d refused by the store and dropped: %s", row.seq, exc)
        with self.tree_lock:
            self.tree.truncate(row.seq)
            self._receipts = [replace(r, seq=self.tree.append(r.leaf_hash)) for r in self._receipts]

    def _store_spans(self) -> None:
        """Store the pending spans one at a time, dropping only those the store refuses."""
        while self._spans:
            span = self._spans[0]
            try:
                self._store.write(Batch(spans=(span,)))
            except StoreRefusedError as exc:
                self._metrics.failures.labels("span").inc()
                log.error("receipt store refused a span, dropped: %s", exc)
                del self._spans[0]
                self._hold(-_span_bytes(span))
                continue
            self._committed(Batch(spans=(span,)))

    def _trim_committed(self) -> None:
        # After a failure the transaction may still have committed; never store a row twice.
        stored = self._store.size()
        if not self._receipts or stored <= self._receipts[0].seq:
            return
        spans, checkpoints = self._last_attempt
        done = Batch(
            tuple(r for r in self._receipts if r.seq < stored),
            tuple(self._spans[:spans]),
            tuple(self._checkpoints[:checkpoints]),
        )
        self._committed(done)

    def _committed(self, batch: Batch) -> None:
        if batch.receipts:
            self.committed_size = batch.receipts[-1].seq + 1
            self._metrics.receipts.inc(len(batch.receipts))
            self._metrics.pending.dec(len(batch.receipts))
            self._metrics.log_size.set(self.committed_size)
        self._hold(
            -sum(_ROW_OVERHEAD + len(r.raw) for r in batch.receipts)
            - sum(_span_bytes(s) for s in batch.spans)
        )
        self._save_watermark()
        if batch.checkpoints:
            self.latest_checkpoint = batch.checkpoints[-1]
            self._metrics.checkpoint_timestamp.set(self.latest_checkpoint.created_unix_ns / 1e9)
            if self.on_checkpoint is not None:
                self.on_checkpoint()
        del self._receipts[: len(batch.receipts)]
        del self._spans[: len(batch.spans)]
        del self._checkpoints[: len(batch.checkpoints)]
        if not (self._receipts or self._spans or self._checkpoints):
            self._release()

    def _dequeued(self, size: int) -> None:
        with self._bytes_lock:
            self._queued_bytes -= size

    def _hold(self, size: int) -> None:
        with self._bytes_lock:
            self._held_bytes += size
        self._metrics.pending_bytes.set(self.pending_bytes)

    def _save_watermark(self) -> None:
        with self._bytes_lock:
            dropped, self._dropped = self._dropped, 0
        mark = replace(self._mark, stored=self.committed_size, dropped=self._mark.dropped + dropped)
        if mark == self._mark or self._persist is None:
            self._mark = mark
            return
        try:
            self._persist(mark)
        except OSError as exc:  # the receipts are stored; only the count is behind
            self._metrics.failures.labels("watermark").inc()
            log.warning("cannot store the receipt watermark: %s", exc)
        self._mark = mark

    def _release(self) -> None:
        for barrier in self._barriers:
            barrier.done.set()
        self._barriers.clear()


def _record_bytes(record: RequestRecord) -> int:
    return _RECORD_OVERHEAD + len(record.request_id) + len(record.path) + len(record.model or "")


def _span_bytes(span: SpanRow) -> int:
    return _SPAN_OVERHEAD + len(span.name) + len(span.attributes)
