"""One structured JSON line per request, with IDs and timings, never bodies or secrets."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from telemetry.observe._logs import LOGGERS, JsonFormatter, configure_logging
from tests._net import free_port, raw_exchange, wait_http
from tests.telemetry.conftest import Running


@pytest.fixture
def captured() -> io.StringIO:
    stream = io.StringIO()
    configure_logging("info", stream)
    yield stream
    for name in LOGGERS:
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


async def test_malformed_requests_log_no_header_bytes_and_are_rate_limited(
    tmp_path: Path,
) -> None:
    # aiohttp's parser error quotes the raw header; the real CLI used to print its traceback,
    # token included, about 18 lines per request.
    port, admin = free_port(), free_port()
    serve = ["serve", "--no-receipts", "--no-gpu", "--data-dir", str(tmp_path)]
    addresses = ["--listen", f"127.0.0.1:{port}", "--admin-listen", f"127.0.0.1:{admin}"]
    upstream = ["--upstream", f"http://127.0.0.1:{free_port()}"]
    log_file = tmp_path / "stderr"
    with log_file.open("wb") as stderr:
        sidecar = subprocess.Popen(
            [sys.executable, "-m", "telemetry.app.cli", *serve, *addresses, *upstream],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        await asyncio.to_thread(wait_http, f"http://127.0.0.1:{admin}/healthz")
        request = (
            b"GET /api/tags HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Authorization: Bearer tok-3f9a1c-secret\x01\r\n\r\n"
        )
        for _ in range(40):
            answer = await raw_exchange(port, request)
            assert answer.startswith(b"HTTP/1.0 400 Bad Request")
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{admin}/metrics") as response,
        ):
            scrape = await response.text()
    finally:
        sidecar.terminate()
        sidecar.wait(10)
    text = log_file.read_text()
    assert "tok-3f9a1c" not in text and "Traceback" not in text and "uvloop" not in text
    lines = [json.loads(line) for line in text.splitlines()]
    server = [line for line in lines if line["logger"].startswith("aiohttp")]
    assert 1 <= len(server) <= 11  # the burst, plus what the seconds it took refilled
    logged = sum(line["msg"].startswith("Error handling request") for line in server)
    (suppressed,) = (
        sample.value
        for family in text_string_to_metric_families(scrape)
        for sample in family.samples
        if sample.name == "ollama_sidecar_log_lines_suppressed_total"
    )
    assert suppressed == 40 - logged >= 29
    assert server[0] == {
        "ts": server[0]["ts"],
        "level": "error",
        "logger": "aiohttp.server",
        "msg": "Error handling request from -",
        "error": "BadHttpMessage",
        "status": 400,
    }
