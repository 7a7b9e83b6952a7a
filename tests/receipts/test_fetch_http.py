"""The requestor's fetch request and the reading of every answer the proxy can give."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from receipts import FetchError, FormatError, NotCoveredError, UnknownReceiptError, fetch_receipt
from receipts._fetch_http import fetch_request, fetched
from receipts._proof import TlogProof
from tests.receipts._support import record, sign_with, signer

RECEIPT = sign_with(signer())(record(1))
PROOF = TlogProof(index=0, path=(), checkpoint=b"test.example/log\n1\nAA==\n").to_bytes()


def test_the_request_carries_the_salt_and_the_bounded_wait() -> None:
    request = fetch_request("http://h:1/", "a/b c", b"\x01\x02", 2.5, "Bearer t")
    assert str(request.url) == "http://h:1/.well-known/ollama-sidecar/receipts/a%2Fb%20c?wait=2.5"
    assert request.headers["X-Receipt-Salt"] == "0102"
    assert request.headers["Authorization"] == "Bearer t"
    with pytest.raises(FormatError, match="wait"):
        fetch_request("http://h:1", "x", b"\x01", 11, None)


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (404, b'{"error":"no receipt"}', UnknownReceiptError),
        (202, b'{"error":"pending"}', NotCoveredError),
        (503, b'{"error":"store"}', FetchError),
        (200, b'{"receipt": "!!"}', FetchError),
        (200, b"not json", FetchError),
        (  # well-formed base64 of bytes that are neither a signed receipt nor a tlog-proof
            200,
            json.dumps(
                {
                    "receipt": base64.b64encode(b"R").decode(),
                    "tlog_proof": base64.b64encode(PROOF).decode(),
                }
            ).encode(),
            FetchError,
        ),
        (
            200,
            json.dumps(
                {
                    "receipt": base64.b64encode(RECEIPT).decode(),
                    "tlog_proof": base64.b64encode(b"P").decode(),
                }
            ).encode(),
            FetchError,
        ),
    ],
)
def test_answers_that_are_not_a_receipt(status: int, body: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        fetched("r1", status, body)


def test_fetch_receipt_through_an_injected_transport() -> None:
    answer = {
        "receipt": base64.b64encode(RECEIPT).decode(),
        "tlog_proof": base64.b64encode(PROOF).decode(),
    }

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["X-Receipt-Salt"] == "aa"
        return httpx.Response(200, content=json.dumps(answer).encode())

    got = fetch_receipt("r1", b"\xaa", transport=httpx.MockTransport(handler))
    assert (got.receipt, got.proof) == (RECEIPT, PROOF)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    with pytest.raises(FetchError, match="cannot reach"):
        fetch_receipt("r1", b"\xaa", transport=httpx.MockTransport(refuse))
