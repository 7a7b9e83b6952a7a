"""`receipts fetch` and `receipts verify --salt --request --response` as a requestor runs them:
subprocesses against a real sidecar, with no data directory of their own."""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

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


def _answer(receipt: bytes, proof: bytes) -> bytes:
    return json.dumps(
        {
            "receipt": base64.b64encode(receipt).decode(),
            "tlog_proof": base64.b64encode(proof).decode(),
        }
    ).encode()


# What a broken or hostile server may answer on the fetch path, and what the requestor is told.
ANSWERS = {
    "html": (200, b"<html><body>Welcome to nginx</body></html>", "not a receipt fetch answer"),
    "truncated": (200, b'{"receipt": "eyJy', "not a receipt fetch answer"),
    "base64": (200, b'{"receipt": "!!", "tlog_proof": "AA=="}', "not a receipt fetch answer"),
    "garbage": (200, _answer(b"not a receipt", b"not a proof"), "not a receipt fetch answer"),
    "error": (500, json.dumps({"error": "x" * 5000 + "\nsecond"}).encode(), "answered 500"),
    "huge": (200, b" " * (2 << 20), "larger than"),
}


@asynccontextmanager
async def hostile_server() -> AsyncIterator[str]:
    async def answer(request: web.Request) -> web.Response:
        status, body, _ = ANSWERS[request.match_info["id"]]
        return web.Response(status=status, body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/.well-known/ollama-sidecar/receipts/{id}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_a_bad_answer_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    async with hostile_server() as url:
        for name, (_, _, message) in ANSWERS.items():
            (out / f"{name}.json").write_bytes(b"kept")  # an earlier fetch's file stays
            code, err = await cli("fetch", name, "--salt", "ab" * 16, "--from", url, "-o", str(out))
            assert code == 2 and message in err, (name, err)
            assert len(err.strip().splitlines()) == 1 and len(err) < 400, (name, err)
            assert (out / f"{name}.json").read_bytes() == b"kept"
            assert not (out / f"{name}.tlog-proof").exists()


@pytest.mark.parametrize(
    ("request_id", "base_url"),
    [("x" * 100_000, "http://127.0.0.1:1"), ("r1", "http://[::1")],
)
async def test_an_impossible_url_is_a_usage_error(request_id: str, base_url: str) -> None:
    code, err = await cli("fetch", request_id, "--salt", "ab", "--from", base_url)
    assert code == 2 and "cannot make a fetch URL" in err and "Traceback" not in err


async def test_a_token_file_of_two_lines_is_refused_without_showing_it(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("s3cret-part-one\ns3cret-part-two\n")
    code, err = await cli(
        "fetch", "r1", "--salt", "ab", "--from", "http://127.0.0.1:1",
        "--auth-token-file", str(tmp_path / "token"),
    )  # fmt: skip
    assert code == 2 and "must hold the token on one line" in err
    assert "s3cret" not in err
