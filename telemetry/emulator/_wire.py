"""Bytes on the wire the way Ollama (Go, gin) writes them: JSON, timestamps, errors, text.

Exceptions raised inside the emulator (all under the package root):

    SidecarError
    ├── ApiError           an error reply with a status; the app middleware renders it
    │   └── BadRequest     400: missing or invalid body, bad field, unknown fault name
    └── StreamStopped      a mid-stream fault ended the stream (`_stream`)

Go details imitated here: compact JSON with raw UTF-8, `created_at` in RFC 3339 with
nanoseconds and trailing zeros trimmed, gin's `404 page not found`, and no `Server` header.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import struct
import time
from typing import Any

from aiohttp import web

from telemetry.core._errors import SidecarError
from telemetry.core._gojson import go_loads, go_map, go_string, go_struct

JSON_TYPE = "application/json; charset=utf-8"
NDJSON_TYPE = "application/x-ndjson"
SSE_TYPE = "text/event-stream"

_base_cache: tuple[int, str] = (-1, "")


def go_time(ns: int | None = None) -> str:
    """A UTC instant as Go's `time.Time` marshals it, e.g. `2026-08-21T10:00:00.12345Z`."""
    global _base_cache
    if ns is None:
        ns = time.time_ns()
    secs, frac = divmod(ns, 1_000_000_000)
    cached_secs, base = _base_cache
    if cached_secs != secs:
        base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
        _base_cache = (secs, base)
    if frac:
        return f"{base}.{frac:09d}".rstrip("0") + "Z"
    return base + "Z"


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def json_response(obj: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=dumps(obj), headers={"Content-Type": JSON_TYPE})


def error_response(status: int, message: str) -> web.Response:
    return json_response({"error": message}, status)


def openai_error(status: int, message: str) -> web.Response:
    kind = {400: "invalid_request_error", 404: "not_found_error"}.get(status, "api_error")
    error = {"message": message, "type": kind, "param": None, "code": None}
    return json_response({"error": error}, status)


def empty_response(status: int = 200) -> web.Response:
    return web.Response(status=status)


def gin_not_found() -> web.Response:
    return web.Response(
        status=404, body=b"404 page not found", headers={"Content-Type": "text/plain"}
    )


async def drop_server_header(request: web.Request, response: web.StreamResponse) -> None:
    """`on_response_prepare` hook: Go's net/http sends no `Server` header, so neither do we."""
    response.headers.popall("Server", None)


class ApiError(SidecarError):
    """An error reply: `/api` routes send `{"error": message}`, `/v1` routes the OpenAI shape."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class BadRequest(ApiError):
    """A request Ollama would answer with 400; the message is the `error` text."""

    def __init__(self, message: str) -> None:
        super().__init__(400, message)


async def read_json(request: web.Request, type_name: str) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        raise BadRequest("missing request body")
    try:
        value = go_loads(raw)
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"invalid character in JSON body: {exc}") from None
    fields = go_struct(value)
    if fields is None:
        kind = type(value).__name__.replace("list", "array").replace("str", "string")
        raise BadRequest(f"json: cannot unmarshal {kind} into Go value of type {type_name}")
    try:
        return {name: go_map(item) for name, item in fields.items()}
    except RecursionError:
        raise BadRequest("exceeded max depth") from None


def field_of(body: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any) -> Any:
    value = body.get(key, default)
    if value is None:
        return default
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise BadRequest(f"json: cannot unmarshal {key} of unexpected type")
    return go_string(value) if isinstance(value, str) else value


async def pause(request: web.Request, seconds: float) -> None:
    """Sleep, but notice a client that left even when handler cancellation is off."""
    if seconds <= 0:
        return
    deadline = time.monotonic() + seconds
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        await asyncio.sleep(min(remaining, 0.1))
        transport = request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("client disconnected")


# Generated text: a fixed vocabulary, offset by a hash of the prompt, so output is stable.
VOCABULARY: tuple[str, ...] = tuple(
    "The sidecar measures every token that the model writes while the GPU stays busy and "
    "the receipts record what was served to whom at which moment so providers can prove "
    "honest work".split()
)
VOCAB_JSON: tuple[bytes, ...] = tuple(dumps(" " + w) for w in VOCABULARY)
FIRST_JSON: tuple[bytes, ...] = tuple(dumps(w) for w in VOCABULARY)


def token_seed(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), "big")


def token_json(seed: int, index: int, *, first: bool) -> bytes:
    """The JSON string literal of output token `index` (no leading space when `first`)."""
    table = FIRST_JSON if first else VOCAB_JSON
    return table[(seed + index) % len(VOCABULARY)]


def token_text(seed: int, index: int, *, first: bool) -> str:
    word = VOCABULARY[(seed + index) % len(VOCABULARY)]
    return word if first else " " + word


def count_tokens(text: str) -> int:
    return len(text.split())


def embedding(model: str, text: str, dim: int) -> list[float]:
    """A deterministic unit vector derived from the model name and the input."""
    raw = b""
    counter = 0
    while len(raw) < 2 * dim:
        h = hashlib.blake2b(f"{model}\0{counter}\0{text}".encode(), digest_size=64)
        raw += h.digest()
        counter += 1
    values = [(v / 32767.5) - 1.0 for v in struct.unpack(f"<{dim}H", raw[: 2 * dim])]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [round(v / norm, 6) for v in values]
