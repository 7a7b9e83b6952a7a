"""Test doubles for users of the receipts package (not part of `receipts.__all__`).

`InMemoryWitnessTransport` answers `add-checkpoint` posts with `Witness` objects in this
process, one per submission prefix, for testing a log's witness submissions without HTTP; a
prefix in `down` fails like an unreachable witness.
"""

from __future__ import annotations

from collections.abc import Mapping

from receipts._witness import Witness
from receipts._witness_client import submission_url


class InMemoryWitnessTransport:
    def __init__(self, witnesses: Mapping[str, Witness]) -> None:
        self._by_url = {submission_url(prefix): w for prefix, w in witnesses.items()}
        self._prefix = {submission_url(prefix): prefix for prefix in witnesses}
        self.down: set[str] = set()
        self.bodies: list[bytes] = []

    def post(self, url: str, body: bytes, timeout: float) -> tuple[int, str, bytes]:
        witness = self._by_url.get(url)
        if witness is None or self._prefix[url] in self.down:
            raise ConnectionRefusedError(f"{url}: connection refused")
        self.bodies.append(body)
        answer = witness.add_checkpoint(body)
        return answer.status, answer.content_type.split(";")[0], answer.body
