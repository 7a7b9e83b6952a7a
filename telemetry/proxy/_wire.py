"""Header rewriting and error bodies in Ollama's shapes (native and OpenAI-compatible)."""

from __future__ import annotations

import json
from typing import Final

from multidict import CIMultiDict, CIMultiDictProxy

HOP_BY_HOP: Final = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
# Headers aiohttp's client would add on its own; skipped unless the client sent them.
CLIENT_AUTO_HEADERS: Final = frozenset({"Accept", "Accept-Encoding", "User-Agent", "Content-Type"})

REQUEST_ID: Final = "X-Request-ID"
RECEIPT_SALT: Final = "X-Receipt-Salt"
GOLEM_AGREEMENT: Final = "X-Golem-Agreement-Id"
GOLEM_ACTIVITY: Final = "X-Golem-Activity-Id"
JSON_CONTENT_TYPE: Final = "application/json; charset=utf-8"


def _connection_tokens(headers: CIMultiDictProxy[str]) -> frozenset[str]:
    values = headers.getall("Connection", ())
    if not values:
        return frozenset()
    return frozenset(t.strip().lower() for v in values for t in v.split(",") if t.strip())


def end_to_end(
    headers: CIMultiDictProxy[str], drop: frozenset[str] = frozenset()
) -> CIMultiDict[str]:
    """A copy without hop-by-hop headers (RFC 9110 §7.6.1), nor those `Connection` names."""
    extra = _connection_tokens(headers)
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        lower = name.lower()
        if lower in HOP_BY_HOP or lower in drop or lower in extra:
            continue
        out.add(name, value)
    return out


def skipped_auto_headers(headers: CIMultiDictProxy[str]) -> tuple[str, ...]:
    return tuple(h for h in CLIENT_AUTO_HEADERS if h not in headers)


def _openai_type(status: int) -> str:
    if status == 404:
        return "not_found_error"
    if 400 <= status < 500:
        return "invalid_request_error"
    return "api_error"


def error_body(path: str, status: int, message: str) -> bytes:
    """Ollama's `{"error": "..."}`, or OpenAI's error object on /v1 routes."""
    if path.startswith("/v1/"):
        payload: object = {
            "error": {"message": message, "type": _openai_type(status), "param": None, "code": None}
        }
    else:
        payload = {"error": message}
    return json.dumps(payload, separators=(",", ":")).encode()


def stream_error(sse: bool, message: str) -> bytes:
    """The error a stream ends with once its headers are gone: an NDJSON line or an SSE event."""
    if sse:
        event = {"error": {"message": message, "type": "api_error", "param": None, "code": None}}
        return b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n"
    return json.dumps({"error": message}, separators=(",", ":")).encode() + b"\n"
