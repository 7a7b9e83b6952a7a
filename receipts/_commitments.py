"""What a requestor checks: a fetched receipt is signed, logged, and about its own exchange.

`verify_fetched` is the one place a requestor's verification happens, for the CLI and the
Python API alike: the receipt signature by the provider's key, the inclusion proof against the
provider's signed checkpoint, the witness policy's cosignatures on that checkpoint, that the
receipt names the request ID asked for, that it commits to the salt the proxy gave
(`salt_sha256`), and that `request_sha256` and `response_sha256` equal SHA-256(salt ‖ bytes)
of what the requestor itself sent and received. Each failure raises a `VerificationError` that
names the check.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from receipts._cosign import NO_WITNESSES, WitnessPolicy
from receipts._errors import CommitmentError, FormatError, VerificationError
from receipts._keys import VerifierKey
from receipts._note import Checkpoint
from receipts._proof import TlogProof, verify_tlog_proof
from receipts._receipt import SignedReceipt, verify_receipt


def commitment(salt: bytes, data: bytes) -> str:
    """SHA-256(salt ‖ data) as hex: what a receipt's `request_sha256`/`response_sha256` hold."""
    digest = hashlib.sha256(salt)
    digest.update(data)
    return digest.hexdigest()


def parse_salt(text: str) -> bytes:
    """The salt from its hex form (as `X-Receipt-Salt` carries it); FormatError otherwise."""
    try:
        salt = bytes.fromhex(text)
    except ValueError:
        raise FormatError("the salt must be hex digits (the X-Receipt-Salt header)") from None
    if not salt:
        raise FormatError("the salt is empty")
    return salt


@dataclass(frozen=True)
class Verified:
    """A receipt that verified, with the checkpoint that covers it."""

    receipt: SignedReceipt
    checkpoint: Checkpoint
    index: int
    witnesses: tuple[VerifierKey, ...] = ()

    @property
    def request_id(self) -> str:
        return self.receipt.request_id

    @property
    def body(self) -> Mapping[str, object]:
        return self.receipt.body


def _same(field: str, expected: object, actual: str) -> None:
    if not isinstance(expected, str) or not hmac.compare_digest(expected, actual):
        raise CommitmentError(f"{field} does not match: the receipt commits to other bytes")


def check_commitments(
    body: Mapping[str, object],
    salt: bytes,
    *,
    request_sha256: str | None = None,
    response_sha256: str | None = None,
) -> None:
    """The receipt commits to `salt` and to the given digests (those that are not None)."""
    _same("salt_sha256", body.get("salt_sha256"), hashlib.sha256(salt).hexdigest())
    if request_sha256 is not None:
        _same("request_sha256", body.get("request_sha256"), request_sha256)
    if response_sha256 is not None:
        _same("response_sha256", body.get("response_sha256"), response_sha256)


def verify_fetched(
    raw: bytes,
    proof: TlogProof,
    key: VerifierKey,
    *,
    request_id: str | None = None,
    salt: bytes | None = None,
    request_sha256: str | None = None,
    response_sha256: str | None = None,
    policy: WitnessPolicy = NO_WITNESSES,
) -> Verified:
    """Verify a receipt and its proof; with `salt`, also its commitments; with a witness
    `policy`, the checkpoint's cosignatures (QuorumError when too few). Raises on failure."""
    receipt = SignedReceipt.parse(raw)
    verify_receipt(receipt, key)
    if request_id is not None and receipt.request_id != request_id:
        raise VerificationError(f"the receipt is for request {receipt.request_id!r}")
    checkpoint = verify_tlog_proof(proof, raw, key)
    witnesses = tuple(policy.check(proof.checkpoint))
    if salt is not None:
        check_commitments(
            receipt.body, salt, request_sha256=request_sha256, response_sha256=response_sha256
        )
    return Verified(receipt, checkpoint, proof.index, witnesses)
