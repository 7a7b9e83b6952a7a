"""The client-facing listeners' guards, shared by the proxy and the admin listener.

aiohttp's server has an idle keep-alive timeout and nothing else: a client that trickles its
request head, or opens thousands of silent connections, holds them for good. `GuardedSite` serves
an application with `GuardedRequestHandler`, which adds a request-head timeout (from the head's
first byte) and a connection cap (a `503` and an immediate close beyond it). `host_guard` is
Ollama's DNS-rebinding check for a loopback listener, and `raise_file_limit` lifts the soft
`RLIMIT_NOFILE` to the hard one so the cap, not the descriptor table, is what refuses clients.
See docs/decisions/0009-proxy-behaviour.md.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware
from aiohttp.web_protocol import RequestHandler

from telemetry.core._config import ProxyConfig
from telemetry.core._hosts import host_allowed, host_name

log = logging.getLogger("ollama_sidecar.listener")

# Sent before any request was read, so it cannot be a HEAD answer with a body.
REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json; charset=utf-8\r\n"
    b'Connection: close\r\nContent-Length: 37\r\n\r\n{"error":"too many open connections"}'
)
LOG_EVERY = 1000

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class ListenerLimits:
    header_timeout: float
    keepalive_timeout: float
    max_connections: int

    @classmethod
    def of(cls, config: ProxyConfig) -> ListenerLimits:
        return cls(
            header_timeout=config.header_timeout_seconds,
            keepalive_timeout=config.keepalive_timeout_seconds,
            max_connections=config.max_client_connections,
        )


@dataclass
class ListenerCounts:
    """What the guards cut off; logged on the first and every `LOG_EVERY`th occurrence."""

    refused: int = 0
    head_timeouts: int = 0

    def note(self, what: str) -> None:
        count = getattr(self, what) + 1
        setattr(self, what, count)
        if count == 1 or count % LOG_EVERY == 0:
            log.warning("client connection cut off", extra={"fields": {what: count}})


class GuardedRequestHandler(RequestHandler):
    """aiohttp's protocol, plus the connection cap and the request-head timeout."""

    def __init__(
        self,
        manager: web.Server,
        limits: ListenerLimits,
        counts: ListenerCounts,
        **kwargs: Any,
    ) -> None:
        super().__init__(manager, keepalive_timeout=limits.keepalive_timeout, **kwargs)
        self._guard_server = manager
        self._limits = limits
        self._counts = counts
        self._head_timer: asyncio.TimerHandle | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if len(self._guard_server.connections) >= self._limits.max_connections:
            self._refused = True
            self._counts.note("refused")
            assert isinstance(transport, asyncio.Transport)
            transport.write(REFUSAL)
            transport.close()
            return
        super().connection_made(transport)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        if not self._refused:
            super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._head_timer is None and self._awaiting_head():
            self._head_timer = self._loop.call_later(
                self._limits.header_timeout, self._head_expired
            )
        super().data_received(data)
        if self._head_timer is not None and not self._awaiting_head():
            self._head_timer.cancel()
            self._head_timer = None

    def _awaiting_head(self) -> bool:
        # No request queued and none being handled: these bytes belong to the next head.
        return not self._messages and self._current_request is None

    def _head_expired(self) -> None:
        self._head_timer = None
        if self._awaiting_head():
            self._counts.note("head_timeouts")
            self.force_close()


class GuardedSite(web.TCPSite):
    """A TCP site whose connections are `GuardedRequestHandler`s."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        limits: ListenerLimits,
        counts: ListenerCounts,
        *,
        backlog: int = 1024,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(
            runner, host, port, backlog=backlog, reuse_address=True, ssl_context=ssl_context
        )
        self._limits = limits
        self._counts = counts

    async def start(self) -> None:
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        limits, counts = self._limits, self._counts

        def protocol() -> GuardedRequestHandler:
            return GuardedRequestHandler(server, limits, counts, loop=loop, access_log=None)

        self._server = await loop.create_server(
            protocol,
            self._host,
            self._port,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            ssl=self._ssl_context,
        )

    @property
    def port(self) -> int:
        sockets = getattr(self._server, "sockets", None) or []
        return int(sockets[0].getsockname()[1]) if sockets else int(self._port or 0)


def host_guard(listen_host: str) -> Middleware:
    """Ollama's answer to a foreign `Host` on a loopback listener: 403 with an empty body."""
    own = host_name(listen_host)

    @web.middleware
    async def guard(request: web.Request, handler: _Handler) -> web.StreamResponse:
        host = request.headers.get("Host", "")
        if not host_allowed(host) and host_name(host) != own:
            return web.Response(status=403)
        return await handler(request)

    return guard


def raise_file_limit() -> tuple[int, int]:
    """Raise the soft `RLIMIT_NOFILE` to the hard limit; returns the (soft, hard) now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as exc:
            log.warning(
                "cannot raise the open-file limit",
                extra={"fields": {"soft": soft, "hard": hard, "error": type(exc).__name__}},
            )
    return soft, hard
