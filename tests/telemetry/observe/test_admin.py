import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter

from telemetry.observe._admin import build_admin_app


async def test_metrics_health_readiness_and_extra_routes() -> None:
    registry = CollectorRegistry()
    Counter("demo_events", "Demo.", registry=registry).inc(3)

    async def ready() -> tuple[bool, str]:
        return True, "fine"

    async def not_ready() -> tuple[bool, str]:
        return False, "no GPU"

    async def extra(_: web.Request) -> web.Response:
        return web.Response(text="extra")

    app = build_admin_app(registry, {"a": ready, "b": not_ready}, [web.get("/x", extra)])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(base + "/metrics") as response:
                assert "demo_events_total 3.0" in await response.text()
                assert response.headers["Content-Type"].startswith("text/plain")
            async with session.get(base + "/healthz") as response:
                assert response.status == 200
            async with session.get(base + "/readyz") as response:
                assert response.status == 503
                body = await response.json()
                assert body == {
                    "ready": False,
                    "checks": {
                        "a": {"ok": True, "detail": "fine"},
                        "b": {"ok": False, "detail": "no GPU"},
                    },
                }
            async with session.get(base + "/x") as response:
                assert await response.text() == "extra"
    finally:
        await runner.cleanup()
