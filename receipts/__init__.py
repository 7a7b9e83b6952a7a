"""Signed receipts in a Merkle transparency log: the core formats, the log service and its store.

Verify without the CLI: `verify_inclusion`, `verify_consistency`, `open_checkpoint` (any C2SP
checkpoint, with the verifier keys given), `verify_tlog_proof` and `verify_receipt`. Every
failure raises a `ReceiptsError` subclass; success returns normally.
"""

from receipts._errors import (
    ConsistencyError,
    FormatError,
    InclusionError,
    KeyFileError,
    ReceiptsError,
    SignatureError,
    StoreError,
    VerificationError,
)
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

__all__ = [
    "COSIGNATURE_V1",
    "ED25519",
    "EMPTY_ROOT",
    "HASH_SIZE",
    "RECEIPT_VERSION",
    "Checkpoint",
    "ConsistencyError",
    "DuckDBStore",
    "FormatError",
    "InclusionError",
    "KeyFileError",
    "MemoryStore",
    "MerkleTree",
    "NoteSignature",
    "ReceiptService",
    "ReceiptStore",
    "ReceiptsError",
    "SignatureError",
    "SignedNote",
    "SignedReceipt",
    "Signer",
    "StoreError",
    "StoreLockedError",
    "TlogProof",
    "VerificationError",
    "VerifierKey",
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
    "verify_inclusion",
    "verify_note",
    "verify_receipt",
    "verify_tlog_proof",
]
