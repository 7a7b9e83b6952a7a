from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telemetry.tap._facts import Facts, decode_object, native_fast, openai_fast
from telemetry.tap._stream import Framing
from tests.telemetry import _tap_wire as wire


@pytest.mark.parametrize(
    "raw",
    [
        b"[1]",
        b'"text"',
        b"null",
        b"{",
        b"\xff\xfe{}",
        b"[" * 100_000,
        b'{"n":' + b"9" * 10_000 + b"}",
    ],
)
def test_decode_object_rejects_non_objects(raw: bytes) -> None:
    assert decode_object(raw) is None


def test_decode_object_accepts_utf8_objects() -> None:
    assert decode_object('{"response":"héllo ✓"}'.encode()) == {"response": "héllo ✓"}


@pytest.mark.parametrize(
    "obj",
    [
        {"prompt_eval_count": -1, "eval_count": True, "total_duration": 1.5},
        {"usage": {"prompt_tokens": "3", "completion_tokens": None}},
        {"prompt_eval_count": [1], "choices": "nope", "message": "text"},
    ],
)
def test_wrongly_typed_fields_are_not_learned(obj: dict[str, object]) -> None:
    facts = Facts()
    assert facts.absorb(obj) is False
    assert (facts.input_tokens, facts.output_tokens, facts.total_ns) == (None, None, None)


def test_first_error_and_first_model_win() -> None:
    facts = Facts()
    facts.absorb({"model": "a"})
    facts.absorb({"model": "b", "error": "first"})
    facts.absorb({"error": "second"})
    facts.absorb({"model": "c"})
    assert (facts.model, facts.error) == ("a", "first")


@pytest.mark.parametrize(
    ("value", "learned"),
    [
        ("https://ollama.com:443", "https://ollama.com:443"),
        ("", None),
        (42, None),
        ("bad host", None),
        ("h\u00e9", None),
        ("x" * 257, None),
    ],
)
def test_remote_host_is_learned_only_when_sane(value: object, learned: str | None) -> None:
    facts = Facts()
    facts.absorb({"model": "gpt-oss:120b-cloud", "remote_host": value})
    assert facts.remote_host == learned


def _payloads(stream: wire.Stream) -> list[bytes]:
    if stream.framing is Framing.NDJSON:
        return [u.rstrip(b"\n") for u in stream.units]
    return [
        line.removeprefix(b"data: ")
        for unit in stream.units
        for line in unit.split(b"\n")
        if line.startswith(b"data: ")
    ]


@pytest.mark.parametrize("stream", wire.STREAMS, ids=lambda s: s.name)
def test_byte_checks_agree_with_decoding(stream: wire.Stream) -> None:
    fast = native_fast if stream.framing is Framing.NDJSON else openai_fast
    decided = 0
    for payload in _payloads(stream):
        content = fast(payload)
        if content is not None:
            obj = decode_object(payload)
            assert obj is not None
            assert content == Facts().absorb(obj), payload
            decided += 1
    assert decided > 0


@pytest.mark.parametrize(
    "line",
    [
        b'{"model":"m","response":"","done":true}',
        b'{"model": "m", "response": "", "done": true}',
        b'{"error":"boom"}',
        b"not json",
        b'{"response":"x"',
    ],
)
def test_native_lines_that_need_decoding(line: bytes) -> None:
    assert native_fast(line) is None


@pytest.mark.parametrize(
    "data",
    [
        b'{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}',
        b'{"choices":[{"index":0,"delta":{}, "finish_reason": "stop"}]}',
        b'{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}',
        b'{"choices":[],"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}}',
        b'{"error":{"message":"boom"}}',
        b"[DONE]",
    ],
)
def test_openai_chunks_that_need_decoding(data: bytes) -> None:
    assert openai_fast(data) is None


def test_zero_filled_usage_beside_content_needs_no_decoding() -> None:
    data = wire.OPENAI_COMPLETIONS.units[0].removeprefix(b"data: ").rstrip(b"\n")
    assert openai_fast(data) is True


_TEXT = st.text(st.characters(codec="utf-8"), max_size=6)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["response", "thinking", "message.content", "message.thinking"]),
    _TEXT,
    st.booleans(),
)
def test_native_content_check_matches_decoding(key: str, text: str, spaced: bool) -> None:
    obj: dict[str, object] = {"model": "m", "created_at": "t", "done": False}
    if key.startswith("message."):
        obj["message"] = {"role": "assistant", "content": "", key.split(".")[1]: text}
    else:
        obj["response"] = ""
        obj[key] = text
    seps = (", ", ": ") if spaced else (",", ":")
    line = json.dumps(obj, separators=seps, ensure_ascii=False).encode()
    content = Facts().absorb(obj)
    assert content == bool(text)
    fast = native_fast(line)
    # Spaced JSON takes the decode path; compact JSON never needs it for a token chunk.
    assert fast == content or fast is None
    assert fast is not None or spaced


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["content", "reasoning", "text"]), _TEXT, st.booleans())
def test_openai_content_check_matches_decoding(key: str, text: str, spaced: bool) -> None:
    choice: dict[str, object] = {"index": 0, "finish_reason": None}
    if key == "text":
        choice["text"] = text
    else:
        choice["delta"] = {"role": "assistant", "content": "", key: text}
    obj: dict[str, object] = {"id": "chatcmpl-1", "model": "m", "choices": [choice]}
    seps = (", ", ": ") if spaced else (",", ":")
    data = json.dumps(obj, separators=seps, ensure_ascii=False).encode()
    content = Facts().absorb(obj)
    assert content == bool(text)
    fast = openai_fast(data)
    assert fast == content or fast is None
    assert fast is not None or spaced or "usage" in text
