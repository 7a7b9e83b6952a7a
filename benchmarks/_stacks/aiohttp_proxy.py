"""Minimal streaming reverse proxy: aiohttp server + one long-lived aiohttp ClientSession.

    python benchmarks/_stacks/aiohttp_proxy.py --listen H:P --upstream URL [--variant V]

V is `uvloop` (the default) or `asyncio` (the standard library's event loop).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

import aiohttp
from _common import HOP_BY_HOP, REQUEST_DROP, Options, end_to_end, parse
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

SESSION = web.AppKey("session", aiohttp.ClientSession)
# Headers aiohttp's client would add on its own; skipped unless the client sent them.
AUTO_HEADERS = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")


def build(options: Options) -> web.Application:
    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read() if request.body_exists else None
        headers = CIMultiDict(end_to_end(request.headers.items(), REQUEST_DROP))
        headers["Host"] = options.upstream_host
        skip = tuple(h for h in AUTO_HEADERS if h not in request.headers)
        async with request.app[SESSION].request(
            request.method,
            URL(options.upstream + request.raw_path, encoded=True),
            headers=headers,
            data=body,
            skip_auto_headers=skip,
            allow_redirects=False,
        ) as upstream:
            response = web.StreamResponse(
                status=upstream.status,
                reason=upstream.reason,
                headers=CIMultiDict(end_to_end(upstream.headers.items(), HOP_BY_HOP)),
            )
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response

    async def session_context(app: web.Application) -> AsyncIterator[None]:
        app[SESSION] = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=256, keepalive_timeout=30),
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=None),
        )
        yield
        await app[SESSION].close()

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.cleanup_ctx.append(session_context)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


async def serve(options: Options) -> None:
    runner = web.AppRunner(build(options), access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, options.host, options.port, backlog=1024).start()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    options = parse(argv, ("uvloop", "asyncio"))
    if options.variant == "uvloop":
        import uvloop

        uvloop.run(serve(options))
    else:
        asyncio.run(serve(options))
    return 0


if __name__ == "__main__":
    sys.exit(main())
