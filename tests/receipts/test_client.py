"""The official clients through the real sidecar with the requestor API: every streamed exchange
is fetched and verified against the requestor's own bytes; one changed byte is caught."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import ollama
import openai
import pytest

import receipts
from receipts import (
    AsyncRecordingTransport,
    CommitmentError,
    QuorumError,
    RecordingTransport,
    UnknownReceiptError,
    commitment,
    verify_fetched,
)
from receipts._provider import open_signer
from tests.receipts._spec_witness import SpecWitness, SpecWitnessServer
from tests.receipts._stack import Stack, requestor_stack

MESSAGES = [{"role": "user", "content": "Why is the sky blue?"}]


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with requestor_stack(tmp_path) as running:
        yield running


class Tee(httpx.BaseTransport):
    """Keeps the raw response bytes, as a requestor saving its transcript would."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.bodies: list[bytearray] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        body = bytearray()
        self.bodies.append(body)
        upstream = response.stream
        assert isinstance(upstream, httpx.SyncByteStream)

        class Copy(httpx.SyncByteStream):
            def __iter__(self) -> Iterator[bytes]:
                for chunk in upstream:
                    body.extend(chunk)
                    yield chunk

            def close(self) -> None:
                upstream.close()

        response.stream = Copy()
        return response

    def close(self) -> None:
        self._inner.close()


async def test_async_ollama_streamed_chat_and_generate_verify(stack: Stack) -> None:
    transport = AsyncRecordingTransport()
    async with ollama.AsyncClient(host=stack.url, transport=transport) as client:
        chat = [p async for p in await client.chat("llama3.1:8b", MESSAGES, stream=True)]
        chat_id = transport.last
        generated = [p async for p in await client.generate("llama3.2:3b", "Hi", stream=True)]
        generate_id = transport.last
        assert chat and generated and chat[-1].done and generated[-1].done
        assert chat_id is not None and generate_id is not None
        assert chat_id.request_id != generate_id.request_id
        for exchange in (chat_id, generate_id):
            verified = await transport.verify(exchange.request_id, stack.key)
            assert verified.request_id == exchange.request_id
            assert verified.body["outcome"] == "ok"
            assert verified.checkpoint.size > verified.index
        with pytest.raises(UnknownReceiptError):
            await transport.fetch("never-sent")


def _sync_ollama(url: str, key: str, tee: Tee) -> tuple[str, str]:
    transport = RecordingTransport(tee)
    client = ollama.Client(host=url, transport=transport)
    parts = list(client.generate("llama3.2:3b", "Hi", stream=True))
    assert parts[-1].done
    exchange = transport.last
    assert exchange is not None
    body = bytes(tee.bodies[-1])  # the transcript the requestor kept
    fetched = transport.fetch(exchange.request_id)
    verified = transport.verify(exchange.request_id, key)
    transport.close()
    assert verified.body["model"] == "llama3.2:3b"
    # the transcript verifies byte for byte; one changed byte does not
    proof = fetched.tlog_proof
    verify_fetched(
        fetched.receipt,
        proof,
        receipts.VerifierKey.parse(key),
        salt=exchange.salt,
        response_sha256=commitment(exchange.salt, body),
    )
    changed = body[:10] + bytes([body[10] ^ 1]) + body[11:]
    with pytest.raises(CommitmentError, match="response_sha256"):
        verify_fetched(
            fetched.receipt,
            proof,
            receipts.VerifierKey.parse(key),
            salt=exchange.salt,
            response_sha256=commitment(exchange.salt, changed),
        )
    return exchange.request_id, exchange.salt.hex()


async def test_sync_ollama_streamed_generate_and_a_changed_byte(stack: Stack) -> None:
    request_id, _ = await asyncio.to_thread(_sync_ollama, stack.url, stack.key, Tee())
    assert request_id


def _sync_openai(url: str, key: str) -> None:
    transport = RecordingTransport()
    with httpx.Client(transport=transport) as http:
        client = openai.OpenAI(
            base_url=url + "/v1", api_key="ollama", http_client=http, max_retries=0
        )
        stream = client.chat.completions.create(
            model="llama3.2:3b",
            messages=MESSAGES,
            stream=True,  # type: ignore[arg-type]
        )
        chunks = list(stream)
        assert chunks
        exchange = transport.last
        assert exchange is not None
        verified = transport.verify(exchange.request_id, key)
        assert verified.body["endpoint"] == "/v1/chat/completions"
        assert verified.body["streaming"] is True


async def test_openai_streamed_chat_verifies(stack: Stack) -> None:
    await asyncio.to_thread(_sync_openai, stack.url, stack.key)


async def test_a_recorded_exchange_with_another_salt_is_caught(stack: Stack) -> None:
    transport = AsyncRecordingTransport()
    async with ollama.AsyncClient(host=stack.url, transport=transport) as client:
        await client.generate("llama3.2:3b", "Hi")
        exchange = transport.last
        assert exchange is not None
        fetched = await transport.fetch(exchange.request_id)
    with pytest.raises(CommitmentError, match="request_sha256"):
        verify_fetched(
            fetched.receipt,
            fetched.tlog_proof,
            receipts.VerifierKey.parse(stack.key),
            salt=exchange.salt,
            request_sha256=commitment(exchange.salt, b'{"model":"other"}'),
        )


def readme_example() -> str:
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    after = text.split("<!-- requestor-example", 1)[1]
    return after.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.slow
async def test_the_readme_lines_run_as_written(stack: Stack, tmp_path: Path) -> None:
    script = tmp_path / "requestor.py"
    script.write_text(readme_example())
    assert len([line for line in script.read_text().splitlines() if line.strip()]) <= 10
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        env={**os.environ, "SIDECAR_URL": stack.url, "PROVIDER_KEY": stack.key},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    assert b"is in checkpoint" in out


@pytest.mark.slow
async def test_verify_takes_a_witness_policy(tmp_path: Path) -> None:
    log_key = str(open_signer(tmp_path, "", create=True).verifier())
    witness = SpecWitness("witness.example/w", log_key)
    server = SpecWitnessServer(witness)
    try:
        policy = {"witness": [{"url": server.url, "key": witness.vkey}], "witness_quorum": 1}
        async with requestor_stack(tmp_path, receipts=policy) as stack:
            transport = AsyncRecordingTransport()
            async with ollama.AsyncClient(host=stack.url, transport=transport) as client:
                await client.generate("llama3.2:3b", "Hi")
                exchange = transport.last
                assert exchange is not None
                verified = await transport.verify(
                    exchange.request_id, stack.key, witnesses=[witness.vkey]
                )
                assert [str(w) for w in verified.witnesses] == [witness.vkey]
                stranger = SpecWitness("stranger.example/w", log_key).vkey
                with pytest.raises(QuorumError):
                    await transport.verify(exchange.request_id, stack.key, witnesses=[stranger])
                both = [witness.vkey, stranger]
                await transport.verify(exchange.request_id, stack.key, witnesses=both, quorum=1)
    finally:
        server.close()
