"""The receipts API on the admin listener, so the CLI works while the sidecar holds the database.

    GET /receipts/pubkey                      {"origin", "verifier_key", "size", "watermark"}
    GET /receipts/checkpoint[?fresh=1]        the latest signed checkpoint (text/plain), with
                                              the witness cosignatures it has; fresh=1 first
                                              stores, checkpoints and submits to witnesses (503
                                              when storing does not finish in 5 s)
    GET /receipts/checkpoints                 every stored checkpoint (JSON)
    GET /receipts/entries?start=N&limit=M     receipts in log order (JSON, raw bytes in base64)
    GET /receipts/list?since_ns=&until_ns=&model=&outcome=&limit=
    GET /receipts/receipt/{request_id}[?index=N]        one receipt and its spans, and every
                                                        receipt with this request ID (JSON)
    GET /receipts/receipt/{request_id}/proof[?index=N]  its C2SP tlog-proof, against the
                                                        published (cosigned) checkpoint when it
                                                        covers the receipt

Request IDs are not unique (a client may send one `X-Request-ID` twice): without `index` these
answer for the latest receipt with the ID; `index=N` picks the one at log index N. A receipt's
spans are its request's own (`request_spans`), not every span of its client-chosen trace.
Query parameters are checked: a malformed or out-of-range one is a 400 naming it (`limit` above
`MAX_PAGE` is cut to it).

Store reads run in worker threads; nothing here blocks the event loop or takes the writer's time.
"""

from __future__ import annotations

import asyncio
import json
from typing import Protocol

from aiohttp import web

from receipts._proof import TlogProof
from receipts._store import CheckpointRow, ReceiptQuery, ReceiptRow, ReceiptStore, request_spans
from receipts._watermark import Watermark
from receipts._wire import checkpoint_to_json, row_to_json, span_to_json

MAX_PAGE = 10_000
MAX_FILTER_CHARS = 1024
_SYNC_TIMEOUT_SECONDS = 5.0
_INT64 = 1 << 63


class LiveLog(Protocol):
    """What the API needs from the running service."""

    @property
    def verifier_key(self) -> str: ...

    @property
    def store(self) -> ReceiptStore: ...

    @property
    def watermark(self) -> Watermark: ...

    def flush(self, timeout: float = 5.0, *, checkpoint: bool = False) -> bool: ...

    def latest_checkpoint(self) -> CheckpointRow | None: ...

    def inclusion_proof(self, seq: int, size: int) -> list[bytes]: ...

    def published_checkpoint(self) -> tuple[CheckpointRow, bytes] | None: ...

    def wait_published(self, size: int, timeout: float) -> bool: ...


def _best_note(live: LiveLog, size: int) -> tuple[int, bytes] | None:
    """The published (cosigned) checkpoint when it covers `size` receipts, else the latest."""
    published = live.published_checkpoint()
    if published is not None and published[0].size >= size:
        return published[0].size, published[1]
    latest = live.latest_checkpoint()
    if latest is None or latest.size < size:
        return None
    return latest.size, latest.note


async def _fresh(live: LiveLog, size: int) -> bool:
    """Store and checkpoint everything, then let the witnesses cosign (within the timeout);
    False when storing did not finish in time."""
    if not await asyncio.to_thread(live.flush, _SYNC_TIMEOUT_SECONDS, checkpoint=True):
        return False
    latest = live.latest_checkpoint()
    if latest is not None and latest.size >= size:
        await asyncio.to_thread(live.wait_published, latest.size, _SYNC_TIMEOUT_SECONDS)
    return True


def _bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


def _int_param(
    request: web.Request, name: str, default: int | None, minimum: int = -_INT64
) -> int | None:
    value = request.query.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise _bad_request(f"{name}: expected an integer") from None
    if not minimum <= number < _INT64:
        raise _bad_request(f"{name}: expected an integer from {minimum} to {_INT64 - 1}")
    return number


def _text_param(request: web.Request, name: str) -> str | None:
    value = request.query.get(name) or None
    if value is not None and len(value) > MAX_FILTER_CHARS:
        raise _bad_request(f"{name}: longer than {MAX_FILTER_CHARS} characters")
    return value


def _timed_out() -> web.HTTPServiceUnavailable:
    return web.HTTPServiceUnavailable(
        text=json.dumps(
            {"error": "timed out storing the pending receipts: the receipt store is not writing"}
        ),
        content_type="application/json",
    )


def _not_found(request_id: str) -> web.HTTPNotFound:
    return web.HTTPNotFound(
        text=json.dumps({"error": f"unknown request ID {request_id}"}),
        content_type="application/json",
    )


def routes(live: LiveLog) -> list[web.RouteDef]:
    """The receipts routes, for `app.add_routes()` on the admin listener."""

    async def pubkey(request: web.Request) -> web.Response:
        size = await asyncio.to_thread(live.store.size)
        key = live.verifier_key
        return web.json_response(
            {
                "origin": key.split("+", 1)[0],
                "verifier_key": key,
                "size": size,
                "watermark": live.watermark.to_json(),
            }
        )

    async def checkpoint(request: web.Request) -> web.Response:
        fresh = request.query.get("fresh", "")
        if fresh not in ("", "0", "1"):
            raise _bad_request("fresh: expected 0 or 1")
        if fresh == "1" and not await _fresh(live, 1):
            raise _timed_out()
        latest = live.latest_checkpoint()
        best = _best_note(live, latest.size) if latest is not None else None
        if best is None:
            raise web.HTTPNotFound(
                text=json.dumps({"error": "no checkpoint yet"}), content_type="application/json"
            )
        return web.Response(body=best[1], content_type="text/plain", charset="utf-8")

    async def checkpoints(request: web.Request) -> web.Response:
        rows = await asyncio.to_thread(live.store.checkpoints)
        return web.json_response({"checkpoints": [checkpoint_to_json(cp) for cp in rows]})

    async def entries(request: web.Request) -> web.Response:
        start = _int_param(request, "start", 0, minimum=0) or 0
        limit = min(_int_param(request, "limit", 1000, minimum=0) or 0, MAX_PAGE)
        rows = await asyncio.to_thread(live.store.entries, start, limit)
        return web.json_response({"entries": [row_to_json(r) for r in rows]})

    async def listing(request: web.Request) -> web.Response:
        query = ReceiptQuery(
            since_ns=_int_param(request, "since_ns", None),
            until_ns=_int_param(request, "until_ns", None),
            model=_text_param(request, "model"),
            outcome=_text_param(request, "outcome"),
            limit=min(_int_param(request, "limit", 100, minimum=0) or 0, MAX_PAGE),
        )
        rows = await asyncio.to_thread(live.store.receipts, query)
        return web.json_response({"receipts": [row_to_json(r) for r in rows]})

    async def chosen(request: web.Request) -> tuple[ReceiptRow, list[ReceiptRow]]:
        """The receipt asked for (the latest, or the one at `index`) and all with its ID."""
        request_id = request.match_info["request_id"]
        index = _int_param(request, "index", None, minimum=0)
        rows = await asyncio.to_thread(live.store.receipts_for, request_id)
        picked = rows if index is None else [r for r in rows if r.seq == index]
        if not picked:
            raise _not_found(request_id if index is None else f"{request_id} at index {index}")
        return picked[-1], rows

    async def receipt(request: web.Request) -> web.Response:
        row, rows = await chosen(request)
        spans = request_spans(row, await asyncio.to_thread(live.store.spans, row.trace_id))
        return web.json_response(
            {
                "receipt": row_to_json(row),
                "spans": [span_to_json(s) for s in spans],
                "receipts": [row_to_json(r) for r in rows],
            }
        )

    async def proof(request: web.Request) -> web.Response:
        row, _ = await chosen(request)
        published = live.published_checkpoint()
        if published is None or published[0].size <= row.seq:
            if not await _fresh(live, row.seq + 1):
                raise _timed_out()
        best = _best_note(live, row.seq + 1)
        if best is None:
            raise web.HTTPServiceUnavailable(
                text=json.dumps({"error": "no checkpoint covers this receipt yet"}),
                content_type="application/json",
            )
        size, note = best
        path = live.inclusion_proof(row.seq, size)
        body = TlogProof(index=row.seq, path=tuple(path), checkpoint=note).to_bytes()
        return web.Response(body=body, content_type="text/plain", charset="utf-8")

    return [
        web.get("/receipts/pubkey", pubkey),
        web.get("/receipts/checkpoint", checkpoint),
        web.get("/receipts/checkpoints", checkpoints),
        web.get("/receipts/entries", entries),
        web.get("/receipts/list", listing),
        web.get("/receipts/receipt/{request_id}", receipt),
        web.get("/receipts/receipt/{request_id}/proof", proof),
    ]
