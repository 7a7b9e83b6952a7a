"""Issue 8's "done when": seeded random and hostile requests (bodies, headers, model names)
through `ollama-sidecar serve` in front of the emulator, both real processes on loopback. After
them the access log still grows, `/metrics` still parses, and `receipts audit` counts exactly one
receipt per request sent. Bounded: FUZZ_COUNT requests (default 120) from FUZZ_SEED."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests._net import free_port, wait_http

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
SEED = int(os.environ.get("FUZZ_SEED", "8"))
COUNT = int(os.environ.get("FUZZ_COUNT", "120"))
TOML = """
[receipts]
flush_interval_seconds = 0.1
checkpoint_interval_seconds = 0.5
[gpu]
enabled = false
"""
PATHS = (
    "/api/chat",
    "/api/generate",
    "/api/embed",
    "/api/show",
    "/api/pull",
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/embeddings",
    "/api/%ED%A0%80/x",
    "/api/%00%0a%ff",
)
MODELS = (
    rb'"fake\ud800"',
    rb'"\udc00\ud800x"',
    rb'"\u0000\u001f\u007f\u202e"',
    b'"\xff\xfe\xed\xa0\x80"',
    rb'"back\\slash\\"',
    '"модель:7b…"'.encode(),
    b'"llama3.2:3b"',
    b'"llama3.3:70b"',
    b'"nomic-embed-text"',
    b"123",
    b"null",
    b'{"model":"x"}',
)


def hostile_model(rng: random.Random) -> bytes:
    if rng.random() < 0.1:
        size = rng.choice([300, 256 << 10, 4 << 20])
        return b'"' + rng.choice([b"a", b"\\u0000", b"\\ud800", b"\xff"]) * size + b'"'
    return rng.choice(MODELS)


def hostile_body(rng: random.Random) -> bytes:
    model = hostile_model(rng)
    kind = rng.randrange(9)
    if kind == 0:
        return b'{"model":' + model + b',"MODEL":' + hostile_model(rng) + b',"Stream":true}'
    if kind == 1:
        depth = rng.choice([10, 1000, 100_000])
        return b'{"model":' + model + b',"options":' + b"[" * depth + b"]" * depth + b"}"
    if kind == 2:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
    if kind == 3:
        return b""
    if kind == 4:
        return rng.choice([b"[]", b'"model"', b"null", b"1e400", b"{" * 50])
    if kind == 5:
        return b'{"model":' + model + b',"options":{"num_predict":' + b"9" * 5000 + b"}}"
    if kind == 6:
        return b'{"model":' + model + b',"stream":"yes","messages":{"role":[]}}'
    messages = b',"messages":[{"role":"user","content":"hi"}],"input":"x","prompt":"x"'
    return b'{"model":' + model + messages + b',"stream":' + rng.choice([b"true", b"false"]) + b"}"


def hostile_header(rng: random.Random) -> bytes:
    alphabet = bytes(range(0x21, 0x7F)) + bytes(range(0x80, 0x100))
    return bytes(rng.choice(alphabet) for _ in range(rng.choice([1, 40, 300, 4000])))


def hostile_headers(rng: random.Random) -> list[tuple[bytes, bytes]]:
    names = (
        b"X-Request-ID",
        b"X-Golem-Agreement-ID",
        b"X-Golem-Activity-ID",
        b"traceparent",
        b"tracestate",
        b"User-Agent",
    )
    picked = rng.sample(names, rng.randrange(len(names) + 1))
    return [(name, hostile_header(rng)) for name in picked]


async def send_raw(
    port: int, method: bytes, path: bytes, headers: list[tuple[bytes, bytes]], body: bytes
) -> tuple[int, dict[str, str]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = [method + b" " + path + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
    head += [name + b": " + value for name, value in headers]
    head += [b"Content-Type: application/json", b"Content-Length: %d" % len(body)]
    writer.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    status_line, _, rest = answer.partition(b"\r\n")
    fields = rest.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    parsed = dict(line.split(": ", 1) for line in fields if ": " in line)
    return int(status_line.split()[1]), {k.lower(): v for k, v in parsed.items()}


def python(*args: str) -> list[str]:
    return [sys.executable, "-m", *args]


@dataclass
class Stack:
    tmp: Path
    port: int
    admin_port: int
    sidecar: subprocess.Popen[bytes]

    @property
    def log(self) -> Path:
        return self.tmp / "sidecar.log"

    def audit(self) -> dict[str, object]:
        result = subprocess.run(
            python("receipts", "--data-dir", str(self.tmp / "data"), "--json", "audit"),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        report: dict[str, object] = json.loads(result.stdout)
        return report


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    (tmp_path / "sidecar.toml").write_text(TOML)
    emu_port, port, admin_port = free_port(), free_port(), free_port()
    emulator = subprocess.Popen(
        python(
            "telemetry.app.cli",
            "emulate",
            f"--listen=127.0.0.1:{emu_port}",
            "--ttft=0",
            "--tokens-per-second=0",
            "--output-tokens=4",
        ),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_http(f"http://127.0.0.1:{emu_port}/api/version")
    with (tmp_path / "sidecar.log").open("wb") as log:
        sidecar = subprocess.Popen(
            python(
                "telemetry.app.cli",
                "serve",
                f"--listen=127.0.0.1:{port}",
                f"--admin-listen=127.0.0.1:{admin_port}",
                f"--upstream=http://127.0.0.1:{emu_port}",
                f"--data-dir={tmp_path / 'data'}",
                f"--config={tmp_path / 'sidecar.toml'}",
                "--log-level=info",
            ),
            cwd=ROOT,
            stdout=log,
            stderr=log,
        )
    try:
        wait_http(f"http://127.0.0.1:{admin_port}/healthz")
        yield Stack(tmp_path, port, admin_port, sidecar)
    finally:
        if sidecar.poll() is None:
            sidecar.kill()
            sidecar.wait()
        emulator.terminate()
        emulator.wait(10)


def access_lines(stack: Stack) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in stack.log.read_text("utf-8").splitlines() if line]
    return [line for line in lines if line.get("logger") == "ollama_sidecar.access"]


async def test_hostile_requests_never_stop_the_log_metrics_or_receipts(stack: Stack) -> None:
    rng = random.Random(SEED)
    sent = 0
    for _ in range(COUNT):
        method = b"GET" if rng.random() < 0.1 else b"POST"
        path = rng.choice(PATHS).encode()
        status, headers = await send_raw(
            stack.port, method, path, hostile_headers(rng), hostile_body(rng)
        )
        assert 200 <= status < 600 and "x-request-id" in headers, (status, headers)
        sent += 1
    # One ordinary request after them all is still served and still logged.
    status, _ = await send_raw(
        stack.port, b"POST", b"/api/generate", [], b'{"model":"llama3.2:3b","prompt":"x"}'
    )
    assert status == 200
    sent += 1
    async with asyncio.timeout(10):
        while len(access_lines(stack)) < sent:
            await asyncio.sleep(0.1)
    lines = access_lines(stack)
    assert len(lines) == sent
    assert max(len(str(line.get("model") or "")) for line in lines) <= 256
    assert max(len(str(line["path"])) for line in lines) <= 512
    metrics = await asyncio.to_thread(read_metrics, stack.admin_port)
    assert len(metrics) < 1 << 20
    families = {family.name for family in text_string_to_metric_families(metrics)}
    assert "ollama_sidecar_requests" in families
    stack.sidecar.send_signal(signal.SIGTERM)
    assert stack.sidecar.wait(30) == 0
    report = stack.audit()
    assert report["ok"] is True and report["receipts"] == sent, report


def read_metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.status == 200
        text: str = response.read().decode("utf-8")
    return text
