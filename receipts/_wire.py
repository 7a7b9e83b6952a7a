"""JSON forms of stored rows, shared by the admin API (server) and the CLI (client).

Kept apart from `_api` so that the CLI can read the API without importing aiohttp. Nanosecond
values travel as decimal strings, bytes as base64 (receipt bytes) or hex (leaf hashes).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from receipts._store import CheckpointRow, ReceiptRow, SpanRow


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
