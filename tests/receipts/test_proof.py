"""tlog-proof files: round trip, offline verification of receipts, tampering and truncation."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from receipts._errors import FormatError, InclusionError, ReceiptsError, SignatureError
from receipts._keys import COSIGNATURE_V1, Signer, VerifierKey, key_id
from receipts._merkle import MerkleTree, leaf_hash
from receipts._note import Checkpoint, sign_checkpoint
from receipts._proof import HEADER, TlogProof, verify_tlog_proof
from receipts._receipt import receipt_body, sign_receipt
from telemetry import Outcome, RequestRecord

ORIGIN = "receipts.example/provider"
LOG = Signer(Ed25519PrivateKey.from_private_bytes(bytes(range(32))), ORIGIN)
KEY = LOG.verifier()


def make_entries(n: int) -> list[bytes]:
    entries = []
    for i in range(n):
        record = RequestRecord(
            request_id=f"req-{i:04d}",
            trace_id="0af7651916cd43dd8448eb211c80319c",
            span_id="b7ad6b7169203331",
            start_unix_ns=1_764_000_000_000_000_000 + i,
            end_unix_ns=1_764_000_001_000_000_000 + i,
            method="POST",
            path="/api/generate",
            endpoint="generate",
            operation="text_completion",
            model="llama3.2:1b",
            tier="default",
            streaming=False,
            status=200,
            outcome=Outcome.OK,
            duration_ns=1_000_000_000,
        )
        body = receipt_body(record, origin=ORIGIN, key_id=LOG.key_id.hex())
        entries.append(sign_receipt(body, LOG).raw)
    return entries


ENTRIES = make_entries(7)
TREE = MerkleTree(leaf_hash(e) for e in ENTRIES)


def export(index: int, size: int = len(ENTRIES), extra: bytes | None = None) -> TlogProof:
    note = sign_checkpoint(Checkpoint(ORIGIN, size, TREE.root(size)), LOG)
    return TlogProof(index, tuple(TREE.inclusion_proof(index, size)), note, extra)


def test_every_receipt_verifies_offline() -> None:
    for index, entry in enumerate(ENTRIES):
        proof = TlogProof.parse(export(index).to_bytes())
        checkpoint = verify_tlog_proof(proof, entry, KEY)
        assert (checkpoint.origin, checkpoint.size) == (ORIGIN, len(ENTRIES))
        assert checkpoint.root == TREE.root()


def test_file_format() -> None:
    proof = export(2, extra=b"app data")
    data = proof.to_bytes()
    lines = data.split(b"\n")
    assert lines[0] == HEADER.encode()
    assert lines[1] == b"extra " + base64.b64encode(b"app data")
    assert lines[2] == b"index 2"
    assert lines[3:6] == [base64.b64encode(h) for h in proof.path]
    assert lines[6] == b""
    assert data.endswith(proof.checkpoint)
    assert TlogProof.parse(data) == proof


def test_single_leaf_log_has_an_empty_path() -> None:
    proof = export(0, size=1)
    assert proof.path == ()
    assert TlogProof.parse(proof.to_bytes()) == proof
    verify_tlog_proof(proof, ENTRIES[0], KEY)


def test_extra_data_is_not_authenticated() -> None:
    data = export(3, extra=b"one").to_bytes()
    verify_tlog_proof(TlogProof.parse(data), ENTRIES[3], KEY)
    changed = data.replace(base64.b64encode(b"one"), base64.b64encode(b"two"))
    verify_tlog_proof(TlogProof.parse(changed), ENTRIES[3], KEY)


def test_wrong_entry_wrong_index_and_old_path_fail() -> None:
    proof = export(3)
    with pytest.raises(InclusionError):
        verify_tlog_proof(proof, ENTRIES[4], KEY)
    with pytest.raises(InclusionError):
        verify_tlog_proof(TlogProof(4, proof.path, proof.checkpoint), ENTRIES[3], KEY)
    # A path for the 5-leaf tree under the signed 7-leaf checkpoint: the size comes from the
    # signed checkpoint, so it does not verify.
    old = TlogProof(3, tuple(TREE.inclusion_proof(3, 5)), proof.checkpoint)
    with pytest.raises(InclusionError):
        verify_tlog_proof(old, ENTRIES[3], KEY)


def test_wrong_key_or_origin_fails() -> None:
    proof = export(1)
    other = Signer(Ed25519PrivateKey.generate(), ORIGIN).verifier()
    with pytest.raises(SignatureError, match="no known key"):
        verify_tlog_proof(proof, ENTRIES[1], other)
    renamed = Signer(Ed25519PrivateKey.from_private_bytes(bytes(range(32))), "x.example/log")
    with pytest.raises(SignatureError, match="expected"):
        verify_tlog_proof(proof, ENTRIES[1], renamed.verifier())
    public = KEY.public_key
    cosigner = VerifierKey(ORIGIN, key_id(ORIGIN, COSIGNATURE_V1, public), COSIGNATURE_V1, public)
    with pytest.raises(SignatureError, match="not a log signing key"):
        verify_tlog_proof(proof, ENTRIES[1], cosigner)


def test_checkpoint_with_a_different_size_or_root_fails() -> None:
    proof = export(0)
    for old, new in ((b"\n7\n", b"\n8\n"), (b"\n7\n", b"\n6\n")):
        forged = TlogProof(0, proof.path, proof.checkpoint.replace(old, new, 1))
        with pytest.raises(SignatureError):
            verify_tlog_proof(forged, ENTRIES[0], KEY)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "truncated"),
        (HEADER.encode() + b"\nindex 0\n", "truncated"),
        (HEADER.encode() + b"\nindex 0\n\n", "no checkpoint"),
        (b"c2sp.org/tlog-proof@v2\nindex 0\n\nx", "first line"),
        (HEADER.encode() + b"\n\n" + b"x", "index"),
        (HEADER.encode() + b"\nindex 01\n\nx", "decimal"),
        (HEADER.encode() + b"\nindex -1\n\nx", "decimal"),
        (HEADER.encode() + b"\nindex 9223372036854775808\n\nx", "decimal"),
        (HEADER.encode() + b"\nextra !!\nindex 0\n\nx", "base64"),
        (HEADER.encode() + b"\nindex 0\nAAAA\n\nx", "32 bytes"),
        (HEADER.encode() + b"\nindex 0\n\xc3\xa9\n\nx", "ASCII"),
        (HEADER.encode() + b"\nindex 0\n" + b"A" * 43 + b"=\n" * 65 + b"\nx", "longer"),
    ],
)
def test_malformed_proofs_are_format_errors(data: bytes, reason: str) -> None:
    with pytest.raises(FormatError, match=reason):
        TlogProof.parse(data)


PROOF_FILE = export(5).to_bytes()


def test_every_truncation_fails() -> None:
    for cut in range(len(PROOF_FILE)):
        with pytest.raises(ReceiptsError):
            verify_tlog_proof(TlogProof.parse(PROOF_FILE[:cut]), ENTRIES[5], KEY)


@settings(max_examples=400, deadline=None)
@given(pos=st.integers(0, len(PROOF_FILE) - 1), delta=st.integers(1, 255))
def test_any_changed_byte_of_a_proof_fails(pos: int, delta: int) -> None:
    verify_tlog_proof(TlogProof.parse(PROOF_FILE), ENTRIES[5], KEY)
    data = bytearray(PROOF_FILE)
    data[pos] = (data[pos] + delta) % 256
    with pytest.raises(ReceiptsError):
        verify_tlog_proof(TlogProof.parse(bytes(data)), ENTRIES[5], KEY)


@settings(max_examples=200, deadline=None)
@given(pos=st.integers(0, len(ENTRIES[5]) - 1), delta=st.integers(1, 255))
def test_any_changed_byte_of_the_receipt_fails(pos: int, delta: int) -> None:
    data = bytearray(ENTRIES[5])
    data[pos] = (data[pos] + delta) % 256
    with pytest.raises(InclusionError):
        verify_tlog_proof(TlogProof.parse(PROOF_FILE), bytes(data), KEY)
