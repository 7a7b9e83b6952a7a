"""Structured JSON logs: one line per request (no bodies, no secrets) and JSON app messages."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, TextIO

from telemetry._record import RequestRecord

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


def configure_logging(level: str = "info", stream: TextIO | None = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    # The packages log under their own names; the sidecar's output is one JSON stream.
    for name in ("ollama_sidecar", "exporters", "receipts"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False


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
