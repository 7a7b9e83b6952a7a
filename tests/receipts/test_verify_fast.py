"""The audit's fast receipt check answers exactly as `check_receipt`, and takes the fast path."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from receipts._errors import FormatError, ReceiptsError, SignatureError
from receipts._keys import Signer
from receipts._receipt import check_receipt, receipt_body, sign_receipt
from receipts._verify_fast import FastChecker
from tests.receipts._support import OUTCOMES, record, signer

SIGNER = signer()
KEY = SIGNER.verifier()
CHECKER = FastChecker(KEY)


def signed(i: int = 0, s: Signer = SIGNER) -> bytes:
    return sign_receipt(receipt_body(record(i), origin=s.name, key_id=s.key_id.hex()), s).raw


def signed_bytes(body_bytes: bytes, sig_text: bytes | None = None) -> bytes:
    """Receipt bytes around any body bytes, validly signed by SIGNER unless `sig_text` is given."""
    if sig_text is None:
        sig_text = base64.b64encode(SIGNER.sign(b"ollama-sidecar receipt v1\n" + body_bytes))
    block = b'{"alg":"ed25519","key":"%s","sig":"%s"}' % (SIGNER.key_id.hex().encode(), sig_text)
    return b'{"receipt":' + body_bytes + b',"signature":' + block + b"}"


def body_text(i: int = 0) -> bytes:
    raw = signed(i)
    return raw[len(b'{"receipt":') : raw.index(b',"signature":')]


def outcome(check: object, raw: bytes) -> tuple[str, object]:
    try:
        return "ok", check(raw)  # type: ignore[operator]
    except ReceiptsError as exc:
        return type(exc).__name__, str(exc)


@pytest.mark.parametrize("i", range(len(OUTCOMES)))
def test_every_kind_of_receipt_takes_the_fast_path_with_the_same_body(i: int) -> None:
    raw = signed(i)
    assert CHECKER._fast(raw) == check_receipt(raw, KEY)
    assert CHECKER.check(raw) == check_receipt(raw, KEY)


def test_a_changed_signature_is_caught_by_libsodium() -> None:
    raw = signed()
    sig_at = raw.index(b'"sig":"') + len(b'"sig":"')
    signature = bytearray(base64.b64decode(raw[sig_at : sig_at + 88]))
    signature[5] ^= 0x01
    bad = raw[:sig_at] + base64.b64encode(bytes(signature)) + raw[sig_at + 88 :]
    with pytest.raises(SignatureError, match="req-000000 signature does not verify"):
        CHECKER._fast(bad)
    assert outcome(CHECKER.check, bad) == outcome(lambda r: check_receipt(r, KEY), bad)


def test_a_changed_body_is_caught() -> None:
    bad = signed().replace(b'"status":200', b'"status":201')
    with pytest.raises(SignatureError, match="does not verify"):
        CHECKER.check(bad)


@pytest.mark.parametrize(
    "edit",
    [
        lambda b: b.replace(b'"v":1', b'"v": 1'),  # whitespace
        lambda b: b.replace(b'"status":200', b'"status":200.0'),  # a float
        lambda b: b.replace(b'"status":200', b'"status":9007199254740993'),  # unsafe integer
        lambda b: b.replace(b'"status":200', b'"status":200,"status":200'),  # duplicate key
        lambda b: b.replace(b',"v":1', b""),  # no version
        lambda b: b.replace(b'"tier":"gpu-8gb"', b'"tier":"gpu-8\\u0067b"'),  # escaped ASCII
        lambda b: b[:-1] + b',"a":1}',  # keys out of order
        lambda b: b + b" ",  # trailing space
        lambda b: b.replace(b'"tier":"gpu-8gb"', b'"tier":"gpu-8g\xc3\xa9"'),  # non-ASCII
    ],
)
def test_non_canonical_bytes_signed_by_the_key_are_refused_like_check_receipt(edit: object) -> None:
    edited = edit(body_text())  # type: ignore[operator]
    assert edited != body_text()
    raw = signed_bytes(edited)
    assert CHECKER._fast(raw) is None
    expected = outcome(lambda r: check_receipt(r, KEY), raw)
    assert expected[0] != "ok" or b"\xc3" in raw  # a canonical non-ASCII body is still fine
    assert outcome(CHECKER.check, raw) == expected


def test_non_canonical_base64_and_other_keys_fall_back_to_the_full_check() -> None:
    raw = signed()
    sig_at = raw.index(b'"sig":"') + len(b'"sig":"')
    sig_text = raw[sig_at : sig_at + 88]
    # The last base64 digit before "==" carries 4 unused bits: set one of them.
    digits = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = digits.index(sig_text[85:86])
    loose = raw[: sig_at + 85] + digits[last | 1 : (last | 1) + 1] + raw[sig_at + 86 :]
    assert loose != raw
    assert CHECKER._fast(loose) is None
    with pytest.raises(FormatError, match="canonical"):
        CHECKER.check(loose)
    other = signed(0, signer())
    assert CHECKER._fast(other) is None
    with pytest.raises(SignatureError, match="was signed by key"):
        CHECKER.check(other)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(OUTCOMES) - 1), st.data())
def test_any_single_byte_change_gets_the_same_answer_as_check_receipt(
    i: int, data: st.DataObject
) -> None:
    raw = bytearray(signed(i))
    at = data.draw(st.integers(0, len(raw) - 1))
    raw[at] = data.draw(st.integers(0, 255))
    changed = bytes(raw)
    assert outcome(CHECKER.check, changed) == outcome(lambda r: check_receipt(r, KEY), changed)
