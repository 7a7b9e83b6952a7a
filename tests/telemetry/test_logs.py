"""One structured JSON line per request, with IDs and timings, never bodies or secrets."""

from __future__ import annotations

import io
import json
import logging

import aiohttp
import pytest

from telemetry._logs import JsonFormatter, configure_logging
from tests.telemetry.conftest import Running


@pytest.fixture
def captured() -> io.StringIO:
    stream = io.StringIO()
    configure_logging("info", stream)
    yield stream
    for name in ("ollama_sidecar", "exporters", "receipts"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.setLevel(logging.NOTSET)
        logger.propagate = True


async def test_one_json_line_per_request(
    proxied: Running, client: aiohttp.ClientSession, captured: io.StringIO
) -> None:
    secret_prompt = "my very private prompt"
    headers = {"Authorization": "Bearer top-secret", "X-Request-ID": "log-test-1"}
    async with client.post(
        proxied.url + "/api/generate",
        headers=headers,
        json={"model": "llama3.1:8b", "prompt": secret_prompt},
    ) as response:
        await response.read()
    await proxied.sink.wait_for(1)
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    access = [line for line in lines if line["logger"] == "ollama_sidecar.access"]
    assert len(access) == 1
    entry = access[0]
    assert entry["request_id"] == "log-test-1" and entry["outcome"] == "ok"
    assert entry["status"] == 200 and entry["model"] == "llama3.1:8b"
    assert len(entry["trace_id"]) == 32 and entry["output_tokens"] == 8
    assert entry["duration_ms"] > 0 and entry["ttft_ms"] is not None
    text = captured.getvalue()
    assert secret_prompt not in text and "top-secret" not in text


def test_formatter_includes_exception_type_only() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "failed", None, __import__("sys").exc_info()
        )
    line = json.loads(JsonFormatter().format(record))
    assert line["error"] == "ValueError: boom" and line["level"] == "error"
