"""Minimal streaming reverse proxy: a raw ASGI app on uvicorn (httptools, uvloop).

    python benchmarks/_stacks/asgi_proxy.py --listen H:P --upstream URL [--variant httpx|aiohttp]

One long-lived client per process, `httpx.AsyncClient` or (to tell the server's share from the
client's) `aiohttp.ClientSession`; the response is relayed chunk by chunk as it arrives.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import httpx
import uvicorn
from _common import HOP_BY_HOP, REQUEST_DROP, Options, end_to_end, parse
from multidict import CIMultiDict
from yarl import URL

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


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


def encoded(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]


def target(options: Options, scope: Scope) -> tuple[str, list[tuple[str, str]]]:
    incoming = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
    url = options.upstream + scope["raw_path"].decode("latin-1")
    if scope["query_string"]:
        url += "?" + scope["query_string"].decode("latin-1")
    return url, [*end_to_end(incoming, REQUEST_DROP), ("host", options.upstream_host)]


def with_httpx(options: Options) -> App:
    client = httpx.AsyncClient(timeout=None, limits=limits(), follow_redirects=False)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        url, headers = target(options, scope)
        request = client.build_request(scope["method"], url, headers=headers, content=body)
        response = await client.send(request, stream=True)
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": encoded(end_to_end(response.headers.multi_items(), HOP_BY_HOP)),
                }
            )
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.aclose()

    return app


def with_aiohttp(options: Options) -> App:
    sessions: list[aiohttp.ClientSession] = []  # made on first use, inside the server's loop

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if not sessions:
            sessions.append(
                aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=256, keepalive_timeout=30),
                    auto_decompress=False,
                    cookie_jar=aiohttp.DummyCookieJar(),
                    timeout=aiohttp.ClientTimeout(total=None),
                )
            )
        body = await read_body(receive)
        url, headers = target(options, scope)
        async with sessions[0].request(
            scope["method"],
            URL(url, encoded=True),
            headers=CIMultiDict(headers),
            data=body,
            skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent", "Content-Type"),
            allow_redirects=False,
        ) as response:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status,
                    "headers": encoded(end_to_end(response.headers.items(), HOP_BY_HOP)),
                }
            )
            async for chunk in response.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    return app


def main(argv: list[str] | None = None) -> int:
    options = parse(argv, ("httpx", "aiohttp"))
    app = with_httpx(options) if options.variant == "httpx" else with_aiohttp(options)
    uvicorn.run(
        app,
        host=options.host,
        port=options.port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        backlog=1024,
        server_header=False,
        date_header=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
