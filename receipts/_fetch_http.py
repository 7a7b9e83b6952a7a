"""The requestor's side of the proxy's receipt fetch: the request to send, the answer to read.

    GET {base}/.well-known/ollama-sidecar/receipts/{request_id}?wait=S   X-Receipt-Salt: hex

The path prefix is the proxy's (`telemetry.proxy._receipt_fetch`); it is written here again
because receipts/ imports nothing but the telemetry core, and a test pins the two together.
"""

from __future__ import annotations

import base64
import binascii
import json
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from receipts._errors import FetchError, FormatError, NotCoveredError, UnknownReceiptError
from receipts._proof import TlogProof
from receipts._receipt import SignedReceipt

if TYPE_CHECKING:  # httpx is imported by the calls that use it: `receipts` stays light
    import httpx

RECEIPTS_PREFIX = "/.well-known/ollama-sidecar"
DEFAULT_SIDECAR = "http://127.0.0.1:11435"
SALT_HEADER = "X-Receipt-Salt"
MAX_WAIT_SECONDS = 10.0
MAX_ANSWER_BYTES = 1 << 20  # a receipt and its proof are a few KiB; more is not an answer
MAX_EXPLANATION = 200


@dataclass(frozen=True)
class FetchedReceipt:
    """A signed receipt and its tlog-proof as the sidecar sent them (not verified yet)."""

    request_id: str
    receipt: bytes
    proof: bytes

    @property
    def tlog_proof(self) -> TlogProof:
        return TlogProof.parse(self.proof)

    def write(self, directory: Path) -> tuple[Path, Path]:
        """`DIR/REQUEST_ID.json` and `DIR/REQUEST_ID.tlog-proof`, as `receipts export` writes."""
        stem = urllib.parse.quote(self.request_id, safe="")
        receipt_path, proof_path = directory / f"{stem}.json", directory / f"{stem}.tlog-proof"
        try:
            directory.mkdir(parents=True, exist_ok=True)
            receipt_path.write_bytes(self.receipt)
            proof_path.write_bytes(self.proof)
        except OSError as exc:
            raise FormatError(f"cannot write to {directory}: {exc.strerror}") from None
        return receipt_path, proof_path


def fetch_request(
    base_url: str,
    request_id: str,
    salt: bytes,
    wait: float,
    authorization: str | None = None,
) -> httpx.Request:
    """The GET that asks the sidecar at `base_url` for a receipt (waiting up to `wait` s)."""
    import httpx

    if not 0 <= wait <= MAX_WAIT_SECONDS:
        raise FormatError(f"wait must be between 0 and {MAX_WAIT_SECONDS:g} seconds")
    path = f"{RECEIPTS_PREFIX}/receipts/{urllib.parse.quote(request_id, safe='')}"
    headers = {SALT_HEADER: salt.hex(), "Accept": "application/json"}
    if authorization:
        headers["Authorization"] = authorization
    timeout = {"connect": 5.0, "read": wait + 10.0, "write": 5.0, "pool": 5.0}
    return httpx.Request(
        "GET",
        base_url.rstrip("/") + path,
        params={"wait": f"{wait:g}"} if wait else None,
        headers=headers,
        extensions={"timeout": timeout},
    )


def _error(body: bytes) -> str:
    """The sidecar's own explanation, on one bounded line."""
    try:
        text = " ".join(str(json.loads(body)["error"]).split())
    except (ValueError, KeyError, TypeError):
        return "no explanation"
    return text if len(text) <= MAX_EXPLANATION else text[:MAX_EXPLANATION] + "..."


def fetched(request_id: str, status: int, body: bytes) -> FetchedReceipt:
    """Read the sidecar's answer; raises UnknownReceiptError, NotCoveredError or FetchError."""
    if status == 404:
        raise UnknownReceiptError(f"{request_id}: no receipt with this request ID and salt")
    if status == 202:
        raise NotCoveredError(
            f"{request_id}: no signed checkpoint covers the receipt yet (wait and ask again)"
        )
    if status != 200:
        raise FetchError(f"the sidecar answered {status}: {_error(body)}")
    try:
        data = json.loads(body)
        receipt = base64.b64decode(data["receipt"], validate=True)
        proof = base64.b64decode(data["tlog_proof"], validate=True)
        SignedReceipt.parse(receipt)  # nothing malformed reaches the files
        TlogProof.parse(proof)
    except (ValueError, KeyError, TypeError, binascii.Error, FormatError):
        raise FetchError("the sidecar's answer is not a receipt fetch answer") from None
    return FetchedReceipt(request_id, receipt, proof)


def _read_bounded(response: httpx.Response) -> bytes:
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > MAX_ANSWER_BYTES:
            raise FetchError(f"the sidecar's answer is larger than {MAX_ANSWER_BYTES} bytes")
    return bytes(body)


def fetch_receipt(
    request_id: str,
    salt: bytes,
    *,
    base_url: str = DEFAULT_SIDECAR,
    wait: float = 0.0,
    authorization: str | None = None,
    transport: httpx.BaseTransport | None = None,
) -> FetchedReceipt:
    """Ask a sidecar for the receipt that `salt` opens (the `receipts fetch` command)."""
    import httpx

    try:
        request = fetch_request(base_url, request_id, salt, wait, authorization)
    except httpx.InvalidURL as exc:  # a malformed --from, or an ID too long for any URL
        raise FormatError(f"cannot make a fetch URL from {base_url!r} and the ID: {exc}") from None
    try:
        with httpx.Client(transport=transport) as client:
            response = client.send(request, stream=True)
            try:
                body = _read_bounded(response)
            finally:
                response.close()
    except httpx.HTTPError as exc:
        raise FetchError(f"cannot reach the sidecar at {base_url}: {exc}") from None
    return fetched(request_id, response.status_code, body)
