"""The emulator's aiohttp application, its middleware and `EmulatorServer`.

The middleware does what gin and Ollama's own middleware do before a handler runs: the Host
check (403, empty body, when bound to loopback), gin's 404 for unknown paths and methods, and the
rendering of `ApiError`s. It also keeps the request counters behind `/_emulator/stats`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import TracebackType

from aiohttp import web

from telemetry.core._errors import ConfigError
from telemetry.core._hosts import host_allowed, loopback_socket
from telemetry.emulator import _models as models
from telemetry.emulator import _native as native
from telemetry.emulator import _openai as openai
from telemetry.emulator._config import EmulatorConfig, apply_update
from telemetry.emulator._native import STATE_KEY
from telemetry.emulator._state import EmulatorState, EmulatorStats
from telemetry.emulator._stream import EmulatedDisconnect
from telemetry.emulator._wire import (
    ApiError,
    BadRequest,
    drop_server_header,
    error_response,
    gin_not_found,
    json_response,
    openai_error,
    read_json,
)

CONTROL_PREFIX = "/_emulator/"
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _bound_to_loopback(request: web.Request) -> bool:
    transport = request.transport
    return transport is not None and loopback_socket(transport.get_extra_info("sockname"))


@web.middleware
async def _middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
    if request.path.startswith(CONTROL_PREFIX):
        return await handler(request)
    stats = request.app[STATE_KEY].stats
    stats.requests += 1
    stats.active += 1
    try:
        response = await _answer(request, handler)
    except EmulatedDisconnect:
        stats.completed += 1
        raise
    except (asyncio.CancelledError, ConnectionError):
        stats.cancelled += 1
        raise
    finally:
        stats.active -= 1
    stats.completed += 1
    return response


async def _answer(request: web.Request, handler: _Handler) -> web.StreamResponse:
    if _bound_to_loopback(request) and not host_allowed(request.headers.get("Host", "")):
        return web.Response(status=403)
    try:
        return await handler(request)
    except ApiError as exc:
        if request.path.startswith("/v1/"):
            return openai_error(exc.status, exc.message)
        return error_response(exc.status, exc.message)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
        return gin_not_found()


async def _get_config(request: web.Request) -> web.Response:
    return json_response(request.app[STATE_KEY].config.to_json())


async def _put_config(request: web.Request) -> web.Response:
    config = request.app[STATE_KEY].config
    try:
        update = await read_json(request, "emulator.Config")
        apply_update(config, update)
    except (BadRequest, ConfigError) as exc:
        return error_response(400, str(exc))
    return json_response(config.to_json())


async def _get_stats(request: web.Request) -> web.Response:
    return json_response(request.app[STATE_KEY].stats.to_json())


def build_emulator_app(config: EmulatorConfig) -> web.Application:
    """An aiohttp app that answers like Ollama; `config` is read live on every request."""
    app = web.Application(middlewares=[_middleware], client_max_size=64 * 1024 * 1024)
    app[STATE_KEY] = EmulatorState(config)
    app.on_response_prepare.append(drop_server_header)
    r = app.router
    r.add_get("/", models.root)
    r.add_get("/api/version", models.version)
    r.add_get("/api/tags", models.tags)
    r.add_post("/api/show", models.show)
    r.add_get("/api/ps", models.ps, allow_head=False)
    r.add_post("/api/generate", native.generate)
    r.add_post("/api/chat", native.chat)
    r.add_post("/api/embed", native.embed)
    r.add_post("/api/embeddings", native.embeddings)
    r.add_post("/api/pull", models.pull)
    r.add_post("/api/push", models.push)
    r.add_post("/api/create", models.create)
    r.add_post("/api/copy", models.copy)
    r.add_delete("/api/delete", models.delete)
    r.add_head("/api/blobs/{digest}", models.head_blob)
    r.add_post("/api/blobs/{digest}", models.post_blob)
    r.add_post("/v1/chat/completions", openai.chat_completions)
    r.add_post("/v1/completions", openai.completions)
    r.add_post("/v1/embeddings", openai.embeddings)
    r.add_get("/v1/models", openai.models, allow_head=False)
    r.add_get("/v1/models/{model:.+}", openai.model, allow_head=False)
    r.add_get(CONTROL_PREFIX + "config", _get_config, allow_head=False)
    r.add_put(CONTROL_PREFIX + "config", _put_config)
    r.add_get(CONTROL_PREFIX + "stats", _get_stats, allow_head=False)
    return app


class EmulatorServer:
    """`async with EmulatorServer(config) as emu:` serves the emulator on `emu.url`."""

    def __init__(
        self, config: EmulatorConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.config = config if config is not None else EmulatorConfig()
        self.host = host
        self.port = port
        self._app = build_emulator_app(self.config)
        self._runner: web.AppRunner | None = None

    @property
    def state(self) -> EmulatorState:
        """Counters, loaded models and the fault draw (`state.rng.seed(n)` for a fixed draw)."""
        return self._app[STATE_KEY]

    @property
    def stats(self) -> EmulatorStats:
        return self.state.stats

    def evict(self, model: str) -> None:
        """Drop `model` before its keep-alive ends, as Ollama's scheduler does to make room."""
        self._app[STATE_KEY].unload(model)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        # handler_cancellation: a client that leaves cancels its handler at once, as in Go.
        runner = web.AppRunner(
            self._app, handler_cancellation=True, access_log=None, shutdown_timeout=0.5
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        for address in runner.addresses:
            if isinstance(address, tuple):
                self.port = int(address[1])
                break

    async def close(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> EmulatorServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
