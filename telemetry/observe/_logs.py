"""Structured JSON logs: one line per request (no bodies, no secrets) and JSON app messages."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any, TextIO

from telemetry.core._record import RequestRecord

ACCESS_LOGGER = "ollama_sidecar.access"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info and record.exc_info[0] is not None:
            line["error"] = f"{record.exc_info[0].__name__}: {record.exc_info[1]}"
        return json.dumps(line, separators=(",", ":"), default=str)


# Loggers configured by `configure_logging`: the project's (every one is `ollama_sidecar.<area>`:
# proxy, access, sidecar, tracing, gpu, receipts), and aiohttp (its children aiohttp.server,
# .access, .web, .internal, .client propagate to it).
LOGGERS = ("ollama_sidecar", "aiohttp")
_PLACEHOLDER = re.compile(r"%[-#0 +]*\d*(?:\.\d+)?[sdrifxXeEgGa%]")


class ForeignLogFilter(logging.Filter):
    """aiohttp's own messages, made safe and bounded.

    A malformed request makes aiohttp log the parser's exception, whose text quotes the raw
    request line or header (a bearer token included). Only the message template (placeholders
    blanked), the exception's type and its HTTP status are kept, never the arguments nor the
    exception text, and at most `burst` lines, then `per_second`, get through; the next line that
    does carries how many were suppressed, and `suppressed_total` counts them all (exported as
    `ollama_sidecar_log_lines_suppressed_total`).
    """

    def __init__(self, per_second: float = 1.0, burst: int = 10) -> None:
        super().__init__()
        self._rate = per_second
        self._burst = float(burst)
        self._tokens = float(burst)
        self._at = time.monotonic()
        self._suppressed = 0
        self.suppressed_total = 0

    def filter(self, record: logging.LogRecord) -> bool:
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens < 1:
            self._suppressed += 1
            self.suppressed_total += 1
            return False
        self._tokens -= 1
        template = record.msg if isinstance(record.msg, str) else type(record.msg).__name__
        record.msg, record.args = _PLACEHOLDER.sub("-", template), None
        fields: dict[str, Any] = {}
        if record.exc_info and record.exc_info[0] is not None:
            error = record.exc_info[1]
            fields["error"] = record.exc_info[0].__name__
            status = getattr(error, "status", None) or getattr(error, "code", None)
            if isinstance(status, int):
                fields["status"] = status
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        if self._suppressed:
            fields["suppressed"] = self._suppressed
            self._suppressed = 0
        record.fields = fields
        return True


def configure_logging(level: str = "info", stream: TextIO | None = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    foreign = logging.StreamHandler(handler.stream)
    foreign.setFormatter(JsonFormatter())
    foreign.addFilter(ForeignLogFilter())
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers[:] = [foreign if name == "aiohttp" else handler]
        logger.setLevel(level.upper())
        logger.propagate = False


def suppressed_log_lines() -> int:
    """aiohttp log lines the rate limit of `configure_logging` dropped; 0 before it ran."""
    return sum(
        log_filter.suppressed_total
        for handler in logging.getLogger("aiohttp").handlers
        for log_filter in handler.filters
        if isinstance(log_filter, ForeignLogFilter)
    )


def record_fields(record: RequestRecord) -> dict[str, Any]:
    return {
        "request_id": record.request_id,
        "trace_id": record.trace_id,
        "span_id": record.span_id,
        "method": record.method,
        "path": record.path,
        "model": record.model,
        "tier": record.tier,
        "status": record.status,
        "outcome": record.outcome.value,
        "error_type": record.error_type,
        "done_reason": record.done_reason,
        "duration_ms": round(record.duration_ns / 1e6, 3),
        "ttft_ms": None if record.ttft_ns is None else round(record.ttft_ns / 1e6, 3),
        "input_tokens": record.input_tokens,
        "output_tokens": record.output_tokens,
        "processor": record.placement.processor.value,
    }


class AccessLog:
    """A RecordSink writing one JSON line per request.

    It writes the line itself to the stream of the sidecar's log handler instead of going through
    `logging` (caller lookup and LogRecord creation cost more than the line), in the same format.
    """

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._logger = logger or logging.getLogger(ACCESS_LOGGER)

    def submit(self, record: RequestRecord) -> None:
        if not self._logger.isEnabledFor(logging.INFO):
            return
        now = time.time()
        line = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
            + f".{int(now % 1 * 1000):03d}Z",
            "level": "info",
            "logger": self._logger.name,
            "msg": "request",
            **record_fields(record),
        }
        _handler_stream(self._logger).write(json.dumps(line, separators=(",", ":")) + "\n")


def _handler_stream(logger: logging.Logger) -> TextIO:
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            if isinstance(handler, logging.StreamHandler):
                stream: TextIO = handler.stream
                return stream
        current = current.parent if current.propagate else None
    return sys.stderr
