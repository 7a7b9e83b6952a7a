"""The admin listener (default 127.0.0.1:11436): /metrics, /healthz, /readyz, the log's tiles under
/log/, plus extra routes (the receipts API) that other components mount.

`LogFiles` is what the tiles routes need from the receipt log (the wiring injects it): the body
of a path below `/log/` and whether it is immutable. The same routes make the optional public
listener (`proxy.log_listen`), which serves nothing else.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

ReadinessCheck = Callable[[], Awaitable[tuple[bool, str]]]


Exposition = Callable[[], bytes]

LOG_PREFIX = "/log/"
_IMMUTABLE = "public, max-age=31536000, immutable"
_SHORT_LIVED = "public, max-age=2"


class LogFiles(Protocol):
    async def read(self, path: str) -> tuple[bytes, bool] | None:
        """(body, immutable) of `path` below the log prefix, None when there is no such file."""
        ...


def log_routes(files: LogFiles) -> list[web.RouteDef]:
    """GET /log/checkpoint (text, short-lived) and /log/tile/... (octet-stream, immutable)."""

    async def serve(request: web.Request) -> web.Response:
        path = request.match_info["path"]
        found = await files.read(path)
        if found is None:
            raise web.HTTPNotFound(text="not found\n")
        body, immutable = found
        content_type = "application/octet-stream" if immutable else "text/plain; charset=utf-8"
        return web.Response(
            body=body,
            headers={
                "Content-Type": content_type,
                "Cache-Control": _IMMUTABLE if immutable else _SHORT_LIVED,
            },
        )

    return [web.get(LOG_PREFIX + "{path:.+}", serve)]


def build_log_app(files: LogFiles) -> web.Application:
    """The public read-only listener: the log's paths and nothing else (no secrets, no token)."""
    app = web.Application()
    app.router.add_routes(log_routes(files))
    return app


def build_admin_app(
    registry: CollectorRegistry,
    checks: dict[str, ReadinessCheck],
    extra_routes: Sequence[web.RouteDef] = (),
    expositions: Sequence[Exposition] = (),
    log_files: LogFiles | None = None,
) -> web.Application:
    """`expositions` return pre-rendered text-format metrics (rendered when their data changes,
    not per scrape) that are appended to the registry's."""

    def render() -> bytes:
        return b"".join([generate_latest(registry), *(part() for part in expositions)])

    async def metrics(_: web.Request) -> web.Response:
        payload = await asyncio.to_thread(render)
        return web.Response(body=payload, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        results = await asyncio.gather(*(check() for check in checks.values()))
        report = {
            name: {"ok": ok, "detail": detail}
            for name, (ok, detail) in zip(checks, results, strict=True)
        }
        ready = all(ok for ok, _ in results)
        return web.Response(
            status=200 if ready else 503,
            text=json.dumps({"ready": ready, "checks": report}),
            content_type="application/json",
        )

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_routes(list(extra_routes))
    if log_files is not None:
        app.router.add_routes(log_routes(log_files))
    return app
