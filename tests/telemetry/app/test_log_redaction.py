"""The JSON logs of a real `serve` at debug level never hold request or response bodies,
prompts, Authorization values, tokens or receipt salts, whatever the clients send."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import httpx
import pytest

from tests._net import free_port
from tests.telemetry.app._procs import cli, emulator, serve, wait_url

pytestmark = pytest.mark.slow

TOKEN = "tok-CANARY-7f3a9c"
PROMPT = "PROMPT-CANARY-why-is-the-sky-blue"
SYSTEM = "SYSTEM-CANARY-you-are-helpful"


def test_logs_hold_no_bodies_prompts_tokens_or_salts(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text(TOKEN)
    token.chmod(0o600)
    log = tmp_path / "sidecar.log"
    emu_port, port, admin = free_port(), free_port(), free_port()
    args = serve(
        f"http://127.0.0.1:{emu_port}",
        tmp_path / "data",
        f"127.0.0.1:{port}",
        f"127.0.0.1:{admin}",
        "--auth-token-file",
        str(token),
    )
    args[args.index("--log-level") + 1] = "debug"
    secrets = [TOKEN, PROMPT, SYSTEM, "WRONG-CANARY", "BODY-CANARY"]
    with cli(emulator(f"127.0.0.1:{emu_port}")) as emu, log.open("wb") as out:
        wait_url(f"http://127.0.0.1:{emu_port}/api/version", emu)
        with cli(args, stderr=out) as proc:
            wait_url(f"http://127.0.0.1:{admin}/healthz", proc)
            auth = {"Authorization": f"Bearer {TOKEN}"}
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base, headers=auth, timeout=30) as client:
                replies = [
                    client.post("/api/generate", json={"model": "llama3.1:8b", "prompt": PROMPT}),
                    client.post(
                        "/api/chat",
                        json={
                            "model": "llama3.1:8b",
                            "stream": False,
                            "messages": [
                                {"role": "system", "content": SYSTEM},
                                {"role": "user", "content": PROMPT},
                            ],
                        },
                    ),
                    client.post(
                        "/v1/chat/completions",
                        json={
                            "model": "llama3.1:8b",
                            "messages": [{"role": "user", "content": PROMPT}],
                        },
                    ),
                    client.post("/api/generate", content=b'{"model": "BODY-CANARY", "prompt": 1'),
                    client.post("/api/generate", headers={"Authorization": "Bearer WRONG-CANARY"}),
                ]
            assert [r.status_code for r in replies][:3] == [200, 200, 200]
            assert replies[4].status_code == 401
            secrets += [
                r.headers["X-Receipt-Salt"] for r in replies if "X-Receipt-Salt" in r.headers
            ]
            answer = replies[1].json()["message"]["content"]
            assert len(answer) >= 20
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0
    lines = log.read_text().splitlines()
    assert len(lines) >= 5  # start, one per request, stop: the log is not simply empty
    records = [json.loads(line) for line in lines]
    assert sum(r.get("msg") == "request" for r in records) >= 4
    text = log.read_text()
    assert len(secrets) >= 8
    for secret in [*secrets, answer]:
        assert secret.lower() not in text.lower(), secret
