"""Audit a whole log: every receipt, every checkpoint, and checkpoints held by outside verifiers.

Checks, in log order: indexes are contiguous from 0; each stored leaf hash is the hash of the
stored bytes; each receipt parses, is canonical, is signed by the provider key and agrees with
its queryable columns. Then the tree built from the (checked) stored leaf hashes must give the
root of every stored checkpoint (each signed by the provider key), consecutive checkpoints must
be consistent, and a checkpoint held from earlier (`held`) must be a prefix of the log: that is
what catches a history rewritten after the checkpoint was exported.

The per-receipt work (hash, body parse, Ed25519 verify by libsodium: about 130 us, most of it
the signature; see `_verify_fast`) runs in a process pool, one worker per CPU, over chunks of
raw entries large enough that shipping them costs little next to checking them; this process
only reads pages, appends leaf hashes to the tree and ships chunks. Logs below the pool
threshold are checked here (starting processes would cost more). At most a few chunks are in
flight, so memory stays bounded, and they are collected in order, so the first problem found is
the lowest index.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Generic, TypeVar

from receipts._errors import ReceiptsError
from receipts._keys import VerifierKey
from receipts._merkle import HASH_SIZE, MerkleTree, leaf_hash, verify_consistency
from receipts._note import Checkpoint, open_checkpoint
from receipts._store import AuditEntry, CheckpointRow, ReceiptRow, audit_entry
from receipts._verify_fast import FastChecker

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

_POOL_THRESHOLD = 20_000
_CHUNK = 10_000  # ~10 MB and ~1.3 s of checking: pickling and the pipe cost ~1% of that
_IN_FLIGHT_PER_WORKER = 2

Problem = tuple[int, str]
"""(leaf index, reason)."""

T = TypeVar("T")
CheckChunk = Callable[[str, Sequence[T]], Problem | None]
"""Checks a chunk of entries against the key string; a module-level function (pool workers)."""


@dataclass
class AuditReport:
    receipts: int = 0
    checkpoints: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@lru_cache(maxsize=4)
def cached_checker(key_text: str) -> FastChecker:
    return FastChecker(VerifierKey.parse(key_text))


def check_entries(key_text: str, entries: Sequence[AuditEntry]) -> Problem | None:
    """The first bad receipt of a chunk as (index, reason), or None. Runs in pool workers."""
    check = cached_checker(key_text).check
    for seq, stored_hash, raw, request_id, model, outcome, status in entries:
        if leaf_hash(raw) != stored_hash:
            return seq, "stored leaf hash does not match its bytes"
        try:
            body = check(raw)
        except ReceiptsError as exc:
            return seq, str(exc)
        if body["request_id"] != request_id:
            return seq, f"column request_id ({request_id!r}) differs from the signed receipt"
        if body.get("model") != model:
            return seq, f"column model ({model!r}) differs from the signed receipt"
        if body.get("outcome") != outcome:
            return seq, f"column outcome ({outcome!r}) differs from the signed receipt"
        if body.get("status") != status:
            return seq, f"column status ({status!r}) differs from the signed receipt"
    return None


def row_pages(pages: Iterable[Sequence[ReceiptRow]]) -> Iterator[list[AuditEntry]]:
    """Pages of `ReceiptRow`s (any `ReceiptStore`) as the pages of entries `audit` reads."""
    for page in pages:
        yield [audit_entry(row) for row in page]


class ChunkChecker(Generic[T]):
    """Checks chunks in a process pool, or here when the whole log is below the pool threshold.

    Chunks are held back until the threshold is reached (or the log ends), so a large log's
    first chunks do not run here while the other CPUs wait.
    """

    def __init__(
        self, key: VerifierKey, workers: int, pool_threshold: int, check: CheckChunk[T]
    ) -> None:
        self._key_text = str(key)
        self._workers = workers
        self._pool_threshold = pool_threshold
        self._check = check
        self._pool: ProcessPoolExecutor | None = None
        self._held: list[list[T]] = []
        self._in_flight: deque[Future[Problem | None]] = deque()

    def submit(self, chunk: list[T], seen: int) -> Problem | None:
        """Check `chunk` (`seen` entries read so far); a problem of an earlier chunk, if any."""
        if self._pool is None:
            self._held.append(chunk)
            if self._workers < 2 or seen < self._pool_threshold:
                return None
            import multiprocessing  # only for large logs: keeps the CLI's start fast
            from concurrent.futures import ProcessPoolExecutor

            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(self._workers, mp_context=context)
            held, self._held = self._held, []
            for each in held:
                self._in_flight.append(self._pool.submit(self._check, self._key_text, each))
        else:
            self._in_flight.append(self._pool.submit(self._check, self._key_text, chunk))
        while len(self._in_flight) > self._workers * _IN_FLIGHT_PER_WORKER:
            if problem := self._in_flight.popleft().result():
                return problem
        return None

    def drain(self) -> Problem | None:
        for chunk in self._held:  # a log below the pool threshold, checked here in order
            if problem := self._check(self._key_text, chunk):
                return problem
        self._held = []
        while self._in_flight:
            if problem := self._in_flight.popleft().result():
                return problem
        return None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)


def audit(
    pages: Iterable[Sequence[AuditEntry]],
    checkpoints: Sequence[CheckpointRow],
    key: VerifierKey,
    *,
    held: Sequence[bytes] = (),
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
    pool_threshold: int = _POOL_THRESHOLD,
    chunk_size: int = _CHUNK,
) -> AuditReport:
    """Audit the log given as pages of entries in index order plus its stored checkpoints.

    Entries come from `LogSource.audit_entries` / `DuckDBStore.audit_entries`, or from any
    store's rows through `row_pages`.
    """
    report = AuditReport()
    tree = MerkleTree()
    checker = ChunkChecker(key, workers or os.cpu_count() or 1, pool_threshold, check_entries)
    chunk: list[AuditEntry] = []
    problem: Problem | None = None
    try:
        for page in pages:
            for entry in page:
                seq = entry[0]
                if seq != tree.size:
                    # Every earlier receipt is checked first: the lowest problem is reported.
                    problem = checker.submit(chunk, tree.size) if chunk else None
                    problem = problem or checker.drain()
                    if problem is None:
                        report.receipts = tree.size
                        report.problems.append(
                            f"receipt {tree.size} is missing (next stored index is {seq})"
                            if seq > tree.size
                            else f"index {seq} is stored twice"
                        )
                        return report
                    break
                # The workers check that the stored leaf hash is the hash of the stored bytes; a
                # malformed one (not 32 bytes) is left to them to report in order.
                stored = entry[1]
                tree.append(stored if len(stored) == HASH_SIZE else leaf_hash(entry[2]))
                chunk.append(entry)
                if len(chunk) >= chunk_size:
                    problem = checker.submit(chunk, tree.size)
                    chunk = []
                    if problem:
                        break
            if problem:
                break
            if progress:
                progress(tree.size)
        if problem is None and chunk:
            problem = checker.submit(chunk, tree.size)
        problem = problem or checker.drain()
    finally:
        checker.close()
    report.receipts = tree.size
    if problem:
        seq, reason = problem
        report.problems.append(f"receipt {seq}: {reason}")
        return report
    _check_checkpoints(report, tree, checkpoints, key, held)
    return report


def _check_checkpoints(
    report: AuditReport,
    tree: MerkleTree,
    checkpoints: Sequence[CheckpointRow],
    key: VerifierKey,
    held: Sequence[bytes],
) -> None:
    previous: Checkpoint | None = None
    for row in checkpoints:
        try:
            checkpoint, _ = open_checkpoint(row.note, [key], origin=key.name)
        except ReceiptsError as exc:
            report.problems.append(f"checkpoint of size {row.size}: {exc}")
            return
        if (checkpoint.size, checkpoint.root) != (row.size, row.root):
            report.problems.append(f"checkpoint of size {row.size}: columns differ from its note")
            return
        problem = _against_tree(tree, checkpoint, "checkpoint")
        if problem is None and previous is not None:
            try:
                verify_consistency(
                    previous.size,
                    checkpoint.size,
                    previous.root,
                    checkpoint.root,
                    tree.consistency_proof(previous.size, checkpoint.size),
                )
            except ReceiptsError as exc:
                problem = f"checkpoints {previous.size} -> {checkpoint.size}: {exc}"
        if problem:
            report.problems.append(problem)
            return
        previous = checkpoint
        report.checkpoints += 1
    for note in held:
        try:
            checkpoint, _ = open_checkpoint(note, [key], origin=key.name)
        except ReceiptsError as exc:
            report.problems.append(f"held checkpoint: {exc}")
            return
        problem = _against_tree(tree, checkpoint, "held checkpoint")
        if problem:
            report.problems.append(problem + ": history was rewritten after it was published")
            return


def _against_tree(tree: MerkleTree, checkpoint: Checkpoint, what: str) -> str | None:
    if checkpoint.size > tree.size:
        return f"{what} of size {checkpoint.size}: log truncated, only {tree.size} receipts stored"
    if tree.root(checkpoint.size) != checkpoint.root:
        return (
            f"{what} of size {checkpoint.size}: root does not match the stored receipts "
            "(a receipt was changed, removed or reordered)"
        )
    return None
