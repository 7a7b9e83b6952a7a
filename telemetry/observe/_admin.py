"""The admin listener (default 127.0.0.1:11436): /metrics, /healthz, /readyz, plus extra routes
(the receipts API) that other components mount."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

ReadinessCheck = Callable[[], Awaitable[tuple[bool, str]]]


Exposition = Callable[[], bytes]


def build_admin_app(
    registry: CollectorRegistry,
    checks: dict[str, ReadinessCheck],
    extra_routes: Sequence[web.RouteDef] = (),
    expositions: Sequence[Exposition] = (),
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
    return app
