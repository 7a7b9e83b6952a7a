"""Audit a whole log: every receipt, every checkpoint, and checkpoints held by outside verifiers.

Checks, in log order: indexes are contiguous from 0; each stored leaf hash is the hash of the
stored bytes; each receipt parses, is canonical, is signed by the provider key and agrees with
its queryable columns. Then the tree recomputed from the receipt bytes must give the root of every
stored checkpoint (each signed by the provider key), consecutive checkpoints must be consistent,
and a checkpoint held from earlier (`held`) must be a prefix of the log: that is what catches a
history rewritten after the checkpoint was exported.

Signature checks (about 120 us each) fan out to a process pool; the tree is built in this process.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field

from receipts._errors import ReceiptsError
from receipts._keys import VerifierKey
from receipts._merkle import MerkleTree, leaf_hash, verify_consistency
from receipts._note import Checkpoint, open_checkpoint
from receipts._receipt import SignedReceipt, verify_receipt
from receipts._store import CheckpointRow, ReceiptRow

_POOL_THRESHOLD = 20_000
_CHUNK = 2_000

# (seq, request_id, raw, model, outcome, status): what a worker needs to check one receipt.
_Entry = tuple[int, str, bytes, str | None, str, int]


@dataclass
class AuditReport:
    receipts: int = 0
    checkpoints: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_entries(key_text: str, entries: Sequence[_Entry]) -> tuple[int, str] | None:
    """The first bad receipt of a chunk as (index, reason), or None. Runs in pool workers."""
    key = VerifierKey.parse(key_text)
    for seq, request_id, raw, model, outcome, status in entries:
        try:
            receipt = SignedReceipt.parse(raw)
            verify_receipt(receipt, key)
        except ReceiptsError as exc:
            return seq, str(exc)
        body = receipt.body
        columns = {"request_id": request_id, "model": model, "outcome": outcome, "status": status}
        for name, value in columns.items():
            if body.get(name) != value:
                return seq, f"column {name} ({value!r}) differs from the signed receipt"
    return None


def audit(
    pages: Iterable[Sequence[ReceiptRow]],
    checkpoints: Sequence[CheckpointRow],
    key: VerifierKey,
    *,
    held: Sequence[bytes] = (),
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
    pool_threshold: int = _POOL_THRESHOLD,
    chunk_size: int = _CHUNK,
) -> AuditReport:
    """Audit the log given as pages of receipts in index order plus its stored checkpoints."""
    report = AuditReport()
    tree = MerkleTree()
    first_bad: list[tuple[int, str]] = []
    futures: list[Future[tuple[int, str] | None]] = []
    pool: Executor | None = None
    workers = workers or os.cpu_count() or 1
    chunk: list[_Entry] = []
    key_text = str(key)

    def dispatch() -> None:
        nonlocal pool
        if pool is None and workers > 1 and tree.size >= pool_threshold:
            pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        if pool is not None:
            futures.append(pool.submit(check_entries, key_text, list(chunk)))
        else:
            bad = check_entries(key_text, chunk)
            if bad:
                first_bad.append(bad)
        chunk.clear()

    try:
        for page in pages:
            for row in page:
                if row.seq != tree.size:
                    report.problems.append(
                        f"receipt {tree.size} is missing (next stored index is {row.seq})"
                        if row.seq > tree.size
                        else f"index {row.seq} is stored twice"
                    )
                    return report
                digest = leaf_hash(row.raw)
                if digest != row.leaf_hash:
                    report.problems.append(
                        f"receipt {row.seq}: stored leaf hash does not match its bytes"
                    )
                    return report
                tree.append(digest)
                chunk.append((row.seq, row.request_id, row.raw, row.model, row.outcome, row.status))
                if len(chunk) >= chunk_size:
                    dispatch()
            if progress:
                progress(tree.size)
        if chunk:
            dispatch()
        first_bad.extend(bad for f in futures if (bad := f.result()) is not None)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    report.receipts = tree.size
    if first_bad:
        seq, reason = min(first_bad)
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
