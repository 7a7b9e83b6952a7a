"""Minimal streaming reverse proxy: a raw ASGI app on uvicorn (httptools, uvloop) + httpx.

    python benchmarks/_stacks/asgi_httpx.py --listen H:P --upstream URL

One long-lived `httpx.AsyncClient`; the response is relayed with `aiter_raw()` as it arrives.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import uvicorn
from _common import HOP_BY_HOP, REQUEST_DROP, end_to_end, parse

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def limits() -> httpx.Limits:
    return httpx.Limits(max_connections=256, max_keepalive_connections=256, keepalive_expiry=30)


async def read_body(receive: Receive) -> bytes:
    parts: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(parts)


def build(upstream: str, upstream_host: str) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    client = httpx.AsyncClient(timeout=None, limits=limits(), follow_redirects=False)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        incoming = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        headers = [*end_to_end(incoming, REQUEST_DROP), ("host", upstream_host)]
        url = upstream + scope["raw_path"].decode("latin-1")
        if scope["query_string"]:
            url += "?" + scope["query_string"].decode("latin-1")
        request = client.build_request(scope["method"], url, headers=headers, content=body)
        response = await client.send(request, stream=True)
        try:
            await send({
                "type": "http.response.start", "status": response.status_code,
                "headers": [
                    (k.encode("latin-1"), v.encode("latin-1"))
                    for k, v in end_to_end(response.headers.multi_items(), HOP_BY_HOP)
                ],
            })
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.aclose()

    return app


def main(argv: list[str] | None = None) -> int:
    options = parse(argv, ("shared",))
    uvicorn.run(
        build(options.upstream, options.upstream_host), host=options.host, port=options.port,
        loop="uvloop", http="httptools", lifespan="off", access_log=False, log_level="warning",
        backlog=1024, server_header=False, date_header=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
