"""The receipts API on the admin listener, so the CLI works while the sidecar holds the database.

    GET /receipts/pubkey                      {"origin", "verifier_key", "size"}
    GET /receipts/checkpoint[?fresh=1]        the latest signed checkpoint (text/plain);
                                              fresh=1 first stores and checkpoints all
    GET /receipts/checkpoints                 every stored checkpoint (JSON)
    GET /receipts/entries?start=N&limit=M     receipts in log order (JSON, raw bytes in base64)
    GET /receipts/list?since_ns=&until_ns=&model=&outcome=&limit=
    GET /receipts/receipt/{request_id}[?index=N]        one receipt and its spans, and every
                                                        receipt with this request ID (JSON)
    GET /receipts/receipt/{request_id}/proof[?index=N]  its C2SP tlog-proof, against a covering
                                                        checkpoint

Request IDs are not unique (a client may send one `X-Request-ID` twice): without `index` these
answer for the latest receipt with the ID; `index=N` picks the one at log index N.

Store reads run in worker threads; nothing here blocks the event loop or takes the writer's time.
"""

from __future__ import annotations

import asyncio
import json
from typing import Protocol

from aiohttp import web

from receipts._proof import TlogProof
from receipts._store import CheckpointRow, ReceiptQuery, ReceiptRow, ReceiptStore
from receipts._wire import checkpoint_to_json, row_to_json, span_to_json

MAX_PAGE = 10_000
_SYNC_TIMEOUT_SECONDS = 5.0


class LiveLog(Protocol):
    """What the API needs from the running service."""

    @property
    def verifier_key(self) -> str: ...

    @property
    def store(self) -> ReceiptStore: ...

    def flush(self, timeout: float = 5.0, *, checkpoint: bool = False) -> bool: ...

    def latest_checkpoint(self) -> CheckpointRow | None: ...

    def inclusion_proof(self, seq: int, size: int) -> list[bytes]: ...


def _int_param(request: web.Request, name: str, default: int | None) -> int | None:
    value = request.query.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"{name}: expected an integer"}),
            content_type="application/json",
        ) from None


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
            {"origin": key.split("+", 1)[0], "verifier_key": key, "size": size}
        )

    async def checkpoint(request: web.Request) -> web.Response:
        if request.query.get("fresh") == "1":
            await asyncio.to_thread(live.flush, _SYNC_TIMEOUT_SECONDS, checkpoint=True)
        latest = live.latest_checkpoint()
        if latest is None:
            raise web.HTTPNotFound(
                text=json.dumps({"error": "no checkpoint yet"}), content_type="application/json"
            )
        return web.Response(body=latest.note, content_type="text/plain", charset="utf-8")

    async def checkpoints(request: web.Request) -> web.Response:
        rows = await asyncio.to_thread(live.store.checkpoints)
        return web.json_response({"checkpoints": [checkpoint_to_json(cp) for cp in rows]})

    async def entries(request: web.Request) -> web.Response:
        start = _int_param(request, "start", 0) or 0
        limit = min(_int_param(request, "limit", 1000) or 0, MAX_PAGE)
        rows = await asyncio.to_thread(live.store.entries, max(start, 0), max(limit, 0))
        return web.json_response({"entries": [row_to_json(r) for r in rows]})

    async def listing(request: web.Request) -> web.Response:
        query = ReceiptQuery(
            since_ns=_int_param(request, "since_ns", None),
            until_ns=_int_param(request, "until_ns", None),
            model=request.query.get("model") or None,
            outcome=request.query.get("outcome") or None,
            limit=min(_int_param(request, "limit", 100) or 0, MAX_PAGE),
        )
        rows = await asyncio.to_thread(live.store.receipts, query)
        return web.json_response({"receipts": [row_to_json(r) for r in rows]})

    async def chosen(request: web.Request) -> tuple[ReceiptRow, list[ReceiptRow]]:
        """The receipt asked for (the latest, or the one at `index`) and all with its ID."""
        request_id = request.match_info["request_id"]
        index = _int_param(request, "index", None)
        rows = await asyncio.to_thread(live.store.receipts_for, request_id)
        picked = rows if index is None else [r for r in rows if r.seq == index]
        if not picked:
            raise _not_found(request_id if index is None else f"{request_id} at index {index}")
        return picked[-1], rows

    async def receipt(request: web.Request) -> web.Response:
        row, rows = await chosen(request)
        spans = await asyncio.to_thread(live.store.spans, row.trace_id)
        return web.json_response(
            {
                "receipt": row_to_json(row),
                "spans": [span_to_json(s) for s in spans],
                "receipts": [row_to_json(r) for r in rows],
            }
        )

    async def proof(request: web.Request) -> web.Response:
        row, _ = await chosen(request)
        latest = live.latest_checkpoint()
        if latest is None or latest.size <= row.seq:
            await asyncio.to_thread(live.flush, _SYNC_TIMEOUT_SECONDS, checkpoint=True)
            latest = live.latest_checkpoint()
        if latest is None or latest.size <= row.seq:
            raise web.HTTPServiceUnavailable(
                text=json.dumps({"error": "no checkpoint covers this receipt yet"}),
                content_type="application/json",
            )
        path = live.inclusion_proof(row.seq, latest.size)
        body = TlogProof(index=row.seq, path=tuple(path), checkpoint=latest.note).to_bytes()
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
