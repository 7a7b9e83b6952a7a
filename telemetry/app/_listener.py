"""The client-facing listeners' guards, shared by the proxy and the admin listener.

aiohttp's server has an idle keep-alive timeout and nothing else: a client that trickles its
request head, or opens thousands of silent connections, holds them for good. A `GuardedListener`
serves one application on aiohttp's public surface only: its own listening socket
(`loop.create_server`), each connection a `_Guarded` protocol wrapped around the runner's
protocol factory, which adds a connection cap (a `503` and an immediate close beyond it) and a
request-head timeout (from the head's first byte until the application sees the request, which
an outermost middleware reports). `host_guard` is Ollama's DNS-rebinding check for a loopback
listener. What the guards cut off is counted on `/metrics` per listener (`ListenerCounts`), and
`raise_file_limit` lifts the soft `RLIMIT_NOFILE` to the hard one so the cap, not the descriptor
table, is what refuses clients. See docs/decisions/0009-proxy-behaviour.md.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import cast

from aiohttp import web
from aiohttp.typedefs import Middleware

from telemetry.core._config import ProxyConfig
from telemetry.core._hosts import host_name, name_allowed
from telemetry.observe._metrics import ProxyMetrics

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


# Why a listener's guard refused a connection or cut it off (the proxy adds `body_timeout`).
MAX_CONNECTIONS = "max_connections"
HEADER_TIMEOUT = "header_timeout"
FOREIGN_HOST = "foreign_host"


class ListenerCounts:
    """What one listener's guards cut off, counted on `/metrics` and logged on the first and
    every `LOG_EVERY`th occurrence of each reason."""

    def __init__(self, listener: str, metrics: ProxyMetrics) -> None:
        self._listener = listener
        refused = metrics.connections_refused
        self._counters = {
            MAX_CONNECTIONS: refused.labels(listener, MAX_CONNECTIONS),
            HEADER_TIMEOUT: refused.labels(listener, HEADER_TIMEOUT),
            FOREIGN_HOST: metrics.foreign_host_refusals.labels(listener),
        }
        self._seen = dict.fromkeys(self._counters, 0)

    def note(self, reason: str) -> None:
        self._counters[reason].inc()
        count = self._seen[reason] = self._seen[reason] + 1
        if count == 1 or count % LOG_EVERY == 0:
            fields = {"listener": self._listener, "reason": reason, "count": count}
            log.warning("client refused by a listener guard", extra={"fields": fields})


class _Guarded(asyncio.Protocol):
    """One client connection: aiohttp's protocol inside, the cap and the head timer around it."""

    def __init__(self, listener: GuardedListener, protocol: Callable[[], asyncio.Protocol]) -> None:
        self._listener = listener
        self._protocol = protocol  # aiohttp's protocol factory: the runner's `web.Server`
        self._inner: asyncio.Protocol | None = None  # stays None for a refused connection
        self._transport: asyncio.Transport | None = None
        self._head_timer: asyncio.TimerHandle | None = None
        self._in_request = False

    def connection_made(self, base_transport: asyncio.BaseTransport) -> None:
        # A stream transport, though uvloop's is no subclass of asyncio's class.
        transport = cast(asyncio.Transport, base_transport)
        if not self._listener.admit(transport, self):
            transport.write(REFUSAL)
            transport.close()
            return
        self._transport = transport
        self._inner = self._protocol()
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._inner is None:
            return
        if self._head_timer is None and not self._in_request:
            # These bytes start the next request head: the application must see it in time.
            timeout = self._listener.limits.header_timeout
            self._head_timer = asyncio.get_running_loop().call_later(timeout, self._head_expired)
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        if self._inner is not None and self._transport is not None:
            self._listener.release(self._transport)
            self._inner.connection_lost(exc)

    def request_started(self) -> None:
        self._in_request = True
        self._stop_head_timer()

    def request_finished(self) -> None:
        self._in_request = False

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_expired(self) -> None:
        self._head_timer = None
        if not self._in_request and self._transport is not None:
            self._listener.counts.note(HEADER_TIMEOUT)
            self._transport.close()


class GuardedListener:
    """One application served on one socket behind the guards, on aiohttp's public API: the
    runner's protocol factory, wrapped per connection, behind a socket this object opens."""

    def __init__(
        self,
        app: web.Application,
        limits: ListenerLimits,
        counts: ListenerCounts,
        *,
        handler_cancellation: bool = False,
        shutdown_timeout: float = 60.0,
    ) -> None:
        self.limits = limits
        self.counts = counts
        self._open: dict[asyncio.BaseTransport, _Guarded] = {}
        self._server: asyncio.Server | None = None
        self._set_up = False
        # Outermost, so it sees every request the application handles, 404s included.
        app.middlewares.insert(0, self._track_requests())
        self._runner = web.AppRunner(
            app,
            handler_cancellation=handler_cancellation,
            shutdown_timeout=shutdown_timeout,
            keepalive_timeout=limits.keepalive_timeout,
            access_log=None,
        )

    async def start(
        self, host: str, port: int, *, ssl_context: ssl.SSLContext | None = None
    ) -> int:
        """Start the application and listen; the port bound (the real one for port 0)."""
        await self._runner.setup()
        self._set_up = True
        protocol = self._runner.server
        assert protocol is not None
        self._server = await asyncio.get_running_loop().create_server(
            lambda: _Guarded(self, protocol),
            host,
            port,
            ssl=ssl_context,
            backlog=1024,
            reuse_address=True,
        )
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening, then let the runner close idle connections, finish the requests in
        flight (up to its shutdown timeout) and run the application's cleanup."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        if self._set_up:
            self._set_up = False
            await self._runner.cleanup()

    def admit(self, transport: asyncio.BaseTransport, guarded: _Guarded) -> bool:
        """Count a new connection in, or refuse it when the cap is reached."""
        if len(self._open) >= self.limits.max_connections:
            self.counts.note(MAX_CONNECTIONS)
            return False
        self._open[transport] = guarded
        return True

    def release(self, transport: asyncio.BaseTransport) -> None:
        self._open.pop(transport, None)

    def _track_requests(self) -> Middleware:
        @web.middleware
        async def track(request: web.Request, handler: _Handler) -> web.StreamResponse:
            transport = request.transport
            guarded = self._open.get(transport) if transport is not None else None
            if guarded is None:  # the connection is already gone
                return await handler(request)
            guarded.request_started()
            try:
                return await handler(request)
            finally:
                guarded.request_finished()

        return track


def host_guard(listen_host: str, counts: ListenerCounts) -> Middleware:
    """Ollama's answer to a foreign `Host` on a loopback listener: 403 with an empty body."""
    own = host_name(listen_host)

    @web.middleware
    async def guard(request: web.Request, handler: _Handler) -> web.StreamResponse:
        name = host_name(request.headers.get("Host", ""))
        if name != own and not name_allowed(name):
            counts.note(FOREIGN_HOST)
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
