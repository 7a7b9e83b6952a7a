"""The mutable state of one request while it is proxied, and the record it ends as."""

from __future__ import annotations

import hashlib
import time
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from telemetry.core._record import (
    UNKNOWN_PLACEMENT,
    GpuUsage,
    OllamaTimings,
    Outcome,
    Placement,
    Processor,
    RequestRecord,
)
from telemetry.core._text import MAX_MODEL_CHARS, MAX_PATH_CHARS, bounded_text

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from telemetry.tap._routes import RouteInfo
    from telemetry.tap._stream import StreamTap, TapResult


class Hasher(Protocol):
    """The part of a `hashlib` hash the exchange uses."""

    def update(self, data: bytes, /) -> None: ...

    def hexdigest(self) -> str: ...


# How the error line of a stream the proxy ended on a timeout starts (load tests count these).
TIMEOUT_MESSAGE_PREFIX = "ollama-sidecar: upstream timed out"


class FailureKind(StrEnum):
    """Why the proxy, not Ollama, ended a request. Timeouts carry their kind as error.type."""

    CONNECT = "connect"
    TTFT = "ttft"
    IDLE = "idle"
    TOTAL = "total"
    UNREACHABLE = "unreachable"
    DISCONNECTED = "disconnected"

    @property
    def is_timeout(self) -> bool:
        return self in (FailureKind.CONNECT, FailureKind.TTFT, FailureKind.IDLE, FailureKind.TOTAL)

    @property
    def outcome(self) -> Outcome:
        if self.is_timeout:
            return Outcome.TIMEOUT
        if self is FailureKind.UNREACHABLE:
            return Outcome.UPSTREAM_UNAVAILABLE
        return Outcome.ERROR

    @property
    def error_type(self) -> str:
        if self.is_timeout:
            return f"{self.value}_timeout"
        if self is FailureKind.UNREACHABLE:
            return "upstream_unavailable"
        return "upstream_disconnected"

    def message(self, ex: Exchange) -> str:
        if self is FailureKind.UNREACHABLE:
            return "ollama-sidecar: upstream Ollama is unreachable"
        if self is FailureKind.DISCONNECTED:
            return "ollama-sidecar: upstream Ollama closed the connection or answered garbage"
        what = {
            FailureKind.CONNECT: "connecting to Ollama",
            FailureKind.TTFT: "waiting for the first token",
            FailureKind.IDLE: "waiting for the next chunk",
            FailureKind.TOTAL: "for the whole request",
        }[self]
        return f"{TIMEOUT_MESSAGE_PREFIX} {what} (tier {ex.tier})"


class Exchange:
    """Everything the proxy learns about one request; `finish()` freezes it into a record."""

    __slots__ = (
        "activity_id",
        "agreement_id",
        "authenticated",
        "cancelled",
        "digest",
        "failure",
        "finished",
        "first_token_ns",
        "gpu_usage",
        "meter_handle",
        "method",
        "path",
        "placement",
        "rejected",
        "request_id",
        "request_sha256",
        "response_bytes",
        "response_hasher",
        "route",
        "salt",
        "span",
        "sse",
        "start_unix_ns",
        "started_ns",
        "status",
        "stream_tap",
        "tap",
        "tier",
    )

    def __init__(
        self, request_id: str, method: str, path: str, started_ns: int, start_unix_ns: int
    ) -> None:
        self.request_id = request_id
        self.method = method
        self.path = path
        self.started_ns = started_ns
        self.start_unix_ns = start_unix_ns
        self.route: RouteInfo | None = None
        self.tier = ""
        self.span: Span | None = None
        self.salt: bytes | None = None
        self.request_sha256: str | None = None
        self.response_hasher: Hasher | None = None
        self.status = 0
        self.response_bytes = 0
        self.first_token_ns: int | None = None
        self.placement: Placement = UNKNOWN_PLACEMENT
        self.digest: str | None = None
        self.meter_handle: int | None = None
        self.gpu_usage: GpuUsage | None = None
        self.stream_tap: StreamTap | None = None
        self.tap: TapResult | None = None
        self.failure: FailureKind | None = None
        self.cancelled = False
        self.rejected = False
        self.sse = False
        self.finished = False
        self.agreement_id: str | None = None
        self.activity_id: str | None = None
        self.authenticated = True

    def start_hashing(self, salt: bytes, body: bytes | None) -> None:
        """Commit to the exact request and response bytes: SHA-256(salt ‖ bytes)."""
        self.salt = salt
        if body is not None or self.method in ("GET", "HEAD", "DELETE"):
            request_hasher = hashlib.sha256(salt)
            request_hasher.update(body or b"")  # no salt + body copy of a large body
            self.request_sha256 = request_hasher.hexdigest()
        self.response_hasher = hashlib.sha256(salt)

    def sent(self, data: bytes) -> None:
        """Bytes the proxy itself sent the client (an error body or line): committed too."""
        if self.response_hasher is not None:
            self.response_hasher.update(data)
        self.response_bytes += len(data)

    def fail(self, kind: FailureKind) -> None:
        if self.failure is None and not self.cancelled:
            self.failure = kind

    def cancel(self) -> None:
        self.cancelled = True

    def reject(self, status: int) -> None:
        self.rejected = True
        self.status = status

    def _outcome(self) -> tuple[Outcome, str | None]:
        if self.cancelled:
            return Outcome.CANCELLED, "cancelled"
        if self.failure is not None:
            return self.failure.outcome, self.failure.error_type
        if self.status >= 400 or self.rejected:
            return Outcome.ERROR, str(self.status)
        tap = self.tap
        if tap is not None:
            if tap.error is not None:
                return Outcome.ERROR, "stream_error"
            if tap.malformed:
                return Outcome.ERROR, "malformed_response"
            if not tap.done:
                return Outcome.ERROR, "incomplete_response"
        return Outcome.OK, None

    def finish(self) -> RequestRecord:
        self.finished = True
        duration_ns = time.perf_counter_ns() - self.started_ns
        if self.tap is None and self.stream_tap is not None:
            self.tap = self.stream_tap.finish()
        outcome, error_type = self._outcome()
        route = self.route
        tap = self.tap
        placement = self.placement
        if tap is not None and tap.remote_host is not None:
            placement = Placement(Processor.REMOTE, remote_host=tap.remote_host)
        span_ctx = self.span.get_span_context() if self.span is not None else None
        streaming = route.streaming if route is not None else False
        model = route.model if route else None
        ttft_ns = None
        if streaming and self.first_token_ns is not None:
            ttft_ns = self.first_token_ns - self.started_ns
        return RequestRecord(
            request_id=self.request_id,
            trace_id=f"{span_ctx.trace_id:032x}" if span_ctx else "0" * 32,
            span_id=f"{span_ctx.span_id:016x}" if span_ctx else "0" * 16,
            start_unix_ns=self.start_unix_ns,
            end_unix_ns=self.start_unix_ns + duration_ns,
            method=self.method,
            path=bounded_text(self.path, MAX_PATH_CHARS),
            endpoint=route.endpoint if route else "other",
            operation=route.operation if route else None,
            model=model,
            tier=self.tier,
            streaming=streaming,
            status=self.status,
            outcome=outcome,
            duration_ns=duration_ns,
            error_type=error_type,
            model_digest=self.digest,
            done_reason=tap.done_reason if tap else None,
            input_tokens=tap.input_tokens if tap else None,
            output_tokens=tap.output_tokens if tap else None,
            ttft_ns=ttft_ns,
            ollama=tap.timings if tap else OllamaTimings(),
            placement=placement,
            gpu_usage=self.gpu_usage,
            request_sha256=self.request_sha256,
            response_sha256=self.response_hasher.hexdigest() if self.response_hasher else None,
            response_bytes=self.response_bytes,
            salt_sha256=hashlib.sha256(self.salt).hexdigest() if self.salt is not None else None,
            agreement_id=self.agreement_id,
            activity_id=self.activity_id,
            authenticated=self.authenticated,
            response_model=_mismatch(model, tap.response_model if tap else None),
        )


def _mismatch(requested: str | None, answered: str | None) -> str | None:
    """The response's model (bounded like the request's) when it differs from the request's."""
    if answered is None or requested is None:
        return None
    answered = bounded_text(answered, MAX_MODEL_CHARS)
    return answered if answered != requested else None
