"""The package surface: `__all__` is pinned, every name resolves, and importing stays light."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import receipts
from receipts._cli_list import OUTCOMES
from telemetry import Outcome

ROOT = Path(__file__).resolve().parents[2]

PUBLIC = [
    "COSIGNATURE_V1",
    "ED25519",
    "EMPTY_ROOT",
    "HASH_SIZE",
    "RECEIPT_VERSION",
    "AsyncRecordingTransport",
    "BillingError",
    "Checkpoint",
    "CommitmentError",
    "ConsistencyError",
    "DuckDBStore",
    "FetchError",
    "FetchedReceipt",
    "FormatError",
    "InclusionError",
    "KeyFileError",
    "MemoryStore",
    "MerkleTree",
    "NotCoveredError",
    "NoteSignature",
    "QuorumError",
    "ReceiptService",
    "ReceiptStore",
    "ReceiptsError",
    "RecordedExchange",
    "RecordingTransport",
    "SignatureError",
    "SignedNote",
    "SignedReceipt",
    "Signer",
    "StoreError",
    "StoreLockedError",
    "StoreRefusedError",
    "TlogProof",
    "UnknownReceiptError",
    "VerificationError",
    "Verified",
    "VerifierKey",
    "WitnessPolicy",
    "commitment",
    "fetch_receipt",
    "generate_key_file",
    "key_id",
    "leaf_hash",
    "load_key_file",
    "node_hash",
    "open_checkpoint",
    "receipt_body",
    "root_of",
    "sign_checkpoint",
    "sign_note",
    "sign_receipt",
    "verify_consistency",
    "verify_cosignatures",
    "verify_fetched",
    "verify_inclusion",
    "verify_note",
    "verify_receipt",
    "verify_tlog_proof",
]


def test_all_is_pinned_and_every_name_resolves() -> None:
    assert receipts.__all__ == PUBLIC
    for name in PUBLIC:
        assert getattr(receipts, name) is not None
        assert name in dir(receipts)
    assert receipts.ReceiptService.__module__ == "receipts._service"
    assert issubclass(receipts.StoreLockedError, receipts.StoreError)
    with pytest.raises(AttributeError):
        _ = receipts.no_such_name  # type: ignore[attr-defined]


def test_outcome_choices_match_the_record_enum() -> None:
    assert list(OUTCOMES) == [o.value for o in Outcome]


@pytest.mark.parametrize("module", ["receipts", "receipts.cli"])
def test_importing_does_not_load_heavy_dependencies(module: str) -> None:
    heavy = ("aiohttp", "duckdb", "opentelemetry", "prometheus_client", "telemetry")
    code = f"import sys, {module}\nprint(','.join(m for m in {heavy!r} if m in sys.modules))\n"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout.strip() == ""
