import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter

from telemetry.observe._admin import build_admin_app, build_log_app


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


FILES = {"checkpoint": (b"origin\n1\nroot\n", False), "tile/0/000.p/1": (b"h" * 32, True)}


class _Files:
    """A fake log: the checkpoint and one tile."""

    async def read(self, path: str) -> tuple[bytes, bool] | None:
        return FILES.get(path)


async def test_log_routes_on_the_admin_and_the_public_listener() -> None:
    admin = build_admin_app(CollectorRegistry(), {}, log_files=_Files())
    public = build_log_app(_Files())
    for app, private in ((admin, True), (public, False)):
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        try:
            async with aiohttp.ClientSession() as session:
                async with session.get(base + "/log/checkpoint") as response:
                    assert response.status == 200
                    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
                    assert response.headers["Cache-Control"] == "public, max-age=2"
                async with session.get(base + "/log/tile/0/000.p/1") as response:
                    assert await response.read() == b"h" * 32
                    assert response.headers["Content-Type"] == "application/octet-stream"
                    assert "immutable" in response.headers["Cache-Control"]
                async with session.get(base + "/log/tile/0/001") as response:
                    assert response.status == 404
                async with session.get(base + "/metrics") as response:
                    assert (response.status == 200) is private  # public: the log only
        finally:
            await runner.cleanup()
