"""How an exchange's facts become exactly one outcome and error type."""

from __future__ import annotations

import hashlib

import pytest

from telemetry import Outcome
from telemetry.proxy._exchange import Exchange, FailureKind
from telemetry.tap._routes import classify
from telemetry.tap._stream import Framing, StreamTap


def exchange(status: int = 200, stream: bytes | None = None) -> Exchange:
    ex = Exchange("id-1", "POST", "/api/generate", 0, 1_700_000_000_000_000_000)
    ex.route = classify("POST", "/api/generate", b'{"model":"m"}')
    ex.tier = "gpu-8gb"
    ex.status = status
    if stream is not None:
        tap = StreamTap(Framing.NDJSON)
        tap.feed(stream)
        ex.stream_tap = tap
    return ex


DONE = (
    b'{"response":"a","done":false}\n'
    b'{"response":"","done":true,"done_reason":"stop","eval_count":1}\n'
)


@pytest.mark.parametrize(
    ("setup", "outcome", "error_type"),
    [
        (lambda ex: None, Outcome.OK, None),
        (lambda ex: ex.cancel(), Outcome.CANCELLED, "cancelled"),
        (lambda ex: ex.fail(FailureKind.TTFT), Outcome.TIMEOUT, "ttft_timeout"),
        (lambda ex: ex.fail(FailureKind.CONNECT), Outcome.TIMEOUT, "connect_timeout"),
        (
            lambda ex: ex.fail(FailureKind.UNREACHABLE),
            Outcome.UPSTREAM_UNAVAILABLE,
            "upstream_unavailable",
        ),
        (lambda ex: ex.fail(FailureKind.DISCONNECTED), Outcome.ERROR, "upstream_disconnected"),
        (lambda ex: ex.reject(413), Outcome.ERROR, "413"),
    ],
)
def test_outcomes(setup: object, outcome: Outcome, error_type: str | None) -> None:
    ex = exchange(stream=DONE)
    setup(ex)  # type: ignore[operator]
    record = ex.finish()
    assert (record.outcome, record.error_type) == (outcome, error_type)


def test_cancel_wins_over_a_later_failure() -> None:
    ex = exchange(stream=DONE)
    ex.cancel()
    ex.fail(FailureKind.IDLE)
    assert ex.finish().outcome is Outcome.CANCELLED


@pytest.mark.parametrize(
    ("stream", "error_type"),
    [
        (b'{"response":"a","done":false}\n{"error":"boom"}\n', "stream_error"),
        (b"not json at all\n", "malformed_response"),
        (b'{"response":"a","done":false}\n', "incomplete_response"),
    ],
)
def test_stream_classification(stream: bytes, error_type: str) -> None:
    record = exchange(stream=stream).finish()
    assert (record.outcome, record.error_type) == (Outcome.ERROR, error_type)


def test_http_errors_use_the_status_as_error_type() -> None:
    record = exchange(status=503, stream=b'{"error":"busy"}').finish()
    assert (record.outcome, record.error_type, record.status) == (Outcome.ERROR, "503", 503)


def test_salted_commitments() -> None:
    ex = exchange(stream=DONE)
    salt = bytes(range(16))
    ex.start_hashing(salt, b'{"model":"m"}')
    ex.response_hasher.update(b"chunk-1")
    ex.response_hasher.update(b"chunk-2")
    record = ex.finish()
    assert record.request_sha256 == hashlib.sha256(salt + b'{"model":"m"}').hexdigest()
    assert record.response_sha256 == hashlib.sha256(salt + b"chunk-1chunk-2").hexdigest()
    assert record.end_unix_ns - record.start_unix_ns == record.duration_ns
    assert record.output_tokens == 1 and record.done_reason == "stop"


def test_failure_messages_name_the_phase() -> None:
    ex = exchange()
    assert "first token" in FailureKind.TTFT.message(ex) and "gpu-8gb" in FailureKind.TTFT.message(
        ex
    )
    assert "unreachable" in FailureKind.UNREACHABLE.message(ex)
