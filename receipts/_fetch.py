"""The receipt lookup behind the proxy's fetch route: by request ID and salt, off the event loop.

The proxy room defines what it needs (`ReceiptLookup`: request ID + salt + bounded wait); the
application hands it a `ReceiptFetcher` built on the running log. Store reads run in a small
pool of their own, so a store that hangs takes only these threads, never the proxy's.

A receipt opens only to the salt it commits to: its body holds `salt_sha256`, and every receipt
with the request ID is compared (in constant time, all of them, no early exit) with SHA-256 of
the salt presented. A request ID the store does not know yet may still be in the writer's
queue: the fetcher waits (briefly) for everything submitted so far to be stored, then looks
again, whatever the ID and the salt, so an unknown ID and a wrong salt take the same path.
A found receipt waits, up to the caller's bound, for the log's own next checkpoint, preferring
the published one that carries the witnesses' cosignatures: a fetch never forces a checkpoint,
so requestors cannot make the log sign (or witnesses cosign) one per request.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from receipts._api import LiveLog
from receipts._proof import TlogProof
from receipts._store import ReceiptRow

T = TypeVar("T")

QUEUED_GRACE_SECONDS = 1.0
POLL_SECONDS = 0.05


def salt_digest(raw: bytes) -> str:
    """The `salt_sha256` a signed receipt's body carries ("" when it has none)."""
    try:
        value = json.loads(raw)["receipt"].get("salt_sha256", "")
    except (ValueError, KeyError, TypeError, AttributeError):
        return ""
    return value if isinstance(value, str) else ""


def opened_by(rows: list[ReceiptRow], salt: bytes) -> ReceiptRow | None:
    """The receipt among `rows` whose salt commitment is SHA-256(`salt`); None if none is."""
    given = hashlib.sha256(salt).hexdigest().encode()
    found = None
    for row in rows:
        if hmac.compare_digest(salt_digest(row.raw).encode(), given):
            found = row
    return found


class ReceiptFetcher:
    """`ReceiptLookup` over a running log (the proxy's fetch route calls `lookup`)."""

    def __init__(self, live: LiveLog, *, witnessed: bool = False, workers: int = 2) -> None:
        self._live = live
        self._witnessed = witnessed
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="receipt-fetch")

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def _find(self, request_id: str, salt: bytes) -> ReceiptRow | None:
        rows = await self._run(self._live.store.receipts_for, request_id)
        return opened_by(rows, salt)

    async def lookup(
        self, request_id: str, salt: bytes, wait: float
    ) -> tuple[bytes, bytes | None] | None:
        row = await self._find(request_id, salt)
        if row is None:
            await self._run(self._live.flush, QUEUED_GRACE_SECONDS)
            row = await self._find(request_id, salt)
        if row is None:
            return None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            note = self._covering(row.seq, final=loop.time() >= deadline)
            if note is not None:
                size, checkpoint = note
                path = await self._run(self._live.inclusion_proof, row.seq, size)
                proof = TlogProof(index=row.seq, path=tuple(path), checkpoint=checkpoint)
                return row.raw, proof.to_bytes()
            remaining = deadline - loop.time()
            if remaining <= 0:
                return row.raw, None
            await asyncio.sleep(min(POLL_SECONDS, remaining))

    def _covering(self, seq: int, *, final: bool) -> tuple[int, bytes] | None:
        """(size, note) of a checkpoint covering leaf `seq`: the published one, with the
        witnesses' cosignatures, when it does; the log's latest when the log has no witnesses
        or the wait is over (the requestor's witness policy then decides)."""
        published = self._live.published_checkpoint()
        if published is not None and published[0].size > seq:
            return published[0].size, published[1]
        latest = self._live.latest_checkpoint()
        if latest is not None and latest.size > seq and (not self._witnessed or final):
            return latest.size, latest.note
        return None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
