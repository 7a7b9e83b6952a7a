"""The receipt fetch on the proxy port: the salt is the capability, the prefix is the only path
taken from Ollama, and a store that hangs or fails delays nothing but fetches."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from pathlib import Path

import aiohttp
import pytest

from receipts import MemoryStore, StoreError
from receipts._fetch_http import RECEIPTS_PREFIX as CLIENT_PREFIX
from receipts._store import ReceiptRow
from telemetry.proxy._receipt_fetch import RECEIPTS_PREFIX
from tests.receipts._stack import requestor_stack

GENERATE = {"model": "llama3.2:3b", "prompt": "hi", "stream": False}


async def generate(session: aiohttp.ClientSession, url: str, **headers: str) -> tuple[str, str]:
    async with session.post(url + "/api/generate", json=GENERATE, headers=headers) as response:
        assert response.status == 200
        await response.read()
        return response.headers["X-Request-ID"], response.headers["X-Receipt-Salt"]


async def fetch(
    session: aiohttp.ClientSession,
    url: str,
    request_id: str,
    salt: str | None,
    wait: str | None = "10",
    **headers: str,
) -> tuple[int, dict[str, object]]:
    if salt is not None:
        headers["X-Receipt-Salt"] = salt
    params = {"wait": wait} if wait is not None else {}
    async with session.get(
        f"{url}{RECEIPTS_PREFIX}/receipts/{request_id}", params=params, headers=headers
    ) as response:
        return response.status, json.loads(await response.read())


def test_the_client_and_the_proxy_agree_on_the_prefix() -> None:
    assert CLIENT_PREFIX == RECEIPTS_PREFIX == "/.well-known/ollama-sidecar"


async def test_salt_opens_the_receipt_and_nothing_tells_ids_apart(tmp_path: Path) -> None:
    async with requestor_stack(tmp_path) as stack, aiohttp.ClientSession() as session:
        request_id, salt = await generate(session, stack.url)
        status, found = await fetch(session, stack.url, request_id, salt)
        assert status == 200
        receipt = json.loads(base64.b64decode(str(found["receipt"])))
        assert receipt["receipt"]["request_id"] == request_id
        assert base64.b64decode(str(found["tlog_proof"])).startswith(b"c2sp.org/tlog-proof@v1\n")
        other = "00" * 16
        answers = [
            await fetch(session, stack.url, request_id, other),  # wrong salt
            await fetch(session, stack.url, request_id, None),  # no salt
            await fetch(session, stack.url, request_id, "zz"),  # not a salt
            await fetch(session, stack.url, "no-such-request", salt),  # unknown ID
        ]
        assert answers == [answers[0]] * 4 and answers[0][0] == 404


async def test_a_shared_request_id_is_resolved_by_the_salt(tmp_path: Path) -> None:
    async with requestor_stack(tmp_path) as stack, aiohttp.ClientSession() as session:
        salts = [
            (await generate(session, stack.url, **{"X-Request-ID": "mine-1"}))[1] for _ in "ab"
        ]
        assert salts[0] != salts[1]
        indexes = set()
        for salt in salts:
            status, found = await fetch(session, stack.url, "mine-1", salt)
            assert status == 200
            indexes.add(base64.b64decode(str(found["tlog_proof"])).split(b"\n")[1])
        assert len(indexes) == 2  # two receipts, each opened by its own salt


async def test_ollama_paths_of_the_same_shape_still_go_to_ollama(tmp_path: Path) -> None:
    async with requestor_stack(tmp_path) as stack, aiohttp.ClientSession() as session:
        request_id, salt = await generate(session, stack.url)
        for path in (
            f"/api/receipts/{request_id}",
            f"/v1/receipts/{request_id}",
            f"/.well-known/receipts/{request_id}",
        ):
            async with session.get(stack.url + path, headers={"X-Receipt-Salt": salt}) as reply:
                assert reply.status == 404
                assert reply.headers.get("X-Request-ID")  # the proxy forwarded it to Ollama
                assert b"no receipt" not in await reply.read()
        async with session.get(stack.url + RECEIPTS_PREFIX + "/other") as reply:
            assert reply.status == 404 and "X-Request-ID" not in reply.headers


async def test_the_bearer_token_is_required_here_too(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    token.chmod(0o600)
    async with (
        requestor_stack(tmp_path, auth_token_file=token) as stack,
        aiohttp.ClientSession() as session,
    ):
        auth = {"Authorization": "Bearer s3cret"}
        request_id, salt = await generate(session, stack.url, **auth)
        assert (await fetch(session, stack.url, request_id, salt))[0] == 401
        assert (await fetch(session, stack.url, request_id, salt, **auth))[0] == 200


async def test_wait_for_the_covering_checkpoint(tmp_path: Path) -> None:
    async with (
        requestor_stack(tmp_path, checkpoint_interval=3.0) as stack,
        aiohttp.ClientSession() as session,
    ):
        await fetch(session, stack.url, *await generate(session, stack.url))  # first checkpoint
        request_id, salt = await generate(session, stack.url)
        status, pending = await fetch(session, stack.url, request_id, salt, wait=None)
        assert status == 202 and "checkpoint" in str(pending["error"])
        assert (await fetch(session, stack.url, request_id, salt, wait="10"))[0] == 200
        assert (await fetch(session, stack.url, request_id, salt, wait="11"))[0] == 400
        assert (await fetch(session, stack.url, request_id, salt, wait="nan"))[0] == 400


class HangingStore(MemoryStore):
    """Reads block until released, or fail, as a wedged or broken disk would."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.failing = False

    def receipts_for(self, request_id: str) -> list[ReceiptRow]:
        if self.failing:
            raise StoreError("simulated: I/O error")
        self.release.wait(30)
        return super().receipts_for(request_id)


@pytest.mark.slow
async def test_a_hanging_or_failing_store_delays_only_fetches(tmp_path: Path) -> None:
    store = HangingStore()
    async with requestor_stack(tmp_path, store=store) as stack, aiohttp.ClientSession() as session:
        try:
            request_id, salt = await generate(session, stack.url)
            fetching = asyncio.ensure_future(fetch(session, stack.url, request_id, salt, "0"))
            await asyncio.sleep(0.1)
            for _ in range(5):  # proxied traffic is served while the fetch hangs in the store
                await generate(session, stack.url)
                assert not fetching.done()
            assert (await fetching)[0] == 503
            store.failing = True
            assert (await fetch(session, stack.url, request_id, salt))[0] == 503
            await generate(session, stack.url)
        finally:
            store.release.set()
