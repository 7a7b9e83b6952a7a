"""The whole sidecar as a user runs it: `ollama-sidecar serve` in front of the emulator, receipts
for every outcome verified by the `receipts` CLI while it runs and after it stops, the processor
decision in each receipt, and the SIGTERM / SIGKILL cases."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests._net import free_port, wait_http
from tests.telemetry.app._procs import popen, serve

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
TOML = """
[tiers.gpu-8gb]
ttft_timeout_seconds = 0.5
[receipts]
flush_interval_seconds = 0.1
checkpoint_interval_seconds = 0.5
[gpu]
enabled = false
"""


@dataclass
class Stack:
    tmp: Path
    emulator_url: str
    proxy_port: int
    admin_port: int
    sidecar: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    @property
    def admin(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def start_sidecar(self) -> None:
        self.sidecar = popen(
            serve(
                self.emulator_url,
                self.tmp / "data",
                f"127.0.0.1:{self.proxy_port}",
                f"127.0.0.1:{self.admin_port}",
                "--config",
                str(self.tmp / "sidecar.toml"),
            ),
        )
        wait_http(self.admin + "/healthz")

    def stop_sidecar(self, sig: int) -> int:
        assert self.sidecar is not None
        self.sidecar.send_signal(sig)
        code = self.sidecar.wait(30)
        self.sidecar = None
        return code

    def receipts(self, *args: str, admin: bool = False) -> subprocess.CompletedProcess[str]:
        flags = ["--data-dir", str(self.tmp / "data")]
        if admin:
            flags += ["--admin", self.admin]
        return subprocess.run(
            [sys.executable, "-m", "receipts", *flags, *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    (tmp_path / "sidecar.toml").write_text(TOML)
    emu_port = free_port()
    emulator = popen(
        [
            "emulate",
            "--listen",
            f"127.0.0.1:{emu_port}",
            "--ttft",
            "0.01",
            "--tokens-per-second",
            "200",
            "--output-tokens",
            "8",
        ]
    )
    url = f"http://127.0.0.1:{emu_port}"
    wait_http(url + "/api/version")
    running = Stack(tmp_path, url, free_port(), free_port())
    running.start_sidecar()
    yield running
    if running.sidecar is not None:
        running.sidecar.kill()
        running.sidecar.wait()
    emulator.terminate()
    emulator.wait(10)


GEN = {"model": "llama3.1:8b", "prompt": "hello"}


async def send(
    url: str, body: dict[str, Any], fault: str | None = None, path: str = "/api/generate"
) -> tuple[str, str, bytes, int]:
    headers = {"X-Emulator-Fault": fault} if fault else {}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url + path, json=body, headers=headers) as response,
    ):
        payload = await response.read()
        return (
            response.headers["X-Request-ID"],
            response.headers.get("X-Receipt-Salt", ""),
            payload,
            response.status,
        )


async def disconnect_midstream(url: str) -> None:
    slow = {**GEN, "options": {"num_predict": 8}}
    async with aiohttp.ClientSession() as session:
        response = await session.post(
            url + "/api/generate", json=slow, headers={"X-Emulator-Fault": "stall_midstream"}
        )
        await response.content.readline()
        response.close()


def verify_all(stack: Stack, admin: bool) -> list[dict[str, Any]]:
    result = stack.receipts("--json", "verify", "--all", admin=admin)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert lines and all(line["ok"] for line in lines)
    return lines


def ids_in(report: list[dict[str, Any]]) -> set[str]:
    return {line["id"] for line in report}


async def test_every_outcome_gets_one_verifiable_receipt(stack: Stack) -> None:
    ok = await send(stack.url, GEN)
    not_found = await send(stack.url, {**GEN, "model": "ghost:7b"})
    midstream = await send(stack.url, GEN, "error_midstream")
    timeout = await send(stack.url, GEN, "stall_before")
    chat_v1 = await send(
        stack.url,
        {"model": "llama3.1:8b", "stream": True, "messages": [{"role": "user", "content": "x"}]},
        path="/v1/chat/completions",
    )
    await disconnect_midstream(stack.url)
    assert (ok[3], not_found[3], midstream[3], timeout[3]) == (200, 404, 200, 504)

    # The salt lets the client prove which response bytes the receipt covers.
    await asyncio.sleep(0.5)
    export_dir = stack.tmp / "export"
    result = stack.receipts("export", ok[0], "-o", str(export_dir), admin=True)
    assert result.returncode == 0, result.stderr
    signed = json.loads((export_dir / f"{ok[0]}.json").read_text())
    body = signed["receipt"]
    salt = bytes.fromhex(ok[1])
    assert body["response_sha256"] == hashlib.sha256(salt + ok[2]).hexdigest()
    assert body["request_sha256"] == hashlib.sha256(salt + json.dumps(GEN).encode()).hexdigest()
    assert "hello" not in json.dumps(signed)

    running = verify_all(stack, admin=True)
    assert stack.stop_sidecar(signal.SIGTERM) == 0
    stopped = verify_all(stack, admin=False)
    listed = stack.receipts("--json", "list")
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]
    outcomes = sorted(r["outcome"] for r in rows)
    assert outcomes == ["cancelled", "error", "error", "ok", "ok", "timeout"]
    for request in (ok, not_found, midstream, timeout, chat_v1):
        assert request[0] in ids_in(running) and request[0] in ids_in(stopped)

    # Offline: the two exported files and the verifier key, nothing else.
    key = stack.receipts("pubkey").stdout.strip()
    offline = stack.receipts(
        "verify",
        "--proof",
        str(export_dir / f"{ok[0]}.tlog-proof"),
        "--receipt",
        str(export_dir / f"{ok[0]}.json"),
        "--key",
        key,
    )
    assert offline.returncode == 0, offline.stderr

    audit = stack.receipts("audit")
    assert audit.returncode == 0, audit.stderr


async def test_sigkill_loses_at_most_the_flush_interval_and_never_corrupts(stack: Stack) -> None:
    first = [await send(stack.url, GEN) for _ in range(5)]
    await asyncio.sleep(1.0)  # > flush interval and checkpoint interval
    assert stack.stop_sidecar(signal.SIGKILL) == -signal.SIGKILL
    stack.start_sidecar()
    second = [await send(stack.url, GEN) for _ in range(3)]
    assert stack.stop_sidecar(signal.SIGTERM) == 0
    assert stack.receipts("audit").returncode == 0
    report = verify_all(stack, admin=False)
    for request in first + second:
        assert request[0] in ids_in(report)


async def test_upstream_unavailable_gets_a_receipt(tmp_path: Path) -> None:
    (tmp_path / "sidecar.toml").write_text(TOML)
    stack = Stack(tmp_path, f"http://127.0.0.1:{free_port()}", free_port(), free_port())
    stack.start_sidecar()
    try:
        request_id, _, _body, status = await send(stack.url, GEN)
        assert status == 502
    finally:
        assert stack.stop_sidecar(signal.SIGTERM) == 0
    report = verify_all(stack, admin=False)
    assert request_id in ids_in(report)
    assert os.stat(tmp_path / "data" / "provider.key").st_mode & 0o077 == 0
