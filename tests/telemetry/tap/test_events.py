from __future__ import annotations

import pytest

from telemetry.tap._events import TYPED_EVENTS, absorb_typed, count, mapping, nonempty
from telemetry.tap._facts import Facts


def test_incomplete_response_ends_with_its_status() -> None:
    facts = Facts()
    event: dict[str, object] = {
        "type": "response.incomplete",
        "response": {
            "status": "incomplete",
            "model": "llama3.2",
            "usage": {"input_tokens": 5, "output_tokens": 64},
        },
    }
    assert absorb_typed(facts, "response.incomplete", event) is False
    assert (facts.done_seen, facts.done_reason, facts.model) == (True, "incomplete", "llama3.2")
    assert (facts.input_tokens, facts.output_tokens) == (5, 64)


def test_failed_response_without_message() -> None:
    facts = Facts()
    absorb_typed(facts, "response.failed", {"type": "response.failed", "response": None})
    assert facts.error == "response failed" and not facts.done_seen


def test_responses_error_event_and_first_error_wins() -> None:
    facts = Facts()
    event: dict[str, object] = {"type": "error", "code": "ERR", "message": "bad", "param": None}
    absorb_typed(facts, "error", event)
    absorb_typed(facts, "response.failed", {"response": {"error": {"message": "later"}}})
    assert facts.error == "bad"


def test_anthropic_usage_is_kept_across_events() -> None:
    facts = Facts()
    absorb_typed(facts, "message_start", {"message": {"usage": {"input_tokens": 7}}})
    absorb_typed(
        facts,
        "message_delta",
        {"delta": {"stop_reason": "max_tokens"}, "usage": {"output_tokens": 3}},
    )
    assert (facts.input_tokens, facts.output_tokens, facts.done_reason) == (7, 3, "max_tokens")
    assert not facts.done_seen
    absorb_typed(facts, "message_stop", {"type": "message_stop"})
    assert facts.done_seen


@pytest.mark.parametrize(
    ("kind", "event", "content"),
    [
        ("response.output_text.delta", {"delta": "x"}, True),
        ("response.function_call_arguments.delta", {"delta": '{"a"'}, True),
        ("response.output_text.delta", {"delta": ""}, False),
        ("response.output_text.delta", {"delta": 5}, False),
        ("content_block_delta", {"delta": {"type": "thinking_delta", "thinking": "hm"}}, True),
        ("content_block_delta", {"delta": {"type": "input_json_delta", "partial_json": "{"}}, True),
        ("content_block_delta", {"delta": "text"}, False),
        ("message_start", {"message": []}, False),
    ],
)
def test_content_deltas(kind: str, event: dict[str, object], content: bool) -> None:
    assert kind in TYPED_EVENTS
    assert absorb_typed(Facts(), kind, event) is content


def test_helpers() -> None:
    assert (count(3), count(-1), count(True), count(2.0), count("3")) == (3, None, None, None, None)
    assert (nonempty("a"), nonempty(""), nonempty(None)) == (True, False, False)
    assert (mapping({"a": 1}), mapping([1])) == ({"a": 1}, {})
