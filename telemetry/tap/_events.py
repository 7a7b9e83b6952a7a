"""Typed SSE events: the OpenAI Responses API (`/v1/responses`) and Anthropic (`/v1/messages`).

Both wrap every event in an object whose `type` names it, instead of the chat-completion chunk
shape. Only the events that carry content, usage, a stop reason or the end are read; the rest
(`response.created`, `content_block_start`, `ping`, ...) carry nothing the tap reports.
Anthropic's `{"type":"error","error":{...}}` is read by `Facts.absorb` like any `error` key; the
Responses API's `error` event (message at top level) and `response.failed` are read here.
"""

from __future__ import annotations

from typing import Protocol, cast


class Facts(Protocol):
    """What these events update of the tap's summary (`telemetry.tap._facts.Facts`)."""

    done_seen: bool
    done_reason: str | None
    error: str | None
    input_tokens: int | None
    output_tokens: int | None
    model: str | None


RESPONSES_DELTAS = frozenset(
    {
        "response.output_text.delta",
        "response.reasoning_text.delta",
        "response.reasoning_summary_text.delta",
        "response.function_call_arguments.delta",
    }
)
MAX_ERROR_CHARS = 1000
_RESPONSES_ENDS = frozenset({"response.completed", "response.incomplete"})
_ANTHROPIC_DELTA_KEYS = ("text", "thinking", "partial_json")
TYPED_EVENTS = (
    RESPONSES_DELTAS
    | _RESPONSES_ENDS
    | {
        "response.failed",
        "error",
        "content_block_delta",
        "message_start",
        "message_delta",
        "message_stop",
    }
)


def absorb_typed(facts: Facts, kind: str, obj: dict[str, object]) -> bool:
    """Learn from one event whose `type` is in TYPED_EVENTS; True when it carried content."""
    if kind in RESPONSES_DELTAS:
        return nonempty(obj.get("delta"))
    if kind == "content_block_delta":
        delta = mapping(obj.get("delta"))
        return any(nonempty(delta.get(key)) for key in _ANTHROPIC_DELTA_KEYS)
    if kind in _RESPONSES_ENDS:
        response = mapping(obj.get("response"))
        facts.done_seen = True
        status = response.get("status")
        if isinstance(status, str) and status:
            facts.done_reason = status
        _model(facts, response.get("model"))
        _usage(facts, response.get("usage"))
    elif kind == "response.failed":
        _error(facts, mapping(mapping(obj.get("response")).get("error")).get("message"))
    elif kind == "error":
        _error(facts, obj.get("message"))
    elif kind == "message_start":
        message = mapping(obj.get("message"))
        _model(facts, message.get("model"))
        _usage(facts, message.get("usage"))
    elif kind == "message_delta":
        reason = mapping(obj.get("delta")).get("stop_reason")
        if isinstance(reason, str) and reason:
            facts.done_reason = reason
        _usage(facts, obj.get("usage"))
    elif kind == "message_stop":
        facts.done_seen = True
    return False


def _error(facts: Facts, message: object) -> None:
    if facts.error is None:
        facts.error = (
            message[:MAX_ERROR_CHARS] if isinstance(message, str) and message else "response failed"
        )


def _usage(facts: Facts, usage: object) -> None:
    usage = mapping(usage)
    if "input_tokens" in usage:
        facts.input_tokens = count(usage["input_tokens"])
    if "output_tokens" in usage:
        facts.output_tokens = count(usage["output_tokens"])


def _model(facts: Facts, model: object) -> None:
    if facts.model is None and isinstance(model, str) and model:
        facts.model = model


def mapping(value: object) -> dict[str, object]:
    """`value` when it is a JSON object, else an empty one."""
    return cast(dict[str, object], value) if isinstance(value, dict) else {}


def nonempty(value: object) -> bool:
    """True for a non-empty string."""
    return isinstance(value, str) and value != ""


def count(value: object) -> int | None:
    """`value` when it is a non-negative integer (a count or a duration), else None."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None
