"""The log's side of tlog-witness: submit a checkpoint to one witness and keep its cosignature.

`WitnessClient.submit` posts `add-checkpoint` with `old <size it last cosigned>` and the
consistency proof from there. On 409 (`text/x.tlog.size`) it resubmits once from the size the
witness names, when that size is not beyond the checkpoint. The returned lines count only when a
cosignature by the configured key verifies on the submitted checkpoint. Every outcome is a
`Submission` with a `result` label (ok, conflict, forbidden, not_found, bad_request,
unprocessable, bad_cosignature, unreachable, error); nothing raises.

The HTTP goes through `WitnessTransport` (urllib in production, `receipts.testing` has an
in-memory one around a `Witness`).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from receipts._cosign import add_signatures, parse_signature_lines, verify_cosignatures
from receipts._errors import ReceiptsError
from receipts._keys import VerifierKey
from receipts._note import NoteSignature
from receipts._witness import SIZE_CONTENT_TYPE, AddCheckpoint

_RESULTS = {403: "forbidden", 404: "not_found", 400: "bad_request", 422: "unprocessable"}
_MAX_ANSWER_BYTES = 64 * 1024

Prove = Callable[[int, int], list[bytes]]
"""The consistency proof from size m to size n of the log."""


class WitnessTransport(Protocol):
    def post(self, url: str, body: bytes, timeout: float) -> tuple[int, str, bytes]:
        """(status, content type, body); OSError when the witness cannot be reached."""
        ...


class HttpTransport:
    def post(self, url: str, body: bytes, timeout: float) -> tuple[int, str, bytes]:
        request = urllib.request.Request(url, data=body, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return (
                    response.status,
                    response.headers.get_content_type(),
                    response.read(_MAX_ANSWER_BYTES),
                )
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers.get_content_type(), exc.read(_MAX_ANSWER_BYTES)


@dataclass(frozen=True)
class Submission:
    result: str
    cosigned_size: int | None
    """The size the witness has cosigned after this submission, when it said."""
    signature: NoteSignature | None = None
    detail: str = ""


def submission_url(prefix: str) -> str:
    """`<prefix>add-checkpoint` with exactly one slash between."""
    return prefix.rstrip("/") + "/add-checkpoint"


class WitnessClient:
    def __init__(
        self, url: str, key: VerifierKey, transport: WitnessTransport, timeout: float = 10.0
    ) -> None:
        self.url = submission_url(url)
        self.key = key
        self.name = key.name
        self._transport = transport
        self._timeout = timeout

    def submit(self, note: bytes, size: int, old_size: int, prove: Prove) -> list[Submission]:
        """Submit the checkpoint `note` of `size`; the outcome of each request made (one, or
        two after a 409 that named a size to resubmit from)."""
        first = self._post(note, size, old_size, prove)
        if first.result != "conflict" or first.cosigned_size is None:
            return [first]
        if first.cosigned_size > size:
            return [
                Submission(
                    "conflict",
                    first.cosigned_size,
                    detail=f"witness has cosigned size {first.cosigned_size}, beyond {size}",
                )
            ]
        return [first, self._post(note, size, first.cosigned_size, prove)]

    def _post(self, note: bytes, size: int, old_size: int, prove: Prove) -> Submission:
        old_size = old_size if old_size <= size else 0
        body = AddCheckpoint(old_size, tuple(prove(old_size, size)), note).to_bytes()
        try:
            status, content_type, answer = self._transport.post(self.url, body, self._timeout)
        except (OSError, ValueError) as exc:
            return Submission("unreachable", None, detail=str(exc))
        text = answer.decode("utf-8", "replace").strip()
        if status == 200:
            return self._cosigned(note, size, answer)
        if status == 409:
            if content_type == SIZE_CONTENT_TYPE and text.isdigit():
                return Submission("conflict", int(text), detail=f"witness is at size {text}")
            return Submission("error", None, detail="409 without a text/x.tlog.size body")
        return Submission(_RESULTS.get(status, "error"), None, detail=f"{status}: {text[:200]}")

    def _cosigned(self, note: bytes, size: int, answer: bytes) -> Submission:
        try:
            mine = [
                s
                for s in parse_signature_lines(answer)
                if (s.name, s.key_id) == (self.key.name, self.key.key_id)
            ]
            verify_cosignatures(add_signatures(note, mine), [self.key], 1)
        except ReceiptsError as exc:
            return Submission("bad_cosignature", None, detail=str(exc))
        return Submission("ok", size, mine[0])
