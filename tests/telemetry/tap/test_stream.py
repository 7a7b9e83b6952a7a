from __future__ import annotations

import json
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telemetry import OllamaTimings
from telemetry.tap._stream import Framing, StreamTap, TapResult, framing_for
from tests.telemetry import _tap_wire as wire


def run(framing: Framing, *chunks: bytes, max_line_bytes: int | None = None) -> TapResult:
    tap = (
        StreamTap(framing)
        if max_line_bytes is None
        else StreamTap(framing, max_line_bytes=max_line_bytes)
    )
    for chunk in chunks:
        tap.feed(chunk)
    return tap.finish()


def cut(body: bytes, points: list[int]) -> list[bytes]:
    bounds = [0, *sorted(set(points)), len(body)]
    return [body[a:b] for a, b in pairwise(bounds) if b > a]


@pytest.mark.parametrize(
    ("content_type", "framing"),
    [
        ("application/x-ndjson", Framing.NDJSON),
        ("text/event-stream", Framing.SSE),
        ("text/event-stream; charset=utf-8", Framing.SSE),
        ("application/json", Framing.JSON),
        ("Application/JSON; charset=utf-8", Framing.JSON),
        ("text/plain; charset=utf-8", Framing.OTHER),
        ("application/octet-stream", Framing.OTHER),
        ("", Framing.OTHER),
        (None, Framing.OTHER),
    ],
)
def test_framing_for(content_type: str | None, framing: Framing) -> None:
    assert framing_for(content_type) is framing


def test_generate_stream() -> None:
    result = run(Framing.NDJSON, wire.GENERATE.body)
    assert result == TapResult(
        done=True,
        done_reason="stop",
        input_tokens=26,
        output_tokens=3,
        timings=OllamaTimings(
            total_ns=4935886791, load_ns=534986708, prompt_eval_ns=107345000, eval_ns=4289432000
        ),
        error=None,
        content_chunks=3,
        malformed=False,
        response_model="llama3.2",
    )


def test_chat_stream_ttft_on_first_nonempty_content() -> None:
    tap = StreamTap(Framing.NDJSON)
    assert [tap.feed(unit) for unit in wire.CHAT.units] == [False, True, False, False]
    result = tap.finish()
    assert (result.done, result.done_reason, result.input_tokens, result.output_tokens) == (
        True,
        "length",
        12,
        2,
    )
    assert result.content_chunks == 2


@pytest.mark.parametrize(
    ("stream", "content_chunks"),
    [(wire.CHAT_THINKING, 2), (wire.GENERATE_THINKING, 2), (wire.TOOL_CALLS, 1)],
)
def test_thinking_and_tool_calls_count_as_content(stream: wire.Stream, content_chunks: int) -> None:
    tap = StreamTap(stream.framing)
    fired = [tap.feed(unit) for unit in stream.units]
    assert fired.index(True) == stream.first_content
    result = tap.finish()
    assert result.done and result.content_chunks == content_chunks
    assert result.response_model == "qwen3"


@pytest.mark.parametrize("body", [wire.LOAD, wire.UNLOAD])
def test_load_and_unload_report_no_tokens(body: bytes) -> None:
    with_counts = body.replace(b'"done":true', b'"done":true,"prompt_eval_count":1,"eval_count":1')
    for payload in (body, with_counts):
        tap = StreamTap(Framing.NDJSON)
        assert tap.feed(payload) is False
        result = tap.finish()
        assert result.done and result.done_reason in {"load", "unload"}
        assert (result.input_tokens, result.output_tokens, result.content_chunks) == (None, None, 0)


def test_omitempty_final_chunk_leaves_missing_fields_none() -> None:
    result = run(Framing.NDJSON, wire.OMITEMPTY.body)
    assert result.done and result.input_tokens is None and result.output_tokens == 1
    assert result.timings == OllamaTimings(total_ns=1000, load_ns=100, eval_ns=500)


def test_mid_stream_error_line_fails_the_stream() -> None:
    result = run(Framing.NDJSON, wire.MID_STREAM_ERROR.body)
    assert result.error == "an error was encountered while running the model: unexpected EOF"
    assert result.done is False and result.content_chunks == 1 and not result.malformed


def test_openai_chat_without_usage() -> None:
    result = run(Framing.SSE, wire.OPENAI_CHAT.body)
    assert (result.done, result.done_reason, result.input_tokens, result.output_tokens) == (
        True,
        "stop",
        None,
        None,
    )
    assert result.content_chunks == 2 and result.response_model == "llama3.2"
    assert result.timings == OllamaTimings()


def test_openai_chat_with_include_usage_and_reasoning() -> None:
    tap = StreamTap(Framing.SSE)
    assert [tap.feed(u) for u in wire.OPENAI_CHAT_USAGE.units] == [True] + [False] * 4
    result = tap.finish()
    assert (result.done, result.done_reason, result.input_tokens, result.output_tokens) == (
        True,
        "stop",
        12,
        2,
    )
    assert result.content_chunks == 2


def test_openai_completions_take_the_last_real_usage() -> None:
    result = run(Framing.SSE, wire.OPENAI_COMPLETIONS.body)
    assert (result.done_reason, result.input_tokens, result.output_tokens) == ("length", 8, 2)
    assert result.content_chunks == 2


def test_openai_completions_zero_usage_alone_is_not_a_count() -> None:
    result = run(Framing.SSE, *wire.OPENAI_COMPLETIONS.units[:3])
    assert (result.input_tokens, result.output_tokens) == (None, None)
    assert result.done and result.done_reason == "length"


@pytest.mark.parametrize(
    ("stream", "reason"), [(wire.RESPONSES, "completed"), (wire.ANTHROPIC, "end_turn")]
)
def test_typed_event_streams(stream: wire.Stream, reason: str) -> None:
    result = run(Framing.SSE, stream.body)
    assert (result.done, result.done_reason, result.input_tokens, result.output_tokens) == (
        True,
        reason,
        9,
        2,
    )
    assert result.content_chunks == 2 and result.response_model == "llama3.2"


def test_typed_error_events() -> None:
    failed = (
        b'data: {"type":"response.failed","response":{"status":"failed",'
        b'"error":{"code":"server_error","message":"model crashed"}}}\n\n'
    )
    anthropic = b'data: {"type":"error","error":{"type":"overloaded_error","message":"busy"}}\n\n'
    assert run(Framing.SSE, wire.RESPONSES.units[1] + failed).error == "model crashed"
    assert run(Framing.SSE, wire.ANTHROPIC.units[3] + anthropic).error == "busy"


def test_done_marker_alone_ends_an_sse_stream() -> None:
    assert run(Framing.SSE, b"data: [DONE]\n\n").done


def test_sse_comments_event_fields_and_crlf() -> None:
    body = (
        b": keep-alive\r\n\r\n"
        b"event: message\r\nid: 1\r\nretry: 100\r\n"
        + wire.OPENAI_CHAT.units[0].replace(b"\n", b"\r\n")
        + b"data\r\n\r\n"
        + wire.OPENAI_CHAT.units[2].replace(b"\n", b"\r\n")
        + b"data:[DONE]\r\n\r\n"
    )
    result = run(Framing.SSE, body)
    assert result.done and result.content_chunks == 1 and not result.malformed


def test_sse_data_lines_of_one_event_are_joined() -> None:
    body = b'data: {"choices":[{"index":0,\ndata: "text":"hi","finish_reason":null}]}\n\n'
    tap = StreamTap(Framing.SSE)
    assert tap.feed(body) is True
    assert tap.finish().content_chunks == 1


def test_sse_error_event() -> None:
    body = wire.OPENAI_CHAT.units[0] + b'data: {"error":{"message":"boom","type":"api_error"}}\n\n'
    result = run(Framing.SSE, body)
    assert result.error == "boom" and not result.done


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (wire.GENERATE_JSON, (True, "stop", 26, 290, 1)),
        (wire.EMBED_JSON, (True, None, 8, None, 0)),
        (wire.LEGACY_EMBEDDINGS_JSON, (True, None, None, None, 0)),
        (wire.OPENAI_EMBEDDINGS_JSON, (True, None, 8, None, 0)),
        (wire.OPENAI_CHAT_JSON, (True, "stop", 10, 3, 1)),
        (wire.RESPONSES_JSON, (True, "completed", 9, 2, 0)),
        (wire.ANTHROPIC_JSON, (True, "end_turn", 9, 2, 0)),
    ],
)
def test_json_bodies(body: bytes, expected: tuple[object, ...]) -> None:
    tap = StreamTap(Framing.JSON)
    assert tap.feed(body[:10]) is False and tap.feed(body[10:]) is False
    result = tap.finish()
    got = (
        result.done,
        result.done_reason,
        result.input_tokens,
        result.output_tokens,
        result.content_chunks,
    )
    assert got == expected and not result.malformed and result.error is None


def test_embed_json_timings() -> None:
    result = run(Framing.JSON, wire.EMBED_JSON)
    assert result.timings == OllamaTimings(total_ns=14143917, load_ns=1019500)
    assert result.response_model == "all-minilm"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (wire.NATIVE_ERROR_JSON, "model 'nope' not found"),
        (wire.OPENAI_ERROR_JSON, 'model "nope" not found, try pulling it first'),
        (b'{"error":{"type":"api_error"}}', "api_error"),
        (b'{"error":42}', "unknown error"),
    ],
)
def test_json_error_bodies(body: bytes, message: str) -> None:
    result = run(Framing.JSON, body)
    assert result.error == message and result.done is False and not result.malformed


def test_error_message_is_truncated() -> None:
    result = run(Framing.JSON, json.dumps({"error": "x" * 5000}).encode())
    assert result.error == "x" * 1000


@pytest.mark.parametrize(
    ("framing", "body"),
    [
        (Framing.JSON, b"<html><body>502 Bad Gateway</body></html>"),
        (Framing.JSON, b"[1, 2, 3]"),
        (Framing.JSON, b'{"model":"llama3.2","respo'),
        (
            Framing.NDJSON,
            wire.GENERATE.units[0] + b"Internal Server Error\n" + wire.GENERATE.units[4],
        ),
        (Framing.NDJSON, wire.GENERATE.units[0] + b'{"response":"trunc\n'),
        (Framing.NDJSON, b'"just a string"\n'),
        (Framing.SSE, wire.OPENAI_CHAT.units[0] + b"data: not json\n\n"),
        (Framing.SSE, b"data: {\n\n"),
    ],
)
def test_garbage_is_malformed(framing: Framing, body: bytes) -> None:
    assert run(framing, body).malformed


def test_empty_bodies_are_not_malformed() -> None:
    for framing in Framing:
        result = run(framing, b"", b"\n" if framing is not Framing.JSON else b" ")
        assert not result.malformed and not result.done and result.content_chunks == 0


def test_other_framing_ignores_bytes() -> None:
    tap = StreamTap(Framing.OTHER)
    assert tap.feed(wire.GENERATE.body) is False
    assert tap.finish() == run(Framing.NDJSON)


def test_trailing_unterminated_line_and_event_are_read_at_finish() -> None:
    assert run(Framing.NDJSON, wire.GENERATE.body[:-1]) == run(Framing.NDJSON, wire.GENERATE.body)
    sse_body = wire.OPENAI_CHAT_USAGE.body
    assert run(Framing.SSE, sse_body.rstrip(b"\n")) == run(Framing.SSE, sse_body)


def test_oversized_line_is_skipped_not_malformed() -> None:
    big = b'{"model":"llama3.2","response":"' + b"a" * 500 + b'","done":false}\n'
    result = run(Framing.NDJSON, big, *wire.GENERATE.units[1:], max_line_bytes=400)
    assert not result.malformed and result.done and result.content_chunks == 2


def test_oversized_sse_event_is_dropped() -> None:
    event = b"data: " + b"x" * 150 + b"\ndata: " + b"y" * 150 + b"\n\n"
    result = run(Framing.SSE, event, wire.OPENAI_CHAT.units[-1], max_line_bytes=200)
    assert not result.malformed and result.done and result.content_chunks == 0


def test_oversized_json_body_is_not_parsed_but_complete() -> None:
    result = run(Framing.JSON, wire.EMBED_JSON[:50], wire.EMBED_JSON[50:], max_line_bytes=100)
    assert result.done and not result.malformed and result.error is None
    assert result.input_tokens is None and result.content_chunks == 0


def test_finish_is_idempotent_and_feed_after_finish_is_ignored() -> None:
    tap = StreamTap(Framing.NDJSON)
    first = tap.finish()
    assert tap.feed(wire.GENERATE.body) is False
    assert tap.finish() is first


def test_max_line_bytes_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_line_bytes"):
        StreamTap(Framing.NDJSON, max_line_bytes=0)


def test_fast_path_still_flags_non_object_lines() -> None:
    body = wire.GENERATE.units[0] + b"\x00\xff garbage\n" + wire.GENERATE.units[1]
    result = run(Framing.NDJSON, body)
    assert result.malformed and result.content_chunks == 2


# Properties


def _expected_fire(stream: wire.Stream, chunks: list[bytes]) -> list[bool]:
    assert stream.first_content is not None
    offset = sum(len(u) for u in stream.units[: stream.first_content + 1]) - 1
    fired, start = [], 0
    for chunk in chunks:
        fired.append(start <= offset < start + len(chunk))
        start += len(chunk)
    return fired


def _crlf(stream: wire.Stream) -> wire.Stream:
    units = tuple(u.replace(b"\n", b"\r\n") for u in stream.units)
    return wire.Stream(stream.name + "-crlf", stream.framing, units, stream.first_content)


ALL_STREAMS = [*wire.STREAMS, *(_crlf(s) for s in wire.STREAMS if s.framing is Framing.SSE)]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(ALL_STREAMS), st.data())
def test_any_chunking_gives_the_same_result_and_fires_once(
    stream: wire.Stream, data: st.DataObject
) -> None:
    body = stream.body
    points = data.draw(st.lists(st.integers(0, len(body)), max_size=30))
    chunks = cut(body, points)
    tap = StreamTap(stream.framing)
    fired = [tap.feed(chunk) for chunk in chunks]
    assert tap.finish() == run(stream.framing, body)
    assert fired == _expected_fire(stream, chunks)
    assert fired.count(True) == 1


_TOKEN = st.text(st.characters(codec="utf-8"), max_size=8)


@settings(max_examples=200, deadline=None)
@given(st.lists(_TOKEN, min_size=1, max_size=12), st.booleans(), st.booleans(), st.data())
def test_generated_native_streams(
    tokens: list[str], chat: bool, spaced: bool, data: st.DataObject
) -> None:
    seps = (", ", ": ") if spaced else (",", ":")

    def obj(text: str, done: bool) -> bytes:
        part: dict[str, object] = (
            {"message": {"role": "assistant", "content": text}} if chat else {"response": text}
        )
        record = {"model": "m", **part, "done": done}
        if done:
            record.update(done_reason="stop", prompt_eval_count=3, eval_count=len(tokens))
        return json.dumps(record, separators=seps, ensure_ascii=False).encode() + b"\n"

    units = (*(obj(t, False) for t in tokens), obj("", True))
    nonempty = [i for i, t in enumerate(tokens) if t]
    stream = wire.Stream("gen", Framing.NDJSON, units, nonempty[0] if nonempty else None)
    chunks = cut(stream.body, data.draw(st.lists(st.integers(0, len(stream.body)), max_size=20)))
    tap = StreamTap(Framing.NDJSON)
    fired = [tap.feed(c) for c in chunks]
    result = tap.finish()
    assert result.content_chunks == len(nonempty) and not result.malformed
    assert (result.done, result.input_tokens, result.output_tokens) == (True, 3, len(tokens))
    if stream.first_content is None:
        assert not any(fired)
    else:
        assert fired == _expected_fire(stream, chunks)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(list(Framing)),
    st.lists(st.binary(max_size=64), max_size=12),
    st.sampled_from([16, 64, 8 * 1024 * 1024]),
)
def test_arbitrary_bytes_never_raise(framing: Framing, chunks: list[bytes], cap: int) -> None:
    tap = StreamTap(framing, max_line_bytes=cap)
    fired = [tap.feed(c) for c in chunks]
    assert fired.count(True) <= 1
    assert isinstance(tap.finish(), TapResult)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(ALL_STREAMS), st.binary(max_size=40), st.integers(0, 10_000))
def test_corrupted_streams_never_raise(stream: wire.Stream, noise: bytes, at: int) -> None:
    body = stream.body
    at %= len(body) + 1
    tap = StreamTap(stream.framing)
    tap.feed(body[:at] + noise)
    tap.feed(body[at:])
    assert isinstance(tap.finish(), TapResult)


def test_a_cloud_models_remote_host_is_known_at_its_first_line() -> None:
    first = {"model": "gpt-oss:120b-cloud", "remote_host": "https://ollama.com:443"}
    tap = StreamTap(Framing.NDJSON)
    assert tap.remote_host is None
    assert tap.feed(json.dumps(first | {"response": "Hi", "done": False}).encode() + b"\n")
    assert tap.remote_host == "https://ollama.com:443"  # before the stream ends
    tap.feed(json.dumps(first | {"response": "", "done": True}).encode() + b"\n")
    assert tap.finish().remote_host == "https://ollama.com:443"
