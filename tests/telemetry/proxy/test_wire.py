import json

from multidict import CIMultiDict, CIMultiDictProxy

from telemetry.proxy._wire import end_to_end, error_body, skipped_auto_headers, stream_error


def headers(*pairs: tuple[str, str]) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict(pairs))


def test_hop_by_hop_and_connection_named_headers_are_dropped() -> None:
    given = headers(
        ("Connection", "keep-alive, X-Secret"),
        ("Keep-Alive", "timeout=5"),
        ("Transfer-Encoding", "chunked"),
        ("X-Secret", "1"),
        ("Upgrade", "h2c"),
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
        ("Content-Type", "x/y"),
    )
    kept = end_to_end(given, frozenset({"content-type"}))
    assert list(kept.items()) == [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]


def test_auto_headers_are_skipped_unless_the_client_sent_them() -> None:
    assert set(skipped_auto_headers(headers(("User-Agent", "me")))) == {
        "Accept",
        "Accept-Encoding",
        "Content-Type",
    }


def test_error_shapes() -> None:
    assert json.loads(error_body("/api/chat", 504, "slow")) == {"error": "slow"}
    openai = json.loads(error_body("/v1/chat/completions", 404, "gone"))
    assert openai == {
        "error": {"message": "gone", "type": "not_found_error", "param": None, "code": None}
    }
    assert json.loads(error_body("/v1/x", 413, "big"))["error"]["type"] == "invalid_request_error"
    assert json.loads(error_body("/v1/x", 502, "down"))["error"]["type"] == "api_error"
    assert stream_error(False, "m") == b'{"error":"m"}\n'
    event = stream_error(True, "m")
    assert event.startswith(b"data: ") and event.endswith(b"\n\n")
    assert json.loads(event[6:])["error"]["message"] == "m"
