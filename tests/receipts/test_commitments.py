"""The requestor's verification names the check that failed: request ID, salt, each commitment."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from receipts import CommitmentError, FormatError, MerkleTree, VerificationError, leaf_hash
from receipts._commitments import commitment, parse_salt, verify_fetched
from receipts._note import Checkpoint, sign_checkpoint
from receipts._proof import TlogProof
from receipts._receipt import receipt_body, sign_body
from tests.receipts._support import record, signer

SALT = bytes(range(16))


def logged() -> tuple[bytes, TlogProof, object]:
    log = signer()
    rec = dataclasses.replace(
        record(0),
        salt_sha256=hashlib.sha256(SALT).hexdigest(),
        request_sha256=commitment(SALT, b"request"),
        response_sha256=commitment(SALT, b"response"),
    )
    raw = sign_body(receipt_body(rec, origin=log.name, key_id=log.key_id.hex()), log)[0]
    tree = MerkleTree([leaf_hash(raw)])
    note = sign_checkpoint(Checkpoint(log.name, 1, tree.root(1)), log)
    return raw, TlogProof(0, (), note), log.verifier()


def test_each_failing_check_is_named() -> None:
    raw, proof, key = logged()
    ok = verify_fetched(
        raw, proof, key, request_id="req-000000", salt=SALT,
        request_sha256=commitment(SALT, b"request"), response_sha256=commitment(SALT, b"response"),
    )  # fmt: skip
    assert ok.index == 0 and ok.checkpoint.size == 1
    with pytest.raises(VerificationError, match="for request 'req-000000'"):
        verify_fetched(raw, proof, key, request_id="other")
    with pytest.raises(CommitmentError, match="salt_sha256"):
        verify_fetched(raw, proof, key, salt=b"\x00" * 16)
    with pytest.raises(CommitmentError, match="request_sha256"):
        verify_fetched(raw, proof, key, salt=SALT, request_sha256=commitment(SALT, b"requesT"))
    with pytest.raises(CommitmentError, match="response_sha256"):
        verify_fetched(raw, proof, key, salt=SALT, response_sha256=commitment(SALT, b"x"))


def test_salts_are_hex() -> None:
    assert parse_salt("00ff") == b"\x00\xff"
    for bad in ("", "0g", "abc"):
        with pytest.raises(FormatError):
            parse_salt(bad)
