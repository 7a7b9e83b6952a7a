"""`receipts fetch` and `receipts verify --salt --request --response` as a requestor runs them:
subprocesses against a real sidecar, with no data directory of their own."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import aiohttp
import pytest

from tests._net import free_port
from tests.receipts._stack import requestor_stack

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # the CLI runs in subprocesses

CHAT = {"model": "llama3.1:8b", "messages": [{"role": "user", "content": "hi"}]}


async def cli(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "receipts",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, err.decode()


async def test_fetch_then_verify_the_exact_bytes(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    async with requestor_stack(tmp_path / "data") as stack, aiohttp.ClientSession() as session:
        body = json.dumps(CHAT).encode()
        async with session.post(
            stack.url + "/api/chat", data=body, headers={"Content-Type": "application/json"}
        ) as response:
            received = await response.read()
            request_id = response.headers["X-Request-ID"]
            salt = response.headers["X-Receipt-Salt"]
        (tmp_path / "request.json").write_bytes(body)
        (tmp_path / "response.ndjson").write_bytes(received)
        fetch = ("fetch", request_id, "--salt", salt, "--from", stack.url, "-o", str(out))
        code, err = await cli(*fetch, "--wait", "10")
        assert code == 0, err
        assert (out / f"{request_id}.json").exists()
        # an unknown ID and a wrong salt: the same answer
        wrong = await cli("fetch", request_id, "--salt", "00" * 16, "--from", stack.url)
        unknown = await cli("fetch", "nobody", "--salt", salt, "--from", stack.url)
        assert wrong[0] == unknown[0] == 1
        assert wrong[1].replace(request_id, "ID") == unknown[1].replace("nobody", "ID")
        assert (await cli("fetch", request_id, "--salt", "xyz", "--from", stack.url))[0] == 2
        key = stack.key
    dead = f"http://127.0.0.1:{free_port()}"
    code, err = await cli("fetch", request_id, "--salt", salt, "--from", dead)
    assert code == 2 and "Traceback" not in err and "cannot reach" in err

    offline = (
        "verify",
        "--receipt",
        str(out / f"{request_id}.json"),
        "--proof",
        str(out / f"{request_id}.tlog-proof"),
        "--key",
        key,
        "--salt",
        salt,
    )
    files = ("--request", str(tmp_path / "request.json"), "--response")
    code, err = await cli(*offline, *files, str(tmp_path / "response.ndjson"))
    assert code == 0, err
    assert "commits to the request and response bytes" in err
    changed = bytearray(received)
    changed[len(changed) // 2] ^= 0x20
    (tmp_path / "changed.ndjson").write_bytes(bytes(changed))
    code, err = await cli(*offline, *files, str(tmp_path / "changed.ndjson"))
    assert code == 1 and "response_sha256" in err and "request_sha256" not in err
    (tmp_path / "other.json").write_bytes(body.replace(b"hi", b"ho"))
    code, err = await cli(
        *offline, "--request", str(tmp_path / "other.json"), "--response", str(tmp_path / "x")
    )
    assert code == 2 and "cannot read response file" in err
    code, err = await cli(*offline[:-2], "--request", str(tmp_path / "other.json"))
    assert code == 2 and "--salt" in err
    code, err = await cli(*offline, "--request", str(tmp_path / "other.json"))
    assert code == 1 and "request_sha256" in err
