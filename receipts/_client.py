"""The requestor's Python API: httpx transports that remember what each exchange committed to.

    transport = receipts.RecordingTransport()             # or AsyncRecordingTransport()
    client = ollama.Client(host=..., transport=transport)  # openai: http_client=httpx.Client(...)
    client.chat(...)
    verified = transport.verify(transport.last.request_id, key=PROVIDER_KEY)

For every answer that carries `X-Request-ID` and `X-Receipt-Salt` (the sidecar's), the transport
keeps the request ID, the salt, SHA-256(salt ‖ exact request body) and SHA-256(salt ‖ exact
response body), hashed chunk by chunk as the client reads the stream. It keeps no content,
changes nothing the client sees, and adds no work per chunk beyond the hash. The response is
hashed as it comes off the wire (before any content decoding), as the proxy hashed it.
`fetch(request_id)` asks the same sidecar for the signed receipt and proof; `verify(request_id,
key)` checks them and the commitments (see `receipts._commitments`). Only the latest
`max_exchanges` exchanges are kept.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field

import httpx

from receipts._commitments import Verified, verify_fetched
from receipts._cosign import WitnessPolicy
from receipts._errors import CommitmentError, UnknownReceiptError
from receipts._fetch_http import SALT_HEADER, FetchedReceipt, fetch_request, fetched
from receipts._keys import VerifierKey

REQUEST_ID_HEADER = "X-Request-ID"
DEFAULT_WAIT_SECONDS = 10.0
MAX_EXCHANGES = 10_000


@dataclass(frozen=True)
class RecordedExchange:
    """What one request through the sidecar committed to, as the requestor computed it.

    `response_complete` is False when the client closed the response before the stream said it
    ended (the openai client stops at `data: [DONE]`, usually with nothing left unread); the
    digest then covers what was read, and verification shows whether that was everything.
    """

    request_id: str
    base_url: str
    salt: bytes = field(repr=False)
    request_sha256: str
    response_sha256: str
    response_complete: bool
    authorization: str | None = field(default=None, repr=False)


class _Pending:
    """An exchange whose response body is still being read."""

    __slots__ = (
        "authorization",
        "base_url",
        "finished",
        "hasher",
        "request_id",
        "request_sha256",
        "salt",
    )

    def __init__(
        self, request: httpx.Request, response: httpx.Response, request_id: str, salt: bytes
    ) -> None:
        request_hasher = hashlib.sha256(salt)
        request_hasher.update(request.content)
        self.request_sha256 = request_hasher.hexdigest()
        self.request_id = request_id
        self.salt = salt
        self.base_url = str(request.url.copy_with(path="/", query=None, fragment=None)).rstrip("/")
        self.authorization = request.headers.get("Authorization")
        self.hasher = hashlib.sha256(salt)
        self.finished = False


class _Book:
    """The recorded exchanges of one transport (thread-safe, bounded, oldest dropped)."""

    def __init__(self, max_exchanges: int) -> None:
        if max_exchanges < 1:
            raise ValueError("max_exchanges must be at least 1")
        self._max = max_exchanges
        self._lock = threading.Lock()
        self._exchanges: OrderedDict[str, RecordedExchange] = OrderedDict()

    def begin(self, request: httpx.Request, response: httpx.Response) -> _Pending | None:
        request_id = response.headers.get(REQUEST_ID_HEADER)
        salt_text = response.headers.get(SALT_HEADER)
        if not request_id or not salt_text:
            return None  # not an answer through the sidecar, or receipts are off
        try:
            salt = bytes.fromhex(salt_text)
        except ValueError:
            return None
        return _Pending(request, response, request_id, salt)

    def finish(self, pending: _Pending, complete: bool) -> None:
        if pending.finished:
            return
        pending.finished = True
        exchange = RecordedExchange(
            request_id=pending.request_id,
            base_url=pending.base_url,
            salt=pending.salt,
            request_sha256=pending.request_sha256,
            response_sha256=pending.hasher.hexdigest(),
            response_complete=complete,
            authorization=pending.authorization,
        )
        with self._lock:
            self._exchanges.pop(exchange.request_id, None)
            self._exchanges[exchange.request_id] = exchange
            while len(self._exchanges) > self._max:
                self._exchanges.popitem(last=False)

    def get(self, request_id: str) -> RecordedExchange:
        with self._lock:
            exchange = self._exchanges.get(request_id)
        if exchange is None:
            raise UnknownReceiptError(f"{request_id}: no exchange through the sidecar recorded")
        return exchange

    @property
    def last(self) -> RecordedExchange | None:
        with self._lock:
            return next(reversed(self._exchanges.values()), None)

    def all(self) -> list[RecordedExchange]:
        with self._lock:
            return list(self._exchanges.values())


Key = VerifierKey | str


def _key(key: Key) -> VerifierKey:
    return key if isinstance(key, VerifierKey) else VerifierKey.parse(key)


def _verify(
    exchange: RecordedExchange, receipt: FetchedReceipt, key: Key, policy: WitnessPolicy
) -> Verified:
    try:
        return verify_fetched(
            receipt.receipt,
            receipt.tlog_proof,
            _key(key),
            request_id=exchange.request_id,
            salt=exchange.salt,
            request_sha256=exchange.request_sha256,
            response_sha256=exchange.response_sha256,
            policy=policy,
        )
    except CommitmentError as exc:
        if exchange.response_complete:
            raise
        raise CommitmentError(f"{exc} (the client closed the response before its end)") from None


class _HashedStream(httpx.SyncByteStream):
    def __init__(
        self, inner: httpx.SyncByteStream, pending: _Pending, done: Callable[[_Pending, bool], None]
    ) -> None:
        self._inner, self._pending, self._done = inner, pending, done
        self._complete = False

    def __iter__(self) -> Iterator[bytes]:
        update = self._pending.hasher.update
        for chunk in self._inner:
            update(chunk)
            yield chunk
        self._complete = True

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self._done(self._pending, self._complete)


class _AsyncHashedStream(httpx.AsyncByteStream):
    def __init__(
        self,
        inner: httpx.AsyncByteStream,
        pending: _Pending,
        done: Callable[[_Pending, bool], None],
    ) -> None:
        self._inner, self._pending, self._done = inner, pending, done
        self._complete = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        update = self._pending.hasher.update
        async for chunk in self._inner:
            update(chunk)
            yield chunk
        self._complete = True

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            self._done(self._pending, self._complete)


class _Exchanges:
    """What both transports answer about the exchanges they recorded."""

    _book: _Book

    @property
    def last(self) -> RecordedExchange | None:
        """The latest exchange whose response was closed (read to the end or abandoned)."""
        return self._book.last

    def exchange(self, request_id: str) -> RecordedExchange:
        return self._book.get(request_id)

    def exchanges(self) -> list[RecordedExchange]:
        return self._book.all()


class RecordingTransport(_Exchanges, httpx.BaseTransport):
    """A sync httpx transport (wrapping `transport`, default `httpx.HTTPTransport()`)."""

    def __init__(
        self, transport: httpx.BaseTransport | None = None, *, max_exchanges: int = MAX_EXCHANGES
    ) -> None:
        self._inner = transport if transport is not None else httpx.HTTPTransport()
        self._book = _Book(max_exchanges)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        response = self._inner.handle_request(request)
        pending = self._book.begin(request, response)
        if pending is not None:
            assert isinstance(response.stream, httpx.SyncByteStream)
            response.stream = _HashedStream(response.stream, pending, self._book.finish)
        return response

    def fetch(self, request_id: str, *, wait: float = DEFAULT_WAIT_SECONDS) -> FetchedReceipt:
        """The signed receipt and proof of a recorded exchange, from the sidecar that served it,
        waiting up to `wait` seconds for a checkpoint to cover it."""
        exchange = self._book.get(request_id)
        request = fetch_request(
            exchange.base_url, request_id, exchange.salt, wait, exchange.authorization
        )
        response = self._inner.handle_request(request)
        try:
            body = response.read()
        finally:
            response.close()
        return fetched(request_id, response.status_code, body)

    def verify(
        self,
        request_id: str,
        key: Key,
        *,
        wait: float = DEFAULT_WAIT_SECONDS,
        witnesses: Sequence[Key] = (),
        quorum: int | None = None,
    ) -> Verified:
        """Fetch and verify: signature, inclusion, request ID, salt, both commitments, and
        cosignatures by at least `quorum` (default: all) of `witnesses` (QuorumError)."""
        exchange = self._book.get(request_id)
        policy = WitnessPolicy.parse(witnesses, quorum)
        return _verify(exchange, self.fetch(request_id, wait=wait), key, policy)

    def close(self) -> None:
        self._inner.close()


class AsyncRecordingTransport(_Exchanges, httpx.AsyncBaseTransport):
    """The async twin of `RecordingTransport` (default inner `httpx.AsyncHTTPTransport()`)."""

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        max_exchanges: int = MAX_EXCHANGES,
    ) -> None:
        self._inner = transport if transport is not None else httpx.AsyncHTTPTransport()
        self._book = _Book(max_exchanges)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        response = await self._inner.handle_async_request(request)
        pending = self._book.begin(request, response)
        if pending is not None:
            assert isinstance(response.stream, httpx.AsyncByteStream)
            response.stream = _AsyncHashedStream(response.stream, pending, self._book.finish)
        return response

    async def fetch(self, request_id: str, *, wait: float = DEFAULT_WAIT_SECONDS) -> FetchedReceipt:
        exchange = self._book.get(request_id)
        request = fetch_request(
            exchange.base_url, request_id, exchange.salt, wait, exchange.authorization
        )
        response = await self._inner.handle_async_request(request)
        try:
            body = await response.aread()
        finally:
            await response.aclose()
        return fetched(request_id, response.status_code, body)

    async def verify(
        self,
        request_id: str,
        key: Key,
        *,
        wait: float = DEFAULT_WAIT_SECONDS,
        witnesses: Sequence[Key] = (),
        quorum: int | None = None,
    ) -> Verified:
        exchange = self._book.get(request_id)
        policy = WitnessPolicy.parse(witnesses, quorum)
        return _verify(exchange, await self.fetch(request_id, wait=wait), key, policy)

    async def aclose(self) -> None:
        await self._inner.aclose()
