"""The witness over HTTP (aiohttp): `add-checkpoint` and the monitoring `checkpoint` endpoint.

The checks, the signing and the fsync of the state run in a worker thread; the witness's own
lock makes check-and-persist atomic across concurrent requests.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

from aiohttp import web

from receipts._witness import Witness

MAX_BODY_BYTES = 64 * 1024


def witness_app(witness: Witness) -> web.Application:
    async def add_checkpoint(request: web.Request) -> web.Response:
        try:
            body = await request.read()
        except ConnectionResetError:  # the submitter hung up mid-body: nothing to check
            raise web.HTTPBadRequest(text="incomplete request body\n") from None
        answer = await asyncio.to_thread(witness.add_checkpoint, body)
        return web.Response(
            status=answer.status, body=answer.body, headers={"Content-Type": answer.content_type}
        )

    async def checkpoint(request: web.Request) -> web.Response:
        note = await asyncio.to_thread(witness.latest, request.match_info["origin_hash"])
        if note is None:
            raise web.HTTPNotFound(text="never cosigned a checkpoint of this log\n")
        return web.Response(body=note, headers={"Content-Type": "text/plain; charset=utf-8"})

    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_post("/add-checkpoint", add_checkpoint)
    app.router.add_get("/{origin_hash:[0-9a-f]{64}}/checkpoint", checkpoint)
    return app


async def serve(witness: Witness, host: str, port: int, ready: Callable[[int], None]) -> None:
    """Serve until SIGINT or SIGTERM; `ready` gets the bound port."""
    runner = web.AppRunner(witness_app(witness), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    ready(int(runner.addresses[0][1]))  # the real port when `port` is 0
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
