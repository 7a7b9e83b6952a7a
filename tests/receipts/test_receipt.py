"""The receipt body, its canonical signed bytes and their verification."""

from __future__ import annotations

import json

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from receipts._errors import FormatError, ReceiptsError, SignatureError
from receipts._keys import Signer
from receipts._receipt import (
    RECEIPT_VERSION,
    SignedReceipt,
    receipt_body,
    sign_receipt,
    verify_receipt,
)
from telemetry import GpuRef, OllamaTimings, Outcome, Placement, Processor, RequestRecord
from telemetry.core import GpuUsage

ORIGIN = "receipts.example/provider"
SIGNER = Signer(Ed25519PrivateKey.from_private_bytes(bytes(range(32))), ORIGIN)


def make_record(**overrides: object) -> RequestRecord:
    fields: dict[str, object] = {
        "request_id": "req-0001",
        "trace_id": "0af7651916cd43dd8448eb211c80319c",
        "span_id": "b7ad6b7169203331",
        "start_unix_ns": 1_764_000_000_123_456_789,
        "end_unix_ns": 1_764_000_001_123_456_789,
        "method": "POST",
        "path": "/api/chat",
        "endpoint": "chat",
        "operation": "chat",
        "model": "llama3.2:1b",
        "tier": "default",
        "streaming": True,
        "status": 200,
        "outcome": Outcome.OK,
        "duration_ns": 1_000_000_000,
        "model_digest": "sha256:" + "ab" * 32,
        "done_reason": "stop",
        "input_tokens": 26,
        "output_tokens": 298,
        "ttft_ns": 120_000_000,
        "ollama": OllamaTimings(4_935_886_791, 21_737_583, 1_502_000, 4_000_000_000),
        "placement": Placement(
            Processor.GPU,
            size_bytes=2_000_000_000,
            size_vram_bytes=2_000_000_000,
            gpus=(GpuRef("nvidia", "NVIDIA H100", "GPU-1234", 80 * 2**30),),
        ),
        "request_sha256": "11" * 32,
        "response_sha256": "22" * 32,
        "response_bytes": 5120,
    }
    fields.update(overrides)
    return RequestRecord(**fields)  # type: ignore[arg-type]


def make_receipt(**overrides: object) -> SignedReceipt:
    body = receipt_body(make_record(**overrides), origin=ORIGIN, key_id=SIGNER.key_id.hex())
    return sign_receipt(body, SIGNER)


def test_body_carries_what_a_requestor_needs() -> None:
    body = receipt_body(
        make_record(), origin=ORIGIN, key_id=SIGNER.key_id.hex(), agreement_id="agr-1"
    )
    assert body["v"] == RECEIPT_VERSION
    assert body["origin"] == ORIGIN
    assert body["key_id"] == SIGNER.key_id.hex()
    assert body["start_unix_ns"] == "1764000000123456789"
    assert body["ttft_ns"] == "120000000"
    assert body["ollama"] == {
        "total_ns": "4935886791",
        "load_ns": "21737583",
        "prompt_eval_ns": "1502000",
        "eval_ns": "4000000000",
    }
    placement = body["placement"]
    assert isinstance(placement, dict)
    assert placement["processor"] == "gpu"
    assert placement["gpus"][0]["uuid"] == "GPU-1234"
    assert body["outcome"] == "ok"
    assert body["agreement_id"] == "agr-1"
    assert "activity_id" not in body
    text = json.dumps(body)
    assert "salt" not in text


def test_the_agreement_ids_are_the_ones_given_never_the_client_header_on_its_own() -> None:
    body = receipt_body(
        make_record(agreement_id="from-header", activity_id="from-header"),
        origin=ORIGIN,
        key_id="00000000",
        agreement_id="from-config",
        activity_id="",
    )
    assert body["agreement_id"] == "from-config"
    assert "activity_id" not in body


def test_unavailable_fields_are_omitted() -> None:
    record = make_record(
        operation=None,
        model=None,
        model_digest=None,
        done_reason=None,
        input_tokens=None,
        output_tokens=None,
        ttft_ns=None,
        ollama=OllamaTimings(),
        placement=Placement(Processor.UNKNOWN),
        request_sha256=None,
        response_sha256=None,
        outcome=Outcome.UPSTREAM_UNAVAILABLE,
        status=502,
    )
    body = receipt_body(record, origin=ORIGIN, key_id=SIGNER.key_id.hex())
    assert None not in body.values()
    for absent in ("ttft_ns", "model", "ollama", "request_sha256", "done_reason"):
        assert absent not in body
    assert body["placement"] == {"processor": "unknown"}
    assert body["status"] == 502 and body["outcome"] == "upstream_unavailable"
    receipt = sign_receipt(body, SIGNER)
    verify_receipt(SignedReceipt.parse(receipt.raw), SIGNER.verifier())


def test_gpu_usage_is_in_integers_and_optional() -> None:
    usage = GpuUsage(energy_joules=212.3456, gpu_seconds=0.75, utilization_ratio=0.8765)
    body = receipt_body(make_record(gpu_usage=usage), origin=ORIGIN, key_id="00000000")
    assert body["gpu_usage"] == {
        "energy_mj": 212346,
        "gpu_time_ns": "750000000",
        "utilization_basis_points": 8765,
    }
    partial = receipt_body(
        make_record(gpu_usage=GpuUsage(gpu_seconds=0.5)), origin=ORIGIN, key_id="00000000"
    )
    assert partial["gpu_usage"] == {"gpu_time_ns": "500000000"}
    for nothing in (None, GpuUsage()):
        assert "gpu_usage" not in receipt_body(
            make_record(gpu_usage=nothing), origin=ORIGIN, key_id="00000000"
        )


def test_a_receipt_from_before_gpu_usage_still_verifies() -> None:
    old = receipt_body(make_record(), origin=ORIGIN, key_id=SIGNER.key_id.hex())
    assert "gpu_usage" not in old
    verify_receipt(SignedReceipt.parse(sign_receipt(old, SIGNER).raw), SIGNER.verifier())
    new = make_receipt(gpu_usage=GpuUsage(energy_joules=1.0))
    verify_receipt(SignedReceipt.parse(new.raw), SIGNER.verifier())


def test_unsafe_integers_are_refused() -> None:
    with pytest.raises(ValueError, match="safe integer"):
        receipt_body(make_record(input_tokens=2**53), origin=ORIGIN, key_id="00000000")


def test_signed_bytes_are_canonical_and_round_trip() -> None:
    receipt = make_receipt()
    doc = json.loads(receipt.raw)
    assert rfc8785.dumps(doc) == receipt.raw
    assert doc["signature"]["alg"] == "ed25519"
    assert doc["signature"]["key"] == SIGNER.key_id.hex()
    parsed = SignedReceipt.parse(receipt.raw)
    assert parsed == receipt
    assert parsed.request_id == "req-0001"
    assert parsed.key_id == SIGNER.key_id.hex()
    verify_receipt(parsed, SIGNER.verifier())


def test_unicode_values_survive() -> None:
    receipt = make_receipt(model="modèle\u2028:latest")
    parsed = SignedReceipt.parse(receipt.raw)
    assert parsed.body["model"] == "modèle\u2028:latest"
    verify_receipt(parsed, SIGNER.verifier())


def test_non_canonical_bytes_are_rejected() -> None:
    raw = make_receipt().raw
    doc = json.loads(raw)
    for variant in (
        json.dumps(doc).encode(),
        json.dumps(doc, sort_keys=True, separators=(",", ":")).encode() + b"\n",
        raw.replace(b'"v":1', b'"v":1.0'),
    ):
        with pytest.raises(FormatError):
            SignedReceipt.parse(variant)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "not valid JSON"),
        (b"\xff", "not valid JSON"),
        (b"[]", "exactly"),
        (b'{"receipt":{},"signature":{}}', "must be an object"),
        (b'{"receipt":{"v":2},"signature":{"alg":"x","key":"k","sig":"s"}}', "version"),
        (b'{"receipt":{"v":1},"signature":{"alg":"x","key":"k","sig":"s"}}', "request_id"),
        (
            b'{"receipt":{"request_id":"r","v":1},"signature":{"alg":"x","key":"k","sig":"s"}}',
            "algorithm",
        ),
        (
            b'{"receipt":{"request_id":"r","v":1},"signature":{"alg":"ed25519","key":"k","sig":"!"}}',
            "base64",
        ),
        (
            b'{"receipt":{"request_id":"r","v":1},"signature":{"alg":"ed25519","key":"k","sig":"AA=="}}',
            "64 bytes",
        ),
        (b'{"receipt":{"v":1,"v":1},"signature":{}}', "duplicate"),
        (b'{"receipt":{"v":NaN},"signature":{}}', "not allowed"),
    ],
)
def test_malformed_receipts_are_format_errors(raw: bytes, reason: str) -> None:
    with pytest.raises(FormatError, match=reason):
        SignedReceipt.parse(raw)


def test_wrong_key_is_named() -> None:
    receipt = make_receipt()
    other = Signer(Ed25519PrivateKey.generate(), ORIGIN).verifier()
    with pytest.raises(SignatureError, match="signed by key"):
        verify_receipt(receipt, other)
    renamed = Signer(Ed25519PrivateKey.from_private_bytes(bytes(range(32))), "other.example/log")
    with pytest.raises(SignatureError):
        verify_receipt(receipt, renamed.verifier())


def test_receipt_signed_by_another_key_with_our_id_fails() -> None:
    # Someone re-signs an edited body but keeps our key ID and origin: the signature fails.
    forger = Signer(Ed25519PrivateKey.generate(), ORIGIN)
    body = dict(make_receipt().body)
    body["output_tokens"] = 1
    forged = sign_receipt(body, forger)
    raw = forged.raw.replace(forger.key_id.hex().encode(), SIGNER.key_id.hex().encode())
    with pytest.raises(SignatureError, match="does not verify"):
        verify_receipt(SignedReceipt.parse(raw), SIGNER.verifier())


def test_body_swapped_after_parsing_is_detected() -> None:
    receipt = make_receipt()
    body = dict(receipt.body)
    body["status"] = 500
    with pytest.raises(SignatureError, match="does not match"):
        verify_receipt(SignedReceipt(body, receipt.signature, receipt.raw), SIGNER.verifier())


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"v": 1, "request_id": "r", "ratio": 0.5}, "float"),
        ({"v": 1, "request_id": "r", "clé": 1}, "non-ASCII"),
        ({"v": 1, "request_id": "r", "n": [2**60]}, "outside"),
        ({"v": 1}, "request_id"),
    ],
)
def test_sign_refuses_bodies_a_verifier_could_not_read(
    body: dict[str, object], reason: str
) -> None:
    with pytest.raises(FormatError, match=reason):
        sign_receipt(body, SIGNER)


RECEIPT = make_receipt()


@settings(max_examples=300, deadline=None)
@given(
    pos=st.integers(min_value=0, max_value=len(RECEIPT.raw) - 1),
    delta=st.integers(min_value=1, max_value=255),
)
def test_any_changed_byte_fails(pos: int, delta: int) -> None:
    raw = bytearray(RECEIPT.raw)
    raw[pos] = (raw[pos] + delta) % 256
    with pytest.raises(ReceiptsError):
        verify_receipt(SignedReceipt.parse(bytes(raw)), SIGNER.verifier())


def test_receipt_size_is_modest() -> None:
    # Fully populated (digest, GPU, both commitments) it stays small; see ADR 0005.
    assert len(RECEIPT.raw) < 1300
