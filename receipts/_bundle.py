"""An agreement's receipts as one offline bundle: every receipt with its inclusion proof, all
against one signed checkpoint.

    DIR/checkpoint            the signed checkpoint note every proof below embeds
    DIR/<index>.json          a signed receipt (log index `index`), exact bytes
    DIR/<index>.tlog-proof    its C2SP tlog-proof against that checkpoint

Nothing else in the bundle is trusted: `read_bundle` verifies every receipt and proof with the
provider's key, and counts only receipts that verified.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from receipts._cli_source import LogSource
from receipts._commitments import verify_fetched
from receipts._cosign import NO_WITNESSES, WitnessPolicy
from receipts._errors import FormatError, StoreError, VerificationError
from receipts._keys import VerifierKey
from receipts._merkle import MerkleTree
from receipts._note import open_checkpoint
from receipts._proof import TlogProof
from receipts._store import ReceiptRow

CHECKPOINT_FILE = "checkpoint"
_PAGE = 10_000


def _body(raw: bytes) -> Mapping[str, Any]:
    try:
        body = json.loads(raw)["receipt"]
    except (ValueError, KeyError, TypeError):
        return {}
    return body if isinstance(body, dict) else {}


@dataclass(frozen=True)
class AgreementReceipts:
    """The stored receipts of one agreement and, when asked for, the whole tree."""

    rows: tuple[ReceiptRow, ...]
    bodies: tuple[Mapping[str, Any], ...]
    tree: MerkleTree | None


def agreement_receipts(
    source: LogSource, agreement_id: str, *, with_tree: bool = False
) -> AgreementReceipts:
    """Scan the log for the receipts whose body names `agreement_id`."""
    rows, bodies = [], []
    tree = MerkleTree() if with_tree else None
    start = 0
    while page := source.entries(start, _PAGE):
        for row in page:
            if tree is not None:
                tree.append(row.leaf_hash)
            body = _body(row.raw)
            if body.get("agreement_id") == agreement_id:
                rows.append(row)
                bodies.append(body)
        start += len(page)
    return AgreementReceipts(tuple(rows), tuple(bodies), tree)


def write_bundle(
    source: LogSource, key: VerifierKey, found: AgreementReceipts, directory: Path
) -> tuple[int, int]:
    """Write the bundle; (receipts written, receipts left out because no checkpoint covers
    them yet)."""
    assert found.tree is not None
    note = source.latest_checkpoint()
    if note is None:
        raise StoreError("the log has no signed checkpoint yet")
    checkpoint, _ = open_checkpoint(note, [key], origin=key.name)
    if found.tree.size < checkpoint.size or found.tree.root(checkpoint.size) != checkpoint.root:
        raise StoreError(f"the stored log does not match its checkpoint of size {checkpoint.size}")
    covered = [row for row in found.rows if row.seq < checkpoint.size]
    try:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / CHECKPOINT_FILE).write_bytes(note)
        for row in covered:
            path = tuple(found.tree.inclusion_proof(row.seq, checkpoint.size))
            (directory / f"{row.seq}.json").write_bytes(row.raw)
            proof = TlogProof(index=row.seq, path=path, checkpoint=note)
            (directory / f"{row.seq}.tlog-proof").write_bytes(proof.to_bytes())
    except OSError as exc:
        raise FormatError(f"cannot write to {directory}: {exc.strerror}") from None
    return len(covered), len(found.rows) - len(covered)


@dataclass(frozen=True)
class BundleResult:
    name: str
    ok: bool
    reason: str


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise FormatError(f"cannot read {what} {path}: {exc.strerror}") from None


def _receipt_files(directory: Path) -> Iterator[tuple[int, Path]]:
    if not directory.is_dir():
        raise FormatError(f"bundle {directory} is not a directory")
    for path in directory.glob("*.json"):
        if not path.stem.isdigit():
            raise FormatError(f"bundle {directory}: unexpected file {path.name}")
        yield int(path.stem), path


def read_bundle(
    directory: Path, key: VerifierKey, policy: WitnessPolicy = NO_WITNESSES
) -> tuple[str, list[Mapping[str, object]], list[BundleResult]]:
    """(agreement ID, verified receipt bodies, one result per receipt) of a bundle; each
    receipt's checkpoint must also satisfy the witness `policy`."""
    files = sorted(_receipt_files(directory))
    if not files:
        raise FormatError(f"bundle {directory} holds no receipts")
    checkpoint = _read(directory / CHECKPOINT_FILE, "bundle checkpoint")
    bodies: list[Mapping[str, object]] = []
    results = []
    for index, path in files:
        proof = TlogProof.parse(_read(path.with_suffix(".tlog-proof"), "proof"))
        try:
            if proof.index != index or proof.checkpoint != checkpoint:
                raise VerificationError("not proven at its index against the bundle's checkpoint")
            verified = verify_fetched(_read(path, "receipt"), proof, key, policy=policy)
        except VerificationError as exc:
            results.append(BundleResult(path.name, False, str(exc)))
            continue
        bodies.append(verified.body)
        results.append(BundleResult(path.name, True, f"{verified.request_id}: verified"))
    agreements = {str(body.get("agreement_id")) for body in bodies}
    if len(agreements) > 1:
        raise VerificationError(f"the bundle mixes agreements: {', '.join(sorted(agreements))}")
    return (agreements.pop() if agreements else ""), bodies, results
