"""The receipt: a versioned, canonical (RFC 8785) and Ed25519-signed record of one request.

Signed bytes (the log entry, stored and hashed exactly as they are):

    JCS({"receipt": <body>,
         "signature": {"alg": "ed25519", "key": "<key ID, 8 hex digits>", "sig": "<base64>"}})

The signature covers `b"ollama-sidecar receipt v1\\n" + JCS(body)`, so a receipt signature can
never pass for a note or checkpoint signature made by the same key. The body follows
docs/decisions/0005-receipt-format.md: a field that is not available is omitted (never null),
ASCII keys, no floats, integers within +/-(2^53 - 1), nanosecond values as decimal strings.
Content appears only as the salted SHA-256 commitments the proxy computed.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from receipts._errors import FormatError, SignatureError
from receipts._jcs import MAX_SAFE_INT, canonical, encode
from receipts._keys import Signer, VerifierKey, b64decode

if TYPE_CHECKING:  # the CLI verifies receipts without importing the proxy
    from telemetry.core import GpuUsage, OllamaTimings, Placement, RequestRecord

RECEIPT_VERSION = 1
SIGNATURE_ALG = "ed25519"
_DOMAIN = b"ollama-sidecar receipt v1\n"
_SIGNATURE_KEYS = frozenset({"alg", "key", "sig"})
_ENVELOPE_KEYS = frozenset({"receipt", "signature"})


def _ns(value: int | None) -> str | None:
    return None if value is None else str(value)


def _int(value: int | None, name: str) -> int | None:
    if value is not None and not -MAX_SAFE_INT <= value <= MAX_SAFE_INT:
        raise ValueError(f"{name}={value} is outside the JSON safe integer range")
    return value


def _present(fields: dict[str, object]) -> dict[str, object]:
    """Drop fields that are not available (None); callers turn empty objects and lists to None."""
    return {k: v for k, v in fields.items() if v is not None}


def _timings(t: OllamaTimings) -> dict[str, object]:
    return _present(
        {
            "total_ns": _ns(t.total_ns),
            "load_ns": _ns(t.load_ns),
            "prompt_eval_ns": _ns(t.prompt_eval_ns),
            "eval_ns": _ns(t.eval_ns),
        }
    )


def _placement(p: Placement) -> dict[str, object]:
    gpus = [
        _present(
            {
                "vendor": g.vendor,
                "name": g.name,
                "uuid": g.uuid,
                "memory_total_bytes": _int(g.memory_total_bytes, "memory_total_bytes"),
            }
        )
        for g in p.gpus
    ]
    return _present(
        {
            "processor": p.processor.value,
            "size_bytes": _int(p.size_bytes, "size_bytes"),
            "size_vram_bytes": _int(p.size_vram_bytes, "size_vram_bytes"),
            "gpus": gpus or None,
            "remote_host": p.remote_host,
        }
    )


def _gpu_usage(usage: GpuUsage | None) -> dict[str, object] | None:
    """Energy in whole millijoules, GPU time in nanoseconds, utilization in basis points: no
    floats in a receipt. Absent when no GPU served the request or nothing was measured."""
    if usage is None:
        return None
    e, s, u = usage.energy_joules, usage.gpu_seconds, usage.utilization_ratio
    return (
        _present(
            {
                "energy_mj": _int(round(e * 1000), "energy_mj") if e is not None else None,
                "gpu_time_ns": _ns(round(s * 1e9)) if s is not None else None,
                "utilization_basis_points": round(u * 10_000) if u is not None else None,
            }
        )
        or None
    )


def receipt_body(
    record: RequestRecord,
    *,
    origin: str,
    key_id: str,
    agreement_id: str | None = None,
    activity_id: str | None = None,
) -> dict[str, object]:
    """The receipt body for one finished request; fields that are not available are omitted.

    `key_id` is the signer's key ID as 8 hex digits. `agreement_id` / `activity_id` are the Golem
    IDs the receipt names (empty means none): the caller chooses between the configured ones and
    the client's headers (`record.agreement_id`), which are never used on their own.
    Raises ValueError only for integers a JSON verifier could not read exactly.
    """
    return _present(
        {
            "v": RECEIPT_VERSION,
            "origin": origin,
            "key_id": key_id,
            "request_id": record.request_id,
            "trace_id": record.trace_id,
            "span_id": record.span_id,
            "start_unix_ns": str(record.start_unix_ns),
            "end_unix_ns": str(record.end_unix_ns),
            "duration_ns": str(record.duration_ns),
            "method": record.method,
            "path": record.path,
            "endpoint": record.endpoint,
            "operation": record.operation,
            "streaming": record.streaming,
            "tier": record.tier,
            "model": record.model,
            "model_digest": record.model_digest,
            "status": _int(record.status, "status"),
            "outcome": record.outcome.value,
            "error_type": record.error_type,
            "done_reason": record.done_reason,
            "input_tokens": _int(record.input_tokens, "input_tokens"),
            "output_tokens": _int(record.output_tokens, "output_tokens"),
            "ttft_ns": _ns(record.ttft_ns),
            "ollama": _timings(record.ollama) or None,
            "placement": _placement(record.placement),
            "gpu_usage": _gpu_usage(record.gpu_usage),
            "request_sha256": record.request_sha256,
            "response_sha256": record.response_sha256,
            "response_bytes": _int(record.response_bytes, "response_bytes"),
            "salt_sha256": record.salt_sha256,
            "agreement_id": agreement_id or None,
            "activity_id": activity_id or None,
            "response_model": record.response_model,
        }
    )


def _message(body_bytes: bytes) -> bytes:
    return _DOMAIN + body_bytes


@dataclass(frozen=True)
class SignedReceipt:
    """A signed receipt: its body, its signature and the exact canonical bytes (the log entry)."""

    body: Mapping[str, object]
    signature: bytes
    raw: bytes

    @property
    def request_id(self) -> str:
        value = self.body.get("request_id")
        return value if isinstance(value, str) else ""

    @property
    def key_id(self) -> str:
        """The signer's key ID (8 hex digits) as the signature block names it."""
        return _parse_envelope(self.raw)[1]

    @classmethod
    def parse(cls, raw: bytes) -> SignedReceipt:
        """Parse signed receipt bytes; FormatError unless they are exactly canonical."""
        body, _, signature, _ = _parse_envelope(raw)
        return cls(body, signature, bytes(raw))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _reject_float(text: str) -> Any:
    raise ValueError("floats are not allowed in receipts")


def _safe_int(text: str) -> int:
    value = int(text)
    if not -MAX_SAFE_INT <= value <= MAX_SAFE_INT:
        raise ValueError(f"integer {text} is outside +/-(2^53 - 1)")
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"duplicate key {key!r}")
        obj[key] = value
    return obj


def _load(raw: bytes, strict: bool) -> Any:
    try:
        return json.loads(
            raw.decode("utf-8"),
            object_pairs_hook=_no_duplicates if strict else None,
            parse_float=_reject_float,
            parse_constant=_reject_constant,
            parse_int=_safe_int,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormatError(f"receipt is not valid JSON: {exc}") from None
    except RecursionError:
        raise FormatError("receipt is not valid JSON: nested too deeply") from None


def _parse_envelope(raw: bytes) -> tuple[dict[str, Any], str, bytes, bytes]:
    """(body, key ID hex, signature, JCS(body)) of canonical signed receipt bytes.

    One C-speed parse without a per-object hook: duplicate keys cannot survive the final
    comparison with the re-encoded bytes. On any error the strict parse runs once more, so a
    duplicate key is named as such.
    """
    try:
        return _parse_fast(raw)
    except FormatError:
        _load(raw, strict=True)
        raise


def _parse_fast(raw: bytes) -> tuple[dict[str, Any], str, bytes, bytes]:
    doc = _load(raw, strict=False)
    if not isinstance(doc, dict) or doc.keys() != _ENVELOPE_KEYS:
        raise FormatError("receipt must be an object with exactly 'receipt' and 'signature'")
    body, sig = doc["receipt"], doc["signature"]
    if not isinstance(body, dict) or not isinstance(sig, dict) or sig.keys() != _SIGNATURE_KEYS:
        raise FormatError("receipt: 'receipt' must be an object, 'signature' {alg, key, sig}")
    if body.get("v") != RECEIPT_VERSION:
        raise FormatError(f"unsupported receipt version {body.get('v')!r}")
    if not isinstance(body.get("request_id"), str):
        raise FormatError("receipt has no request_id")
    if sig["alg"] != SIGNATURE_ALG:
        raise FormatError(f"unsupported receipt signature algorithm {sig['alg']!r}")
    if not isinstance(sig["key"], str) or not isinstance(sig["sig"], str):
        raise FormatError("receipt signature fields must be strings")
    signature = b64decode(sig["sig"], "receipt signature")
    if len(signature) != 64:
        raise FormatError("receipt signature must be 64 bytes")
    # Parsed from ASCII with safe integers and no floats, the body cannot leave the JCS domain:
    # the domain walk is only needed when the bytes hold non-ASCII text (keys could too).
    body_bytes = encode(body) if raw.isascii() else canonical(body)
    if _envelope(body_bytes, encode(sig)) != raw:
        raise FormatError("receipt bytes are not in canonical (RFC 8785) form")
    return body, sig["key"], signature, body_bytes


def _envelope(body_bytes: bytes, sig_bytes: bytes) -> bytes:
    # JCS sorts "receipt" before "signature", so this concatenation is the canonical envelope.
    return b'{"receipt":' + body_bytes + b',"signature":' + sig_bytes + b"}"


def check_receipt(raw: bytes, key: VerifierKey) -> dict[str, Any]:
    """Parse signed receipt bytes once and check `key` signed them; returns the body.

    The audit's and the CLI's path: FormatError for malformed bytes, SignatureError otherwise.
    """
    return _check(raw, key)[0]


def _check(raw: bytes, key: VerifierKey) -> tuple[dict[str, Any], bytes]:
    body, kid, signature, body_bytes = _parse_envelope(raw)
    if kid != key.key_id.hex() or body.get("key_id") != kid:
        raise SignatureError(
            f"receipt was signed by key {kid}, not by {key.name}+{key.key_id.hex()}"
        )
    if body.get("origin") != key.name:
        raise SignatureError(f"receipt names log {body.get('origin')!r}, not {key.name!r}")
    try:
        key.verify(_message(body_bytes), signature)
    except SignatureError:
        raise SignatureError(
            f"receipt {body['request_id']} signature does not verify with {key.name}"
        ) from None
    return body, signature


def sign_body(body: Mapping[str, object], signer: Signer) -> tuple[bytes, bytes, bytes]:
    """(raw, JCS(body), signature) for a receipt body: the writer's path, no parse back.

    FormatError if the body holds floats, non-ASCII keys or unsafe integers.
    """
    if body.get("v") != RECEIPT_VERSION or not isinstance(body.get("request_id"), str):
        raise FormatError(f"receipt body needs v={RECEIPT_VERSION} and a string request_id")
    body_bytes = canonical(body)
    signature = signer.sign(_message(body_bytes))
    # Key IDs are hex and signatures base64: neither needs escaping, so this is the JCS block.
    sig_bytes = b'{"alg":"ed25519","key":"%s","sig":"%s"}' % (
        signer.key_id.hex().encode(),
        base64.b64encode(signature),
    )
    return _envelope(body_bytes, sig_bytes), body_bytes, signature


def sign_receipt(body: Mapping[str, object], signer: Signer) -> SignedReceipt:
    """Sign a receipt body; the result's `raw` is what goes into the log and the store.

    FormatError if the body holds floats, non-ASCII keys or unsafe integers.
    """
    raw, body_bytes, signature = sign_body(body, signer)
    return SignedReceipt(json.loads(body_bytes), signature, raw)


def verify_receipt(receipt: SignedReceipt, key: VerifierKey) -> None:
    """Check that `key` signed `receipt.raw`; SignatureError (or FormatError) names the problem."""
    body, signature = _check(receipt.raw, key)
    if body != receipt.body or signature != receipt.signature:
        raise SignatureError("receipt body or signature does not match its signed bytes")
