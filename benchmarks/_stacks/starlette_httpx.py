"""Minimal streaming reverse proxy: starlette on uvicorn (httptools, uvloop) + httpx.

    python benchmarks/_stacks/starlette_httpx.py --listen H:P --upstream URL [--variant V]

`shared` keeps one `httpx.AsyncClient` for the process (the common FastAPI/starlette Ollama
proxy); `per-request` builds a new client for every request and closes it when the stream ends,
which is what most published Python Ollama proxies do.
"""

from __future__ import annotations

import sys

import httpx
import uvicorn
from _common import HOP_BY_HOP, REQUEST_DROP, Options, end_to_end, parse
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]


def build(options: Options) -> Starlette:
    shared = httpx.AsyncClient(
        timeout=None,
        follow_redirects=False,
        limits=httpx.Limits(max_connections=256, max_keepalive_connections=256),
    )
    per_request = options.variant == "per-request"

    async def proxy(request: Request) -> Response:
        body = await request.body()
        headers = [
            *end_to_end(request.headers.items(), REQUEST_DROP),
            ("host", options.upstream_host),
        ]
        url = options.upstream + request.url.path
        if request.url.query:
            url += "?" + request.url.query
        client = httpx.AsyncClient(timeout=None) if per_request else shared
        upstream = await client.send(
            client.build_request(request.method, url, headers=headers, content=body),
            stream=True,
        )

        async def close() -> None:
            await upstream.aclose()
            if per_request:
                await client.aclose()

        response = StreamingResponse(
            upstream.aiter_raw(), status_code=upstream.status_code, background=BackgroundTask(close)
        )
        # Replace starlette's defaults with the upstream's headers, repeated ones kept.
        response.raw_headers = [
            (k.encode("latin-1"), v.encode("latin-1"))
            for k, v in end_to_end(upstream.headers.multi_items(), HOP_BY_HOP)
        ]
        return response

    return Starlette(routes=[Route("/{path:path}", proxy, methods=METHODS)])


def main(argv: list[str] | None = None) -> int:
    options = parse(argv, ("shared", "per-request"))
    uvicorn.run(
        build(options),
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
