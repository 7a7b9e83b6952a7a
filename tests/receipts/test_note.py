"""C2SP signed-note vectors, checkpoints and tlog-cosignature/v1."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from receipts._errors import FormatError, ReceiptsError, SignatureError
from receipts._keys import COSIGNATURE_V1, Signer, VerifierKey, key_id, parse_signer_key
from receipts._merkle import EMPTY_ROOT, leaf_hash
from receipts._note import (
    Checkpoint,
    NoteSignature,
    SignedNote,
    cosignature_message,
    open_checkpoint,
    sign_checkpoint,
    sign_note,
    verify_note,
)

EXAMPLE_KEY = VerifierKey.parse(
    "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
)
EXAMPLE_NOTE = (
    "This is an example message.\n"
    "\n"
    "— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOB"
    "H3mFXmRKuwHjG1Yu72IneyaQM=\n"
).encode()

PETER_SIGNER = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_KEY = VerifierKey.parse("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
ENOCH_KEY = VerifierKey.parse("EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop")
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_LINE = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6"
    "KE6RyyBwJnAM=\n"
)
ENOCH_LINE = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnW"
    "Lox33WWd1RvMc+QQ=\n"
)
GO_NOTE = (GO_TEXT + "\n" + PETER_LINE + ENOCH_LINE).encode()

ORIGIN = "receipts.example/provider"
LOG = Signer(Ed25519PrivateKey.from_private_bytes(bytes(range(32))), ORIGIN)


def cosign(note: bytes, private_key: Ed25519PrivateKey, name: str, timestamp: int) -> bytes:
    """What a tlog-cosignature/v1 witness appends to a checkpoint."""
    signed = SignedNote.parse(note)
    public = private_key.public_key().public_bytes_raw()
    sig = private_key.sign(cosignature_message(signed.text, timestamp))
    payload = timestamp.to_bytes(8, "big") + sig
    line = NoteSignature(name, key_id(name, COSIGNATURE_V1, public), payload)
    return SignedNote(signed.text, (*signed.signatures, line)).to_bytes()


def witness_key(private_key: Ed25519PrivateKey, name: str) -> VerifierKey:
    public = private_key.public_key().public_bytes_raw()
    return VerifierKey(name, key_id(name, COSIGNATURE_V1, public), COSIGNATURE_V1, public)


def test_c2sp_example_note_verifies() -> None:
    note = SignedNote.parse(EXAMPLE_NOTE)
    assert note.text == "This is an example message.\n"
    assert note.signatures[0].name == "example.com/foo"
    assert note.signatures[0].key_id == EXAMPLE_KEY.key_id
    assert verify_note(note, [EXAMPLE_KEY]) == [EXAMPLE_KEY]
    assert note.to_bytes() == EXAMPLE_NOTE


def test_go_note_both_signatures_verify() -> None:
    note = SignedNote.parse(GO_NOTE)
    assert note.text == GO_TEXT
    assert verify_note(note, [PETER_KEY, ENOCH_KEY]) == [PETER_KEY, ENOCH_KEY]
    assert verify_note(note, [ENOCH_KEY]) == [ENOCH_KEY]
    assert note.to_bytes() == GO_NOTE


def test_signing_with_the_go_signer_key_reproduces_the_line() -> None:
    signed = sign_note(GO_TEXT, parse_signer_key(PETER_SIGNER))
    assert signed.to_bytes() == (GO_TEXT + "\n" + PETER_LINE).encode()


def test_unknown_signers_are_ignored_but_some_key_must_verify() -> None:
    note = SignedNote.parse(GO_NOTE)
    stranger = Signer(Ed25519PrivateKey.generate(), "Stranger").verifier()
    assert verify_note(note, [stranger, PETER_KEY]) == [PETER_KEY]
    with pytest.raises(SignatureError, match="no known key"):
        verify_note(note, [stranger])
    with pytest.raises(SignatureError, match="no known key"):
        verify_note(note, [])


def test_a_known_key_that_fails_rejects_the_note() -> None:
    # Same name and key ID as Peter, but the signature bytes are Enoch's: must not pass.
    peter = SignedNote.parse(GO_NOTE).signatures[0]
    enoch = SignedNote.parse(GO_NOTE).signatures[1]
    forged = SignedNote(GO_TEXT, (enoch, NoteSignature(peter.name, peter.key_id, enoch.payload)))
    with pytest.raises(SignatureError, match="PeterNeumann"):
        verify_note(forged, [PETER_KEY, ENOCH_KEY])


def test_extra_unknown_signature_line_still_passes() -> None:
    extra = sign_note(GO_TEXT, Signer(Ed25519PrivateKey.generate(), "Other")).signatures[0]
    note = SignedNote.parse(GO_NOTE)
    more = SignedNote(note.text, (*note.signatures, extra))
    assert verify_note(SignedNote.parse(more.to_bytes()), [PETER_KEY]) == [PETER_KEY]


@settings(max_examples=300, deadline=None)
@given(pos=st.integers(min_value=0, max_value=len(GO_NOTE) - 1), delta=st.integers(1, 255))
def test_any_changed_byte_of_a_note_fails(pos: int, delta: int) -> None:
    data = bytearray(GO_NOTE)
    data[pos] = (data[pos] + delta) % 256
    with pytest.raises(ReceiptsError):
        # Both signers required: a changed name or key ID only makes a line unknown.
        if len(verify_note(SignedNote.parse(bytes(data)), [PETER_KEY, ENOCH_KEY])) != 2:
            raise SignatureError("a required signer is missing")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"no signatures\n", "blank line"),
        (b"text\n\n", "complete lines"),
        (b"text\n\n\xe2\x80\x94 a AAAAAAA=", "complete lines"),
        (b"\xff\n\n", "UTF-8"),
        (b"tab\there\n\n\xe2\x80\x94 a AAAAAAA=\n", "control"),
        (b"text\n\n- a AAAAAAA=\n", "em dash"),
        (b"text\n\n\xe2\x80\x94 a b AAAAAAA=\n", "key name and a signature"),
        (b"text\n\n\xe2\x80\x94 a AAAA\n", "too short"),
        (b"text\n\n\xe2\x80\x94 a !!!!\n", "base64"),
        (b"text\n\n\xe2\x80\x94 a+b AAAAAAA=\n", "key name"),
        (b"text\n\n" + b"\xe2\x80\x94 a AAAAAAA=\n" * 101, "more than 100"),
    ],
)
def test_malformed_notes_are_format_errors(data: bytes, reason: str) -> None:
    with pytest.raises(FormatError, match=reason):
        SignedNote.parse(data)


def test_text_with_blank_lines_splits_at_the_last_one() -> None:
    signed = sign_note("para one\n\npara two\n", LOG)
    parsed = SignedNote.parse(signed.to_bytes())
    assert parsed.text == "para one\n\npara two\n"
    verify_note(parsed, [LOG.verifier()])


def test_sign_note_needs_a_final_newline() -> None:
    with pytest.raises(FormatError, match="newline"):
        sign_note("no newline", LOG)


def test_checkpoint_round_trip() -> None:
    cp = Checkpoint(ORIGIN, 8, leaf_hash(b"root"), ("ext one",))
    assert cp.to_text() == f"{ORIGIN}\n8\n{base64.b64encode(cp.root).decode()}\next one\n"
    assert Checkpoint.from_text(cp.to_text()) == cp
    note = sign_checkpoint(cp, LOG)
    opened, keys = open_checkpoint(note, [LOG.verifier()], origin=ORIGIN)
    assert opened == cp
    assert keys == [LOG.verifier()]


def test_empty_checkpoint() -> None:
    cp = Checkpoint(ORIGIN, 0, EMPTY_ROOT)
    assert Checkpoint.from_text(cp.to_text()) == cp


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("origin\n1\n", "needs"),
        ("\n1\n" + base64.b64encode(EMPTY_ROOT).decode() + "\n", "origin is empty"),
        ("o\n01\n" + base64.b64encode(EMPTY_ROOT).decode() + "\n", "size"),
        ("o\n-1\n" + base64.b64encode(EMPTY_ROOT).decode() + "\n", "size"),
        ("o\n\u0661\n" + base64.b64encode(EMPTY_ROOT).decode() + "\n", "size"),
        ("o\n18446744073709551616\n" + base64.b64encode(EMPTY_ROOT).decode() + "\n", "size"),
        ("o\n1\n" + base64.b64encode(EMPTY_ROOT[:31]).decode() + "\n", "32 bytes"),
        ("o\n1\nnot base64\n", "base64"),
        ("o\n1\n" + base64.b64encode(EMPTY_ROOT).decode(), "newline"),
    ],
)
def test_malformed_checkpoints_are_format_errors(text: str, reason: str) -> None:
    with pytest.raises(FormatError, match=reason):
        Checkpoint.from_text(text)


def test_checkpoint_origin_is_enforced() -> None:
    note = sign_checkpoint(Checkpoint(ORIGIN, 1, leaf_hash(b"x")), LOG)
    with pytest.raises(SignatureError, match="expected"):
        open_checkpoint(note, [LOG.verifier()], origin="other.example/log")
    with pytest.raises(ValueError, match="cannot sign"):
        sign_checkpoint(Checkpoint("other.example/log", 1, leaf_hash(b"x")), LOG)


def test_foreign_checkpoint_with_cosignatures() -> None:
    # A checkpoint from someone else's log, cosigned by two witnesses.
    log = Signer(Ed25519PrivateKey.generate(), "go.example/log")
    note = sign_checkpoint(Checkpoint("go.example/log", 42, leaf_hash(b"y")), log)
    w1, w2 = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    note = cosign(cosign(note, w1, "witness.one", 1_700_000_000), w2, "witness.two", 1_700_000_001)
    k1, k2 = witness_key(w1, "witness.one"), witness_key(w2, "witness.two")
    cp, keys = open_checkpoint(note, [log.verifier(), k1, k2])
    assert cp.size == 42
    assert keys == [log.verifier(), k1, k2]
    assert open_checkpoint(note, [k2])[1] == [k2]


def test_bad_cosignatures_fail() -> None:
    note = sign_checkpoint(Checkpoint(ORIGIN, 3, leaf_hash(b"z")), LOG)
    w = Ed25519PrivateKey.generate()
    key = witness_key(w, "witness.one")
    good = SignedNote.parse(cosign(note, w, "witness.one", 1_700_000_000))
    cosig = good.signatures[-1]

    later = NoteSignature(
        cosig.name, cosig.key_id, (1_700_000_001).to_bytes(8, "big") + cosig.payload[8:]
    )
    with pytest.raises(SignatureError, match=r"witness\.one"):
        verify_note(SignedNote(good.text, (later,)), [key])

    short = NoteSignature(cosig.name, cosig.key_id, cosig.payload[:-1])
    with pytest.raises(SignatureError, match="wrong length"):
        verify_note(SignedNote(good.text, (short,)), [key])

    huge = NoteSignature(cosig.name, cosig.key_id, (2**63).to_bytes(8, "big") + cosig.payload[8:])
    with pytest.raises(SignatureError, match="timestamp"):
        verify_note(SignedNote(good.text, (huge,)), [key])

    # The witness signed the cosignature message, not the bare text: an ed25519 key with the
    # same public key has a different key ID, so the line is simply unknown to it.
    plain = VerifierKey.parse(str(Signer(w, "witness.one").verifier()))
    with pytest.raises(SignatureError, match="no known key"):
        verify_note(SignedNote(good.text, (cosig,)), [plain])


CHECKPOINT_NOTE = cosign(
    sign_checkpoint(Checkpoint(ORIGIN, 5, leaf_hash(b"five")), LOG),
    Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33))),
    "witness.one",
    1_700_000_000,
)
WITNESS = witness_key(Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33))), "witness.one")


@settings(max_examples=300, deadline=None)
@given(pos=st.integers(0, len(CHECKPOINT_NOTE) - 1), delta=st.integers(1, 255))
def test_any_changed_byte_of_a_checkpoint_fails(pos: int, delta: int) -> None:
    open_checkpoint(CHECKPOINT_NOTE, [LOG.verifier(), WITNESS], origin=ORIGIN)
    data = bytearray(CHECKPOINT_NOTE)
    data[pos] = (data[pos] + delta) % 256
    with pytest.raises(ReceiptsError):
        open_with_both_signatures(bytes(data))


def open_with_both_signatures(note: bytes) -> None:
    # A changed byte in a signature line's name or key ID turns the line into an unknown
    # signer, which is ignored; a policy that needs the log key and the witness then fails.
    _, keys = open_checkpoint(note, [LOG.verifier(), WITNESS], origin=ORIGIN)
    if len(keys) != 2:
        raise SignatureError(f"only {len(keys)} of 2 required keys signed")
