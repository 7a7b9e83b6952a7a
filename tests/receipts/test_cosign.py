"""The witness policy: k-of-n cosignatures, what counts, and what the error says."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from receipts import QuorumError, SignatureError, WitnessPolicy, verify_cosignatures
from receipts._cosign import add_signatures, cosign, parse_signature_lines
from receipts._errors import FormatError
from receipts._keys import Cosigner
from receipts._note import Checkpoint, SignedNote, sign_checkpoint
from tests.receipts._support import signer

LOG = signer("log.example/policy")
W1, W2, W3 = (Cosigner(Ed25519PrivateKey.generate(), f"w{i}.example") for i in (1, 2, 3))
NOTE = sign_checkpoint(Checkpoint(LOG.name, 7, b"\x07" * 32), LOG)
TEXT = SignedNote.parse(NOTE).text


def cosigned(*witnesses: Cosigner) -> bytes:
    return add_signatures(NOTE, [cosign(TEXT, w, 1_700_000_000) for w in witnesses])


def test_quorum_of_one_and_two() -> None:
    note = cosigned(W1, W2)
    keys = [W1.verifier(), W2.verifier()]
    assert verify_cosignatures(note, keys, 1) == keys
    assert verify_cosignatures(note, keys, 2) == keys
    assert WitnessPolicy.parse([str(k) for k in keys], None).check(note) == keys
    assert WitnessPolicy().check(NOTE) == []  # no policy, nothing required


def test_missing_or_wrong_witness_fails_and_says_how_many() -> None:
    note = cosigned(W1)
    with pytest.raises(QuorumError, match="1 valid witness cosignatures") as exc:
        verify_cosignatures(note, [W1.verifier(), W2.verifier()], 2)
    assert (exc.value.found, exc.value.required) == (1, 2)
    with pytest.raises(QuorumError, match="0 valid") as wrong:
        verify_cosignatures(note, [W3.verifier()], 1)
    assert wrong.value.found == 0
    with pytest.raises(QuorumError, match="only 1 witness keys given"):
        verify_cosignatures(note, [W1.verifier()], 2)
    with pytest.raises(QuorumError):
        WitnessPolicy.parse([str(W1.verifier()), str(W2.verifier())], None).check(note)


def test_a_listed_witness_with_a_bad_cosignature_fails() -> None:
    forged = cosign(TEXT.replace("7", "8"), W1, 1_700_000_000)  # signed another checkpoint
    with pytest.raises(SignatureError):
        verify_cosignatures(add_signatures(NOTE, [forged]), [W1.verifier()], 1)


def test_only_cosignature_keys_make_a_policy() -> None:
    with pytest.raises(FormatError, match="not cosignature/v1"):
        verify_cosignatures(NOTE, [LOG.verifier()], 1)
    with pytest.raises(FormatError):
        verify_cosignatures(NOTE, [], -1)


def test_merging_skips_signers_already_present_and_lines_parse() -> None:
    line = cosign(TEXT, W1, 5)
    once = add_signatures(NOTE, [line])
    assert add_signatures(once, [line, line]) == once
    assert parse_signature_lines(line.to_line().encode()) == [line]
    with pytest.raises(FormatError):
        parse_signature_lines(b"not a signature")
