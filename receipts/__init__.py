"""Signed receipts in a Merkle transparency log: the core formats, the log service and its store.

Verify without the CLI: `verify_inclusion`, `verify_consistency`, `open_checkpoint` (any C2SP
checkpoint, with the verifier keys given), `verify_tlog_proof`, `verify_receipt` and
`verify_cosignatures` (a k-of-n witness policy; `QuorumError` says how many were found). Every
failure raises a `ReceiptsError` subclass; success returns normally.

Requestors: `RecordingTransport` / `AsyncRecordingTransport` (httpx transports for the official
`ollama` and `openai` clients) record what each exchange committed to, then `fetch` and
`verify` its receipt from the sidecar; `fetch_receipt` and `verify_fetched` do the same by hand.

Names are imported on first use (PEP 562): `import receipts` and the `receipts` CLI do not load
aiohttp, OpenTelemetry, DuckDB or the proxy until a name that needs them is touched.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from receipts._errors import (
    BillingError,
    CommitmentError,
    ConsistencyError,
    FetchError,
    FormatError,
    InclusionError,
    KeyFileError,
    NotCoveredError,
    QuorumError,
    ReceiptsError,
    SignatureError,
    StoreError,
    StoreLockedError,
    StoreRefusedError,
    UnknownReceiptError,
    VerificationError,
)

if TYPE_CHECKING:
    from receipts._client import AsyncRecordingTransport, RecordedExchange, RecordingTransport
    from receipts._commitments import Verified, commitment, verify_fetched
    from receipts._cosign import WitnessPolicy, verify_cosignatures
    from receipts._fetch_http import FetchedReceipt, fetch_receipt
    from receipts._keys import (
        COSIGNATURE_V1,
        ED25519,
        Signer,
        VerifierKey,
        generate_key_file,
        key_id,
        load_key_file,
    )
    from receipts._merkle import (
        EMPTY_ROOT,
        HASH_SIZE,
        MerkleTree,
        leaf_hash,
        node_hash,
        root_of,
        verify_consistency,
        verify_inclusion,
    )
    from receipts._note import (
        Checkpoint,
        NoteSignature,
        SignedNote,
        open_checkpoint,
        sign_checkpoint,
        sign_note,
        verify_note,
    )
    from receipts._proof import TlogProof, verify_tlog_proof
    from receipts._receipt import (
        RECEIPT_VERSION,
        SignedReceipt,
        receipt_body,
        sign_receipt,
        verify_receipt,
    )
    from receipts._service import ReceiptService
    from receipts._store import MemoryStore, ReceiptStore
    from receipts._store_duckdb import DuckDBStore

_LAZY = {
    "receipts._cosign": ("WitnessPolicy", "verify_cosignatures"),
    "receipts._client": ("AsyncRecordingTransport", "RecordedExchange", "RecordingTransport"),
    "receipts._commitments": ("Verified", "commitment", "verify_fetched"),
    "receipts._fetch_http": ("FetchedReceipt", "fetch_receipt"),
    "receipts._keys": (
        "COSIGNATURE_V1",
        "ED25519",
        "Signer",
        "VerifierKey",
        "generate_key_file",
        "key_id",
        "load_key_file",
    ),
    "receipts._merkle": (
        "EMPTY_ROOT",
        "HASH_SIZE",
        "MerkleTree",
        "leaf_hash",
        "node_hash",
        "root_of",
        "verify_consistency",
        "verify_inclusion",
    ),
    "receipts._note": (
        "Checkpoint",
        "NoteSignature",
        "SignedNote",
        "open_checkpoint",
        "sign_checkpoint",
        "sign_note",
        "verify_note",
    ),
    "receipts._proof": ("TlogProof", "verify_tlog_proof"),
    "receipts._receipt": (
        "RECEIPT_VERSION",
        "SignedReceipt",
        "receipt_body",
        "sign_receipt",
        "verify_receipt",
    ),
    "receipts._service": ("ReceiptService",),
    "receipts._store": ("MemoryStore", "ReceiptStore"),
    "receipts._store_duckdb": ("DuckDBStore",),
}
_MODULE_OF = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'receipts' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
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
