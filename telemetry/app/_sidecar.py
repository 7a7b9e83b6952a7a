"""The composition root: builds the proxy, the admin listener and every sink from one Config."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import signal
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Protocol

import aiohttp
from aiohttp import web
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter
from prometheus_client import CollectorRegistry, ProcessCollector, disable_created_metrics
from yarl import URL

from telemetry.app._listener import (
    GuardedListener,
    ListenerCounts,
    ListenerLimits,
    host_guard,
    raise_file_limit,
)
from telemetry.app.tls import ServerTls, TlsFiles
from telemetry.core._config import Config, parse_host_port
from telemetry.core._errors import ConfigError, SecurityError
from telemetry.core._record import GpuMeter, ModelInfo, RecordSink
from telemetry.core._tasks import spawn
from telemetry.observe._admin import LogFiles, ReadinessCheck, build_admin_app, build_log_app
from telemetry.observe._logs import AccessLog
from telemetry.observe._metrics import ProxyMetrics
from telemetry.observe._tracing import Tracing, build_tracer_provider
from telemetry.proxy._proxy import Proxy
from telemetry.proxy._receipt_fetch import ReceiptLookup, fetch_routes

log = logging.getLogger("ollama_sidecar.sidecar")

VERSION = metadata.version("ollama-sidecar")
UPSTREAM_PROBE_SECONDS = 5.0
SHUTDOWN_GRACE_SECONDS = 10.0


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_auth_token(path: Path | None, setting: str = "proxy.auth_token_file") -> bytes | None:
    """The bearer token in `path`, refused when group or others may read it; `setting` names
    where the path came from in the error message."""
    if path is None:
        return None
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        token = path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"{setting}: cannot read {path}: {exc.strerror}") from exc
    if mode & 0o077:
        raise ConfigError(
            f"{setting}: {path} has mode {mode:04o} and is accessible by group or "
            f"others; run `chmod 600 {path}`"
        )
    if not token:
        raise ConfigError(f"{setting}: {path} is empty")
    return token


class Ready(Protocol):
    def readiness(self) -> tuple[bool, str]:
        """(ready, detail) for /readyz; answered from state, without blocking."""
        ...


class Receipts(RecordSink, Ready, Protocol):
    """The receipt service as the sidecar drives it (`receipts.ReceiptService`)."""

    @property
    def verifier_key(self) -> str: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def span_exporter(self) -> SpanExporter: ...

    def admin_routes(self) -> Sequence[web.RouteDef]: ...

    def flush(self, timeout: float = 5.0, *, checkpoint: bool = False) -> bool: ...

    def announce_admin(self, url: str) -> None: ...

    def prune_spans(self, older_than_seconds: float) -> int: ...
    def log_files(self) -> LogFiles: ...

    def receipt_lookup(self) -> ReceiptLookup: ...


class Gpus(RecordSink, ModelInfo, GpuMeter, Ready, Protocol):
    """The GPU monitor as the sidecar drives it (`exporters.GpuMonitor`)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def exposition(self) -> bytes: ...


@dataclass
class Components:
    """Optional parts; tests inject fakes, production builds the real ones."""

    receipts: Receipts | None = None
    gpu: Gpus | None = None


class Sidecar:
    def __init__(
        self,
        config: Config,
        *,
        env: Mapping[str, str] | None = None,
        registry: CollectorRegistry | None = None,
        components: Components | None = None,
        span_processors: Sequence[SpanProcessor] = (),
        extra_sinks: Sequence[tuple[str, RecordSink]] = (),
    ) -> None:
        self.config = config
        self._env = os.environ if env is None else env
        if registry is None:
            # The sidecar's own memory and open files: `loadtest --soak` watches them for drift.
            registry = CollectorRegistry()
            ProcessCollector(registry=registry)
        self.registry = registry
        self._components = components
        self._span_processors = span_processors
        self._extra_sinks = tuple(extra_sinks)
        self._listeners: list[GuardedListener] = []
        self._probe_task: asyncio.Task[None] | None = None
        self._prune_task: asyncio.Task[None] | None = None
        # Its own session: a saturated proxy pool must not make a busy node look unready.
        self._probe_session: aiohttp.ClientSession | None = None
        self._gpu_started = False
        self._receipts_started = False
        self.proxy: Proxy | None = None
        self.receipts: Receipts | None = None
        self.gpu: Gpus | None = None
        self.tracing: Tracing | None = None
        self.tls: ServerTls | None = None
        self.listen_port = 0
        self.admin_port = 0
        self.log_port = 0

    async def start(self) -> None:
        """Start everything, or stop what was started and re-raise."""
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        config = self.config
        host, port = parse_host_port(config.proxy.listen, "proxy.listen")
        token = read_auth_token(config.proxy.auth_token_file)
        self.tls = server_tls(config)
        authenticated = token is not None or (self.tls is not None and self.tls.mutual)
        if not is_loopback(host) and not authenticated:
            raise SecurityError(
                f"refusing to listen on non-loopback address {host}: set "
                "--auth-token-file (proxy.auth_token_file) to require a bearer token, "
                "or --client-ca (proxy.client_ca) to require client certificates"
            )
        if config.proxy.require_auth and not authenticated:
            raise SecurityError(
                "proxy.require_auth is on but clients need no credentials: set "
                "--auth-token-file or --client-ca"
            )
        admin_host, admin_port = parse_host_port(config.proxy.admin_listen, "proxy.admin_listen")
        admin_mtls = self.tls is not None and self.tls.mutual
        if not is_loopback(admin_host) and not (config.proxy.admin_allow_remote or admin_mtls):
            raise SecurityError(
                f"refusing to serve the admin listener (metrics, receipts API; no "
                f"authentication) on non-loopback address {admin_host}: set "
                "proxy.admin_allow_remote = true or --client-ca to allow it"
            )
        soft, _ = raise_file_limit()
        # Each proxied connection holds two descriptors: the client's and one to Ollama.
        if soft < 2 * config.proxy.max_client_connections + 64:
            log.warning(
                "the open-file limit is below what proxy.max_client_connections needs",
                extra={"fields": {"nofile": soft, "max": config.proxy.max_client_connections}},
            )
        # `_created` series double the scrape for nothing Prometheus uses.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        components = self._components or self._default_components()
        self.receipts, self.gpu = components.receipts, components.gpu
        self._metrics = metrics = ProxyMetrics(config, self.registry, VERSION)
        exporters: list[SpanExporter] = []
        if self.receipts is not None:
            self._start_receipts(self.receipts)
            exporters.append(self.receipts.span_exporter())
        up_host, up_port = _upstream_address(config.proxy.upstream)
        provider = build_tracer_provider(self._env, exporters, self._span_processors)
        self.tracing = Tracing(provider, up_host, up_port)
        sinks: list[tuple[str, RecordSink]] = [("metrics", metrics)]
        if config.proxy.log_requests:
            sinks.append(("log", AccessLog()))
        if self.receipts is not None:
            sinks.append(("receipts", self.receipts))
        if self.gpu is not None:
            sinks.append(("gpu", self.gpu))
            await self.gpu.start()
            self._gpu_started = True
        sinks.extend(self._extra_sinks)
        model_info: ModelInfo | None = self.gpu
        self.proxy = Proxy(
            config,
            metrics,
            self.tracing,
            sinks,
            model_info,
            token,
            hash_content=self.receipts is not None,
            meter=self.gpu,
        )
        await self.proxy.start()
        app = web.Application(client_max_size=config.proxy.max_body_bytes)
        if self.receipts is not None:  # before the proxy's catch-all: the reserved prefix
            app.add_routes(fetch_routes(self.receipts.receipt_lookup(), token))
        self.proxy.mount(app)
        checks: dict[str, ReadinessCheck] = {"upstream": self._probe_upstream}
        parts: tuple[tuple[str, Ready | None], ...] = (
            ("gpu", self.gpu),
            ("receipts", self.receipts),
        )
        for name, component in parts:
            if component is not None:
                checks[name] = _readiness_of(component)
        expositions = [self.gpu.exposition] if self.gpu is not None else []
        extra = self.receipts.admin_routes() if self.receipts is not None else []
        log_files = self.receipts.log_files() if self.receipts is not None else None
        admin = build_admin_app(self.registry, checks, extra, expositions, log_files)
        public_log = build_log_app(log_files) if log_files and config.proxy.log_listen else None
        log_host, log_port = (
            parse_host_port(config.proxy.log_listen, "proxy.log_listen") if public_log else ("", 0)
        )
        self.listen_port = await self._serve("proxy", app, host, port, cancel_on_disconnect=True)
        self.admin_port = await self._serve("admin", admin, admin_host, admin_port)
        if public_log is not None:
            self.log_port = await self._serve("log", public_log, log_host, log_port)
        if self.receipts is not None:
            scheme = "https" if self.tls is not None else "http"
            self.receipts.announce_admin(f"{scheme}://{_url_host(admin_host)}:{self.admin_port}")
        self._probe_task = spawn(self._probe_loop(), name="upstream-probe")
        if self.receipts is not None and config.retention.spans_days > 0:
            self._prune_task = spawn(self._prune_loop(self.receipts), name="span-retention")
        log.info(
            "sidecar started",
            extra={
                "fields": {
                    "listen": f"{host}:{self.listen_port}",
                    "admin": f"{admin_host}:{self.admin_port}",
                    "upstream": config.proxy.upstream,
                    "receipts": self.receipts is not None,
                }
            },
        )

    def _start_receipts(self, receipts: Receipts) -> None:
        from receipts import ReceiptsError

        try:
            receipts.start()
            self._receipts_started = True
        except ReceiptsError as exc:
            raise ConfigError(
                f"receipts: {exc} (start with --no-receipts to serve without them)"
            ) from exc
        log.info("receipts log ready", extra={"fields": {"verifier_key": receipts.verifier_key}})

    def _default_components(self) -> Components:
        components = Components()
        if self.config.receipts.enabled:
            from receipts import ReceiptService

            components.receipts = ReceiptService(self.config, registry=self.registry)
        if self.config.gpu.enabled:
            from exporters import GpuMonitor

            components.gpu = GpuMonitor(self.config, self.registry)
        return components

    async def _serve(
        self,
        name: str,
        app: web.Application,
        host: str,
        port: int,
        *,
        cancel_on_disconnect: bool = False,
    ) -> int:
        counts = ListenerCounts(name, self._metrics)
        if is_loopback(host):
            app.middlewares.append(host_guard(host, counts))
        listener = GuardedListener(
            app,
            ListenerLimits.of(self.config.proxy),
            counts,
            handler_cancellation=cancel_on_disconnect,
            shutdown_timeout=SHUTDOWN_GRACE_SECONDS,
        )
        self._listeners.append(listener)
        ssl_context = self.tls.context if self.tls is not None else None
        return await listener.start(host, port, ssl_context=ssl_context)

    async def _probe_upstream(self) -> tuple[bool, str]:
        if self._probe_session is None:
            self._probe_session = aiohttp.ClientSession()
        try:
            async with self._probe_session.get(
                self.config.proxy.upstream.rstrip("/") + "/api/tags",
                timeout=aiohttp.ClientTimeout(total=2.0),
            ) as response:
                await response.read()
                ok = response.status == 200
                detail = f"GET /api/tags answered {response.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            ok, detail = False, f"GET /api/tags failed: {type(exc).__name__}"
        self._metrics.upstream_up.set(1 if ok else 0)
        return ok, detail

    async def _probe_loop(self) -> None:
        while True:
            await self._probe_upstream()
            await asyncio.sleep(UPSTREAM_PROBE_SECONDS)

    async def _prune_loop(self, receipts: Receipts) -> None:
        """Spans older than [retention] spans_days go; receipts and checkpoints never do."""
        from receipts import ReceiptsError

        retention = self.config.retention
        while True:
            try:
                pruned = await asyncio.to_thread(receipts.prune_spans, retention.spans_days * 86400)
            except ReceiptsError as exc:  # retried next round; it never stops the sidecar
                log.warning("pruning old spans failed: %s", exc)
            else:
                if pruned:
                    log.info("pruned old spans", extra={"fields": {"spans": pruned}})
            await asyncio.sleep(retention.prune_interval_seconds)

    async def stop(self) -> None:
        """Graceful stop: finish in-flight requests, then flush receipts and spans. Stops only
        what was started, once."""
        for task in (self._probe_task, self._prune_task):
            if task is not None:
                task.cancel()
        self._probe_task = self._prune_task = None
        for listener in self._listeners:
            await listener.close()
        self._listeners.clear()
        proxy, self.proxy = self.proxy, None
        if proxy is not None:
            await proxy.close()
        probe, self._probe_session = self._probe_session, None
        if probe is not None:
            await probe.close()
        if self.gpu is not None and self._gpu_started:
            self._gpu_started = False
            await self.gpu.stop()
        tracing, self.tracing = self.tracing, None
        if tracing is not None:
            await asyncio.to_thread(tracing.shutdown)
        if self.receipts is not None and self._receipts_started:
            self._receipts_started = False
            await asyncio.to_thread(self.receipts.stop)

    def reload_tls(self) -> None:
        """SIGHUP: new handshakes use the files as they are now; open connections keep going."""
        if self.tls is None:
            log.info("SIGHUP ignored: no TLS configured")
            return
        try:
            self.tls.reload()
        except ConfigError as exc:
            log.error("TLS reload failed; the previous certificates stay in use: %s", exc)
            return
        log.info("TLS certificates reloaded", extra={"fields": {"cert": str(self.tls.files.cert)}})

    async def run_until_signalled(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, self.reload_tls)
        await self.start()
        try:
            await stop.wait()
        finally:
            log.info("sidecar stopping")
            await self.stop()


def server_tls(config: Config) -> ServerTls | None:
    proxy = config.proxy
    if proxy.tls_cert is None or proxy.tls_key is None:
        return None
    return ServerTls(TlsFiles(proxy.tls_cert, proxy.tls_key, proxy.client_ca))


def _upstream_address(url: str) -> tuple[str, int]:
    parsed = URL(url)
    host = parsed.host or "127.0.0.1"
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return host, port


def _readiness_of(component: Ready) -> ReadinessCheck:
    """A /readyz check from a component's synchronous `readiness() -> (ok, detail)`."""

    async def check() -> tuple[bool, str]:
        ready, detail = component.readiness()
        return bool(ready), str(detail)

    return check


def _url_host(host: str) -> str:
    """The host part of a URL that reaches a listener bound to `host` from this machine."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.is_unspecified:
        return "127.0.0.1" if address.version == 4 else "[::1]"
    return f"[{address}]" if address.version == 6 else str(address)
