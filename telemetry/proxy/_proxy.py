"""The transparent proxy: every method and path forwarded to Ollama, streamed chunk by chunk.

One long-lived aiohttp client (keep-alive pool) is built at start-up. Per request the proxy reads
the (bounded) body, classifies the route, forwards with the Host rewritten, streams the answer back
as it arrives while a sans-IO tap reads a copy, enforces the tier's timeouts with one rescheduled
deadline, and hands one finished `RequestRecord` to every sink. Sink failures are counted, never
turned into failed requests.
"""

from __future__ import annotations

import asyncio
import hmac
import io
import logging
import os
import time
from collections.abc import AsyncIterator, Sequence

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.typedefs import LooseHeaders
from multidict import CIMultiDict
from opentelemetry.trace import Span
from yarl import URL

from telemetry.core._config import Config, Tier
from telemetry.core._record import GpuMeter, ModelInfo, Placement, Processor, RecordSink
from telemetry.observe._metrics import ProxyMetrics
from telemetry.observe._tracing import Tracing, parent_context, traceparent_of
from telemetry.proxy._deadline import Deadline
from telemetry.proxy._exchange import Exchange, FailureKind
from telemetry.proxy._ids import request_id_from, valid_id
from telemetry.proxy._wire import (
    GOLEM_ACTIVITY,
    GOLEM_AGREEMENT,
    JSON_CONTENT_TYPE,
    RECEIPT_SALT,
    REQUEST_ID,
    end_to_end,
    error_body,
    skipped_auto_headers,
    stream_error,
)
from telemetry.tap._routes import classify
from telemetry.tap._stream import Framing, StreamTap, framing_for

log = logging.getLogger("ollama_sidecar.proxy")

BLOB_PREFIX = "/api/blobs/"
LARGE_BODY_BYTES = 1024 * 1024


class ProxyResponse(web.StreamResponse):
    """A response that adds no `Server` header of its own (Ollama sends none; `Proxy.mount`
    installs the hook that drops aiohttp's) and sends its headers together with the first body
    bytes, as Ollama does: one write instead of two."""

    # The one reach into aiohttp kept (docs/decisions/0009-proxy-behaviour.md): no public knob
    # holds a StreamResponse's head back for its first body bytes; `web.Response` sets it so too.
    _send_headers_immediately = False

    def __init__(
        self,
        *,
        status: int,
        reason: str | None = None,
        headers: LooseHeaders | None = None,
        upstream_server: bool = False,
    ) -> None:
        super().__init__(status=status, reason=reason, headers=headers)
        self.upstream_server = upstream_server
        self.has_body = True

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        # False for a HEAD answer (or a 204/304): whatever the proxy has to say, bytes after its
        # head would be read as the next response on a keep-alive connection.
        self.has_body = not _must_be_empty(request.method, self.status)
        return await super().prepare(request)

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.has_body:
            await super().write(data)


async def _drop_own_server_header(_: web.Request, response: web.StreamResponse) -> None:
    if isinstance(response, ProxyResponse) and not response.upstream_server:
        response.headers.popall("Server", None)


def _must_be_empty(method: str, status: int) -> bool:
    """RFC 9110 §6.4.1: no content in a HEAD answer, a 1xx, 204 or 304, or a 2xx to CONNECT."""
    return (
        method == "HEAD"
        or status in (204, 304)
        or 100 <= status < 200
        or (method == "CONNECT" and 200 <= status < 300)
    )


class Proxy:
    def __init__(
        self,
        config: Config,
        metrics: ProxyMetrics,
        tracing: Tracing,
        sinks: Sequence[tuple[str, RecordSink]] = (),
        model_info: ModelInfo | None = None,
        auth_token: bytes | None = None,
        hash_content: bool = False,
        meter: GpuMeter | None = None,
    ) -> None:
        self._config = config
        self._meter = meter
        self._metrics = metrics
        self._tracing = tracing
        self._sinks = tuple(sinks)
        self._model_info = model_info
        self._auth = b"Bearer " + auth_token if auth_token else None
        self._hash_content = hash_content
        # Request headers not forwarded as they are: Host is rewritten, aiohttp sets the length
        # of a body it sends whole, and the sidecar's own bearer token is not Ollama's business.
        # `Expect: 100-continue` was answered here already (aiohttp sends the 100 before the
        # handler reads the body); forwarded, it would make the client library wait for a 100
        # that an upstream need not send.
        own = {"authorization"} if auth_token else set()
        self._drop = frozenset({"host", "content-length", "expect", *own})
        self._drop_upload = frozenset({"host", "expect", *own})
        self._body_timeout = config.proxy.body_timeout_seconds
        upstream = URL(config.proxy.upstream)
        # Scheme, host, port and any path prefix (an Ollama behind another proxy's /ollama).
        self._base = str(upstream.with_query(None).with_fragment(None)).rstrip("/")
        self._upstream_host = upstream.host_port_subcomponent or ""
        self._session: aiohttp.ClientSession | None = None
        self._sink_failures: dict[str, int] = {}

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "Proxy.start() was not awaited"
        return self._session

    def mount(self, app: web.Application) -> None:
        """Serve every path of `app` through the proxy."""
        app.router.add_route("*", "/{tail:(?s:.*)}", self.handle)  # a decoded newline too
        app.on_response_prepare.append(_drop_own_server_header)

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=self._config.proxy.max_connections,
            keepalive_timeout=30,
            ttl_dns_cache=60,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=None),
            skip_auto_headers=(),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    # The request path -------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter_ns()
        start_unix_ns = time.time_ns()
        headers = request.headers
        request_id = request_id_from(headers.get(REQUEST_ID))
        path = request.path
        method = request.method
        ex = Exchange(request_id, method, path, started, start_unix_ns)
        ex.agreement_id = _optional_id(headers.get(GOLEM_AGREEMENT))
        ex.activity_id = _optional_id(headers.get(GOLEM_ACTIVITY))
        if not request.raw_path.startswith("/"):
            # An absolute-form target (`GET http://host/path`) is for forward proxies.
            return await self._refuse(request, ex, 400, "request target must be a path")
        if self._auth is not None and not _authorized(headers.get("Authorization"), self._auth):
            ex.authenticated = False
            return await self._refuse(request, ex, 401, "unauthorized")
        body: bytes | None = None
        streamed_upload = path.startswith(BLOB_PREFIX)
        if not streamed_upload and request.body_exists:
            try:
                async with asyncio.timeout(self._body_timeout):
                    body = await request.read()
            except web.HTTPRequestEntityTooLarge:
                return await self._refuse(request, ex, 413, "request body too large")
            except TimeoutError:
                self._metrics.body_timeouts.inc()
                return await self._refuse(request, ex, 408, "request body timeout", close=True)
        ex.route = route = classify(method, path, body)
        if route.model and route.is_inference and self._model_info is not None:
            try:
                self._model_info.note_request(route.model)
            except Exception:
                self._sink_failed("model_info")
        if route.model and route.is_inference and self._meter is not None:
            try:
                ex.meter_handle = self._meter.begin(route.model)
            except Exception:
                self._sink_failed("gpu_meter")
        tier = self._config.tier_for(route.model)
        ex.tier = tier.name
        if self._hash_content:
            ex.start_hashing(os.urandom(16), body)
        parent = parent_context(headers.get("traceparent"), headers.get("tracestate"))
        span = self._tracing.start(route, method, start_unix_ns, parent)
        ex.span = span
        in_flight = self._metrics.in_flight_by_tier[tier.name]
        in_flight.inc()
        try:
            return await self._forward(request, ex, tier, body, streamed_upload, span)
        finally:
            in_flight.dec()
            self._finish(ex)

    async def _forward(
        self,
        request: web.Request,
        ex: Exchange,
        tier: Tier,
        body: bytes | None,
        streamed_upload: bool,
        span: Span,
    ) -> web.StreamResponse:
        route = ex.route
        assert route is not None
        loop = asyncio.get_running_loop()
        deadline = Deadline(
            tier.timeouts,
            loop.time(),
            inference=route.is_inference,
            streaming=route.streaming,
            management_idle=self._config.proxy.management_idle_timeout,
        )
        response: ProxyResponse | None = None
        upstream: aiohttp.ClientResponse | None = None
        try:
            async with asyncio.timeout_at(deadline.at) as timer:
                upstream = await self._send(
                    request, ex, tier, body, streamed_upload, span, timer, deadline
                )
                ex.status = upstream.status
                response = self._response_for(upstream, ex)
                await response.prepare(request)
                await self._relay_body(upstream, response, ex, timer, deadline)
                await response.write_eof()
                return response
        except aiohttp.ConnectionTimeoutError:  # a TimeoutError too: must come first
            return await self._fail(request, ex, response, upstream, 504, FailureKind.CONNECT)
        except TimeoutError:
            return await self._fail(request, ex, response, upstream, 504, deadline.kind)
        except aiohttp.ClientConnectorError:
            return await self._fail(request, ex, response, upstream, 502, FailureKind.UNREACHABLE)
        except (ConnectionResetError, aiohttp.ClientConnectionResetError) as exc:
            if response is not None and response.prepared and _client_gone(request):
                ex.cancel()
                if upstream is not None:
                    upstream.close()
                raise asyncio.CancelledError from exc
            return await self._fail(request, ex, response, upstream, 502, FailureKind.DISCONNECTED)
        except (aiohttp.ClientError, ValueError) as exc:
            log.warning(
                "upstream failed",
                extra={"fields": {"request_id": ex.request_id, "error": type(exc).__name__}},
            )
            return await self._fail(request, ex, response, upstream, 502, FailureKind.DISCONNECTED)
        except asyncio.CancelledError:
            ex.cancel()
            if upstream is not None:
                upstream.close()
            raise
        finally:
            if upstream is not None:
                upstream.release()

    async def _send(
        self,
        request: web.Request,
        ex: Exchange,
        tier: Tier,
        body: bytes | None,
        streamed_upload: bool,
        span: Span,
        timer: asyncio.Timeout,
        deadline: Deadline,
    ) -> aiohttp.ClientResponse:
        """Send the request upstream; returns once Ollama's status line and headers are in."""
        up_headers = end_to_end(
            request.headers, self._drop_upload if streamed_upload else self._drop
        )
        up_headers["Host"] = self._upstream_host
        up_headers[REQUEST_ID] = ex.request_id
        up_headers["traceparent"] = traceparent_of(span)
        return await self.session.request(
            request.method,
            URL(self._base + request.raw_path, encoded=True),
            headers=up_headers,
            data=_relay_upload(request, timer, deadline) if streamed_upload else _payload(body),
            skip_auto_headers=skipped_auto_headers(request.headers),
            allow_redirects=False,
            compress=None,
            # sock_connect, not connect: waiting for a free pool slot is not a failure
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=tier.timeouts.connect),
        )

    async def _relay_body(
        self,
        upstream: aiohttp.ClientResponse,
        response: ProxyResponse,
        ex: Exchange,
        timer: asyncio.Timeout,
        deadline: Deadline,
    ) -> None:
        """Relay the response body chunk by chunk: tap, hash, count, write, move the deadline."""
        route = ex.route
        assert route is not None
        framing = framing_for(upstream.headers.get("Content-Type"))
        tap = StreamTap(framing) if route.is_inference else None
        ex.stream_tap = tap
        ex.sse = framing is Framing.SSE
        hasher = ex.response_hasher
        loop = asyncio.get_running_loop()
        async for chunk in upstream.content.iter_any():
            if tap is not None and tap.feed(chunk) and ex.first_token_ns is None:
                deadline.first_token()
                self._on_first_token(ex, tap.remote_host)
            if hasher is not None:
                hasher.update(chunk)
            ex.response_bytes += len(chunk)
            timer.reschedule(deadline.writing())
            await response.write(chunk)
            timer.reschedule(deadline.written(loop.time()))

    def _response_for(self, upstream: aiohttp.ClientResponse, ex: Exchange) -> ProxyResponse:
        headers = end_to_end(upstream.headers)
        headers[REQUEST_ID] = ex.request_id
        if ex.salt is not None:
            headers[RECEIPT_SALT] = ex.salt.hex()
        return ProxyResponse(
            status=upstream.status,
            reason=upstream.reason,
            headers=headers,
            upstream_server="Server" in upstream.headers,
        )

    def _on_first_token(self, ex: Exchange, remote_host: str | None) -> None:
        ex.first_token_ns = time.perf_counter_ns()
        if remote_host is not None:  # a cloud model, whatever the monitor knows of it yet
            ex.placement = Placement(Processor.REMOTE, remote_host=remote_host)
        elif self._model_info is not None and ex.route is not None and ex.route.model:
            try:
                ex.placement = self._model_info.placement(ex.route.model)
            except Exception:
                self._sink_failed("model_info")
        if self._meter is not None and ex.meter_handle is not None:
            try:  # from now on the request takes energy only from the GPUs serving it
                self._meter.place(ex.meter_handle, ex.placement)
            except Exception:
                self._sink_failed("gpu_meter")

    async def _fail(
        self,
        request: web.Request,
        ex: Exchange,
        response: ProxyResponse | None,
        upstream: aiohttp.ClientResponse | None,
        status: int,
        kind: FailureKind,
    ) -> web.StreamResponse:
        ex.fail(kind)
        if upstream is not None:
            upstream.close()
        message = kind.message(ex)
        if response is None or not response.prepared:
            return await self._refuse(request, ex, status, message, record_failure=False)
        if "Content-Length" not in response.headers:
            tail = stream_error(ex.sse, message) if response.has_body else b""
            ex.sent(tail)
            try:
                await response.write(tail)
                await response.write_eof()
            except (ConnectionError, aiohttp.ClientConnectionResetError):
                ex.cancel()
        else:
            response.force_close()
        return response

    async def _refuse(
        self,
        request: web.Request,
        ex: Exchange,
        status: int,
        message: str,
        *,
        record_failure: bool = True,
        close: bool = False,
    ) -> web.StreamResponse:
        if record_failure:
            ex.reject(status)
        ex.status = status
        headers = CIMultiDict({"Content-Type": JSON_CONTENT_TYPE, REQUEST_ID: ex.request_id})
        if status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        if ex.salt is not None:
            headers[RECEIPT_SALT] = ex.salt.hex()
        payload = error_body(ex.path, status, message)
        response = ProxyResponse(status=status, headers=headers)
        response.content_length = len(payload)
        if close:
            response.force_close()
        try:
            await response.prepare(request)
            if response.has_body:
                ex.sent(payload)
            await response.write(payload)
            await response.write_eof()
            if close:
                # Now, not after aiohttp's lingering read of the rest of a body (up to 10 s
                # more for a client that just timed out on it).
                request.protocol.force_close()
        finally:
            if ex.route is None:
                self._finish(ex)
        return response

    # After the request ------------------------------------------------------------------------

    def _finish(self, ex: Exchange) -> None:
        if ex.finished:
            return
        model_info = self._model_info
        if model_info is not None and ex.route is not None and ex.route.model:
            try:
                if ex.first_token_ns is None:
                    ex.placement = model_info.placement(ex.route.model)
                ex.digest = model_info.digest(ex.route.model)
            except Exception:
                self._sink_failed("model_info")
        if self._meter is not None and ex.meter_handle is not None:
            try:
                ex.gpu_usage = self._meter.end(ex.meter_handle, ex.placement)
            except Exception:
                self._sink_failed("gpu_meter")
        record = ex.finish()
        if ex.span is not None and ex.route is not None:
            try:
                self._tracing.finish(ex.span, ex.route, record)
            except Exception:
                self._sink_failed("tracing")
        for name, sink in self._sinks:
            try:
                sink.submit(record)
            except Exception:
                self._sink_failed(name)

    def _sink_failed(self, name: str) -> None:
        count = self._sink_failures.get(name, 0) + 1
        self._sink_failures[name] = count
        self._metrics.telemetry_errors.labels(name).inc()
        if count == 1 or count % 1000 == 0:
            log.exception(
                "telemetry sink failed; the request was served",
                extra={"fields": {"sink": name, "failures": count}},
            )


async def _relay_upload(
    request: web.Request, timer: asyncio.Timeout, deadline: Deadline
) -> AsyncIterator[bytes]:
    """A streamed upload (a model blob): each chunk read moves the idle deadline."""
    loop = asyncio.get_running_loop()
    async for chunk in request.content.iter_any():
        timer.reschedule(deadline.upload_read(loop.time()))
        yield chunk


def _payload(body: bytes | None) -> bytes | io.BytesIO | None:
    # aiohttp warns on raw bytes above 1 MiB; a BytesIO is sent the same way without the warning.
    if body is not None and len(body) > LARGE_BODY_BYTES:
        return io.BytesIO(body)
    return body


def _authorized(header: str | None, expected: bytes) -> bool:
    given = (header or "").encode("latin-1", "replace")
    return hmac.compare_digest(given, expected)


def _optional_id(value: str | None) -> str | None:
    return value if value is not None and valid_id(value) else None


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()
