"""The receipts API on the admin listener, so the CLI works while the sidecar holds the database.

    GET /receipts/pubkey                      {"origin", "verifier_key", "size"}
    GET /receipts/checkpoint[?fresh=1]        the latest signed checkpoint (text/plain);
                                              fresh=1 first stores and checkpoints all
    GET /receipts/checkpoints                 every stored checkpoint (JSON)
    GET /receipts/entries?start=N&limit=M     receipts in log order (JSON, raw bytes in base64)
    GET /receipts/list?since_ns=&until_ns=&model=&outcome=&limit=
    GET /receipts/receipt/{request_id}        one receipt and its spans (JSON)
    GET /receipts/receipt/{request_id}/proof  its C2SP tlog-proof, against a covering checkpoint

Store reads run in worker threads; nothing here blocks the event loop or takes the writer's time.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any, Protocol

from aiohttp import web

from receipts._proof import TlogProof
from receipts._store import CheckpointRow, ReceiptQuery, ReceiptRow, ReceiptStore, SpanRow

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


def row_to_json(row: ReceiptRow) -> dict[str, Any]:
    return {
        "seq": row.seq,
        "request_id": row.request_id,
        "leaf_hash": row.leaf_hash.hex(),
        "raw": base64.b64encode(row.raw).decode(),
        "trace_id": row.trace_id,
        "start_unix_ns": str(row.start_unix_ns),
        "end_unix_ns": str(row.end_unix_ns),
        "model": row.model,
        "outcome": row.outcome,
        "status": row.status,
        "processor": row.processor,
        "input_tokens": row.input_tokens,
        "output_tokens": row.output_tokens,
        "duration_ns": str(row.duration_ns),
    }


def row_from_json(data: dict[str, Any]) -> ReceiptRow:
    return ReceiptRow(
        seq=int(data["seq"]),
        request_id=str(data["request_id"]),
        leaf_hash=bytes.fromhex(data["leaf_hash"]),
        raw=base64.b64decode(data["raw"]),
        trace_id=str(data["trace_id"]),
        start_unix_ns=int(data["start_unix_ns"]),
        end_unix_ns=int(data["end_unix_ns"]),
        model=data["model"],
        outcome=str(data["outcome"]),
        status=int(data["status"]),
        processor=str(data["processor"]),
        input_tokens=data["input_tokens"],
        output_tokens=data["output_tokens"],
        duration_ns=int(data["duration_ns"]),
    )


def checkpoint_to_json(cp: CheckpointRow) -> dict[str, Any]:
    return {
        "size": cp.size,
        "root": base64.b64encode(cp.root).decode(),
        "note": cp.note.decode(),
        "created_unix_ns": str(cp.created_unix_ns),
    }


def checkpoint_from_json(data: dict[str, Any]) -> CheckpointRow:
    return CheckpointRow(
        int(data["size"]),
        base64.b64decode(data["root"]),
        str(data["note"]).encode(),
        int(data["created_unix_ns"]),
    )


def span_to_json(span: SpanRow) -> dict[str, Any]:
    return {
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id,
        "name": span.name,
        "kind": span.kind,
        "start_unix_ns": str(span.start_unix_ns),
        "end_unix_ns": str(span.end_unix_ns),
        "attributes": json.loads(span.attributes),
        "status": span.status,
    }


def span_from_json(data: dict[str, Any]) -> SpanRow:
    return SpanRow(
        str(data["trace_id"]),
        str(data["span_id"]),
        data["parent_span_id"],
        str(data["name"]),
        str(data["kind"]),
        int(data["start_unix_ns"]),
        int(data["end_unix_ns"]),
        json.dumps(data["attributes"], sort_keys=True),
        str(data["status"]),
    )


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

    async def receipt(request: web.Request) -> web.Response:
        request_id = request.match_info["request_id"]
        row = await asyncio.to_thread(live.store.receipt, request_id)
        if row is None:
            raise _not_found(request_id)
        spans = await asyncio.to_thread(live.store.spans, row.trace_id)
        return web.json_response(
            {"receipt": row_to_json(row), "spans": [span_to_json(s) for s in spans]}
        )

    async def proof(request: web.Request) -> web.Response:
        request_id = request.match_info["request_id"]
        row = await asyncio.to_thread(live.store.receipt, request_id)
        if row is None:
            raise _not_found(request_id)
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
