"""The requestor's receipt fetch on the proxy port, under a prefix Ollama never uses.

    GET /.well-known/ollama-sidecar/receipts/{request_id}[?wait=SECONDS]
        X-Receipt-Salt: <the salt the proxy sent with the response, hex>
        Authorization: Bearer <token>         (only when the proxy requires one)

    200  {"request_id", "receipt": base64(signed receipt bytes), "tlog_proof": base64(proof)}
    202  the receipt exists, no signed checkpoint covers it yet (ask again or pass ?wait=)
    400  `wait` is not a number of seconds within [0, 10]
    401  the proxy's bearer token is missing or wrong
    404  no receipt with this ID and this salt: an unknown ID, a wrong or a missing salt all
         get this same answer, so the endpoint tells nobody which request IDs exist
    503  the receipt store did not answer in time, or too many fetches are waiting

RFC 8615 reserves `/.well-known/` for site-wide metadata; Ollama serves only `/`, `/api/*` and
`/v1/*`, so every other path, including `/api/receipts/...`, still goes to Ollama unchanged.
The proxy room does not know how receipts are stored: the application injects a
`ReceiptLookup`. A lookup runs off the event loop and under a deadline, and at most
`MAX_CONCURRENT_FETCHES` run at once, so a slow or failing store delays only fetches.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import logging
import math
from collections.abc import Mapping
from typing import Protocol

from aiohttp import web

from telemetry.proxy._wire import JSON_CONTENT_TYPE, RECEIPT_SALT

log = logging.getLogger("ollama_sidecar.receipt_fetch")

RECEIPTS_PREFIX = "/.well-known/ollama-sidecar"
MAX_WAIT_SECONDS = 10.0
MAX_CONCURRENT_FETCHES = 64
STORE_GRACE_SECONDS = 2.0
SALT_BYTES = 16


class ReceiptLookup(Protocol):
    """Finds the receipt a requestor's salt opens."""

    async def lookup(
        self, request_id: str, salt: bytes, wait: float
    ) -> tuple[bytes, bytes | None] | None:
        """(signed receipt bytes, tlog-proof) of the receipt with `request_id` whose salt is
        `salt` (compared in constant time); the proof is None while no checkpoint covers it,
        after waiting up to `wait` seconds for one. None when there is no such receipt. Never
        blocks the event loop; store failures raise."""
        ...


def _json(
    status: int, payload: Mapping[str, object], headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(payload).encode(),
        headers={"Content-Type": JSON_CONTENT_TYPE, "Cache-Control": "no-store", **(headers or {})},
    )


UNKNOWN = {"error": "no receipt with this request ID and salt"}
RETRY = {"Retry-After": "1"}


def _salt(header: str | None) -> bytes | None:
    if header is None or len(header) != 2 * SALT_BYTES:
        return None
    try:
        return bytes.fromhex(header)
    except ValueError:
        return None


def _wait(text: str | None) -> float | None:
    if text is None or text == "":
        return 0.0
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and 0 <= value <= MAX_WAIT_SECONDS else None


def fetch_routes(lookup: ReceiptLookup, auth_token: bytes | None) -> list[web.RouteDef]:
    """The routes under `RECEIPTS_PREFIX`, added to the proxy app before its catch-all."""
    expected_auth = b"Bearer " + auth_token if auth_token else None
    slots = asyncio.Semaphore(MAX_CONCURRENT_FETCHES)

    async def fetch(request: web.Request) -> web.Response:
        if expected_auth is not None:
            given = request.headers.get("Authorization", "").encode("latin-1", "replace")
            if not hmac.compare_digest(given, expected_auth):
                return _json(401, {"error": "unauthorized"}, {"WWW-Authenticate": "Bearer"})
        wait = _wait(request.query.get("wait"))
        if wait is None:
            return _json(400, {"error": f"wait: expected seconds in [0, {MAX_WAIT_SECONDS:g}]"})
        salt = _salt(request.headers.get(RECEIPT_SALT))
        if salt is None:
            return _json(404, UNKNOWN)
        if slots.locked():
            return _json(503, {"error": "too many receipt fetches, try again"}, RETRY)
        request_id = request.match_info["request_id"]
        async with slots:
            try:
                async with asyncio.timeout(wait + STORE_GRACE_SECONDS):
                    found = await lookup.lookup(request_id, salt, wait)
            except Exception as exc:  # the store's trouble: an answer, never a failed proxy
                log.warning("receipt fetch failed", extra={"fields": {"error": type(exc).__name__}})
                return _json(503, {"error": "the receipt store is not answering"})
        if found is None:
            return _json(404, UNKNOWN)
        raw, proof = found
        if proof is None:
            return _json(
                202,
                {"error": "no signed checkpoint covers this receipt yet"},
                RETRY,
            )
        return _json(
            200,
            {
                "request_id": request_id,
                "receipt": base64.b64encode(raw).decode(),
                "tlog_proof": base64.b64encode(proof).decode(),
            },
        )

    async def reserved(request: web.Request) -> web.Response:
        return _json(404, {"error": f"not a receipts API path: {request.path}"})

    return [
        web.get(RECEIPTS_PREFIX + "/receipts/{request_id:(?s:.+)}", fetch, allow_head=False),
        web.route("*", RECEIPTS_PREFIX + "/{tail:(?s:.*)}", reserved),
    ]
