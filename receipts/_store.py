"""What the receipt log keeps on disk, behind a small Protocol, and an in-memory fake.

The writer thread is the only caller of `write`; readers (admin API, CLI, audit) only read.
`write` is all-or-nothing: either every row of a `Batch` is stored or none is, and a failure
raises `StoreError` (`StoreRefusedError` when the rows themselves are refused, so that writing them
again cannot help). Rows are keyed by the leaf index (`seq`), so a batch that is retried after an
ambiguous failure can be trimmed to what is not stored yet (`size()`), never duplicated. Request
IDs are not unique (a client may send one `X-Request-ID` twice): `receipt` is the latest receipt
with an ID, `receipts_for` all of them in log order.

The trace ID of a receipt comes from the client's `traceparent`, so two clients can share one:
`request_spans` narrows a trace to one request's span (the `span_id` the sidecar generated and
signed into the receipt) and the spans below it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from receipts._errors import StoreError, StoreRefusedError


@dataclass(frozen=True, slots=True)
class ReceiptRow:
    """One stored receipt: the exact signed bytes plus columns copied from the record."""

    seq: int
    request_id: str
    leaf_hash: bytes
    raw: bytes
    trace_id: str
    start_unix_ns: int
    end_unix_ns: int
    model: str | None
    outcome: str
    status: int
    processor: str
    input_tokens: int | None
    output_tokens: int | None
    duration_ns: int


@dataclass(frozen=True, slots=True)
class CheckpointRow:
    """One published checkpoint: its tree size and root and the exact signed note."""

    size: int
    root: bytes
    note: bytes
    created_unix_ns: int


@dataclass(frozen=True, slots=True)
class SpanRow:
    """One finished OpenTelemetry span; `attributes` is a JSON object as text."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    start_unix_ns: int
    end_unix_ns: int
    attributes: str
    status: str


@dataclass(frozen=True, slots=True)
class Batch:
    """What one group commit stores, in one transaction."""

    receipts: tuple[ReceiptRow, ...] = ()
    spans: tuple[SpanRow, ...] = ()
    checkpoints: tuple[CheckpointRow, ...] = ()


@dataclass(frozen=True, slots=True)
class ReceiptQuery:
    """Filters for listing receipts; None means "any". Times are Unix nanoseconds."""

    since_ns: int | None = None
    until_ns: int | None = None
    model: str | None = None
    outcome: str | None = None
    limit: int = 100


# Every request's own span carries it (telemetry's tracing); as a JSON key in the attributes.
REQUEST_ID_ATTRIBUTE = '"ollama_sidecar.request_id"'


AuditEntry = tuple[int, bytes, bytes, str, str | None, str, int]
"""What the audit checks of one stored receipt: (seq, leaf_hash, raw, request_id, model, outcome,
status), a plain tuple so that a million of them are cheap to read and to send to pool workers."""


def audit_entry(row: ReceiptRow) -> AuditEntry:
    return (row.seq, row.leaf_hash, row.raw, row.request_id, row.model, row.outcome, row.status)


class ReceiptStore(Protocol):
    """Durable storage of receipts, checkpoints and spans."""

    def write(self, batch: Batch) -> None: ...

    def size(self) -> int: ...

    def leaf_hashes(self, start: int = 0) -> list[bytes]: ...

    def entries(self, start: int, limit: int) -> list[ReceiptRow]: ...

    def receipt(self, request_id: str) -> ReceiptRow | None: ...

    def receipts_for(self, request_id: str) -> list[ReceiptRow]: ...

    def receipts(self, query: ReceiptQuery) -> list[ReceiptRow]: ...

    def checkpoints(self) -> list[CheckpointRow]: ...

    def latest_checkpoint(self) -> CheckpointRow | None: ...

    def spans(self, trace_id: str) -> list[SpanRow]: ...

    def prune_spans(self, ended_before_unix_ns: int) -> int:
        """Delete the spans that ended before this time; how many. Receipts and checkpoints
        are never deleted (docs/retention.md)."""
        ...

    def close(self) -> None: ...


def matches(row: ReceiptRow, query: ReceiptQuery) -> bool:
    """Whether `row` passes the filters of `query` (the fake's and tests' reference semantics)."""
    return (
        (query.since_ns is None or row.start_unix_ns >= query.since_ns)
        and (query.until_ns is None or row.start_unix_ns < query.until_ns)
        and (query.model is None or row.model == query.model)
        and (query.outcome is None or row.outcome == query.outcome)
    )


@dataclass
class MemoryStore:
    """The in-memory fake: same contract as the DuckDB store, nothing on disk.

    `fail_writes` makes the next that many `write` calls raise `StoreError`, as a full disk would;
    a batch with a receipt whose request ID is in `refused_ids` raises `StoreRefusedError`, as a
    row the database cannot take would.
    """

    fail_writes: int = 0
    refused_ids: frozenset[str] = frozenset()
    writes: int = 0
    _receipts: list[ReceiptRow] = field(default_factory=list)
    _by_id: dict[str, list[ReceiptRow]] = field(default_factory=dict)
    _checkpoints: dict[int, CheckpointRow] = field(default_factory=dict)
    _spans: list[SpanRow] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def write(self, batch: Batch) -> None:
        with self._lock:
            if self.fail_writes > 0:
                self.fail_writes -= 1
                raise StoreError("simulated store failure: no space left on device")
            for expected, row in enumerate(batch.receipts, start=len(self._receipts)):
                if row.seq != expected:
                    raise StoreRefusedError(f"receipt {row.seq} does not extend the stored log")
                if row.request_id in self.refused_ids:
                    raise StoreRefusedError(f"simulated refusal of receipt {row.seq}")
            self._receipts.extend(batch.receipts)
            for row in batch.receipts:
                self._by_id.setdefault(row.request_id, []).append(row)
            self._checkpoints.update((cp.size, cp) for cp in batch.checkpoints)
            self._spans.extend(batch.spans)
            self.writes += 1

    def size(self) -> int:
        return len(self._receipts)

    def leaf_hashes(self, start: int = 0) -> list[bytes]:
        return [row.leaf_hash for row in self._receipts[start:]]

    def entries(self, start: int, limit: int) -> list[ReceiptRow]:
        return self._receipts[start : start + limit]

    def receipt(self, request_id: str) -> ReceiptRow | None:
        rows = self._by_id.get(request_id)
        return rows[-1] if rows else None

    def receipts_for(self, request_id: str) -> list[ReceiptRow]:
        return list(self._by_id.get(request_id, ()))

    def receipts(self, query: ReceiptQuery) -> list[ReceiptRow]:
        found = [row for row in self._receipts if matches(row, query)]
        return found[-query.limit :] if query.limit else []

    def checkpoints(self) -> list[CheckpointRow]:
        return [self._checkpoints[size] for size in sorted(self._checkpoints)]

    def latest_checkpoint(self) -> CheckpointRow | None:
        return self._checkpoints[max(self._checkpoints)] if self._checkpoints else None

    def spans(self, trace_id: str) -> list[SpanRow]:
        return sorted(
            (span for span in self._spans if span.trace_id == trace_id),
            key=lambda span: span.start_unix_ns,
        )

    def prune_spans(self, ended_before_unix_ns: int) -> int:
        with self._lock:
            kept = [s for s in self._spans if s.end_unix_ns >= ended_before_unix_ns]
            pruned, self._spans = len(self._spans) - len(kept), kept
            return pruned

    def close(self) -> None:
        pass


def request_spans(row: ReceiptRow, trace: Sequence[SpanRow]) -> list[SpanRow]:
    """The spans of `trace` that belong to the request of `row`: its span and its descendants.

    A descendant that is itself a request's span (it carries `REQUEST_ID_ATTRIBUTE`) is another
    request, whose client named this span as its parent, and is left out with what is below it.
    """
    body = json.loads(row.raw).get("receipt")
    span_id = body.get("span_id") if isinstance(body, dict) else None
    if not isinstance(span_id, str):
        return []
    mine = {span_id}
    found = [s for s in trace if s.span_id == span_id]
    if not found:
        return []
    remaining = [
        s for s in trace if s.span_id != span_id and REQUEST_ID_ATTRIBUTE not in s.attributes
    ]
    while joined := [s for s in remaining if s.parent_span_id in mine]:
        mine.update(s.span_id for s in joined)
        found.extend(joined)
        remaining = [s for s in remaining if s.span_id not in mine]
    return sorted(found, key=lambda s: s.start_unix_ns)


def iter_entries(
    store: ReceiptStore, start: int = 0, page: int = 10_000
) -> Iterator[Sequence[ReceiptRow]]:
    """Every stored receipt from `start` on, in log order, a page at a time."""
    while True:
        rows = store.entries(start, page)
        if not rows:
            return
        yield rows
        start += len(rows)
