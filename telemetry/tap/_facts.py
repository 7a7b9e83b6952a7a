"""What the tap learns from decoded response objects, native Ollama and OpenAI-compatible alike.

The two shapes use disjoint keys (`done`, `prompt_eval_count`, `message` versus `choices`,
`usage`), so one accumulator reads both and the framing only decides how objects are cut out
of the body. Typed events (`/v1/responses`, `/v1/messages`) are handed to `_events`.
Every field is optional on the wire (ollama-api.md §5): anything absent or of the wrong type
is simply not learned.

The byte checks at the bottom serve the hot path: once the first content is seen, ordinary
token chunks are classified without decoding them (see docs/decisions/0004-stream-tap.md).
"""

from __future__ import annotations

import json
from typing import cast

from telemetry.core._record import remote_host_of
from telemetry.tap._events import (
    MAX_ERROR_CHARS,
    RESPONSES_DELTAS,
    TYPED_EVENTS,
    absorb_typed,
    count,
    nonempty,
)

_PLACEHOLDER_REASONS = frozenset({"load", "unload"})


class Facts:
    """Mutable summary of one response, fed object by object."""

    __slots__ = (
        "content_chunks",
        "done_reason",
        "done_seen",
        "error",
        "eval_ns",
        "input_tokens",
        "load_ns",
        "malformed",
        "model",
        "output_tokens",
        "prompt_eval_ns",
        "remote_host",
        "total_ns",
    )

    def __init__(self) -> None:
        self.done_seen = False
        self.done_reason: str | None = None
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.total_ns: int | None = None
        self.load_ns: int | None = None
        self.prompt_eval_ns: int | None = None
        self.eval_ns: int | None = None
        self.error: str | None = None
        self.content_chunks = 0
        self.malformed = False
        self.model: str | None = None
        self.remote_host: str | None = None

    @property
    def tokens_apply(self) -> bool:
        """False for load/unload calls, which produce no tokens (ollama-api.md §6)."""
        return self.done_reason not in _PLACEHOLDER_REASONS

    def absorb(self, obj: dict[str, object]) -> bool:
        """Learn from one decoded object; True when it carried content."""
        err = obj.get("error")
        if err is not None:
            if self.error is None:
                self.error = _error_message(err)
            return False
        model = obj.get("model")
        if self.model is None and isinstance(model, str) and model:
            self.model = model
        if self.remote_host is None and "remote_host" in obj:
            self.remote_host = remote_host_of(obj["remote_host"])
        kind = obj.get("type")
        if isinstance(kind, str) and kind in TYPED_EVENTS:
            content = absorb_typed(self, kind, obj)
            self.content_chunks += content
            return content
        self._native(obj)
        self._finish_fields(obj)
        choices = obj.get("choices")
        content = _native_content(obj)
        if isinstance(choices, list):
            content = self._choices(choices) or content
        self._usage(obj.get("usage"), has_choices=bool(choices))
        if content:
            self.content_chunks += 1
        return content

    def _native(self, obj: dict[str, object]) -> None:
        if obj.get("done") is True:
            self.done_seen = True
            reason = obj.get("done_reason")
            if isinstance(reason, str) and reason:
                self.done_reason = reason
        if "prompt_eval_count" in obj:
            self.input_tokens = count(obj["prompt_eval_count"])
        if "eval_count" in obj:
            self.output_tokens = count(obj["eval_count"])
        if "total_duration" in obj:
            self.total_ns = count(obj["total_duration"])
        if "load_duration" in obj:
            self.load_ns = count(obj["load_duration"])
        if "prompt_eval_duration" in obj:
            self.prompt_eval_ns = count(obj["prompt_eval_duration"])
        if "eval_duration" in obj:
            self.eval_ns = count(obj["eval_duration"])

    def _finish_fields(self, obj: dict[str, object]) -> None:
        # Non-streaming Anthropic messages and Responses API objects.
        reason = obj.get("stop_reason")
        if obj.get("object") == "response":
            reason = obj.get("status")
        if isinstance(reason, str) and reason:
            self.done_reason = reason

    def _choices(self, choices: list[object]) -> bool:
        content = False
        for choice in choices:
            if not isinstance(choice, dict):
                continue
            choice = cast(dict[str, object], choice)
            reason = choice.get("finish_reason")
            if isinstance(reason, str) and reason:
                self.done_seen = True
                self.done_reason = reason
            if nonempty(choice.get("text")):
                content = True
            for key in ("delta", "message"):
                part = choice.get(key)
                if isinstance(part, dict) and _openai_part_content(cast(dict[str, object], part)):
                    content = True
        return content

    def _usage(self, usage: object, *, has_choices: bool) -> None:
        if not isinstance(usage, dict):
            return
        usage = cast(dict[str, object], usage)
        prompt = count(usage.get("prompt_tokens", usage.get("input_tokens")))
        completion = count(usage.get("completion_tokens", usage.get("output_tokens")))
        # /v1/completions puts a zero-filled usage on every content chunk; the real numbers come
        # in a later `choices: []` chunk. A zero usage beside content is a placeholder.
        if has_choices and not prompt and not completion:
            return
        self.input_tokens = prompt
        self.output_tokens = completion


def decode_object(raw: bytes) -> dict[str, object] | None:
    """The JSON object in `raw`, or None when it is not valid JSON or not an object."""
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return cast(dict[str, object], obj) if isinstance(obj, dict) else None


def _nonempty_list(value: object) -> bool:
    return isinstance(value, list) and len(value) > 0


def _native_content(obj: dict[str, object]) -> bool:
    if nonempty(obj.get("response")) or nonempty(obj.get("thinking")):
        return True
    message = obj.get("message")
    if not isinstance(message, dict):
        return False
    return (
        nonempty(message.get("content"))
        or nonempty(message.get("thinking"))
        or _nonempty_list(message.get("tool_calls"))
    )


def _openai_part_content(part: dict[str, object]) -> bool:
    return (
        nonempty(part.get("content"))
        or nonempty(part.get("reasoning"))
        or _nonempty_list(part.get("tool_calls"))
    )


def _error_message(err: object) -> str:
    message: object = err
    if isinstance(err, dict):
        message = err.get("message") or err.get("type")
    if not isinstance(message, str) or not message:
        return "unknown error"
    return message[:MAX_ERROR_CHARS]


# Hot-path byte checks, used once the first content is seen. They accept only compact JSON as
# Ollama writes it (Go's encoder); anything else, including spaced JSON, takes the decode path.
# Inside a JSON string every quote is escaped, so `"key":"` can only match a real key, never text
# that mentions it; a false "needs decoding" only costs a decode.
_NATIVE_TEXT_KEYS = (b'"response":"', b'"content":"', b'"thinking":"')
_OPENAI_TEXT_KEYS = (b'"content":"', b'"text":"', b'"reasoning":"')
_ANTHROPIC_TEXT_KEYS = (b'"text":"', b'"thinking":"', b'"partial_json":"')
_RESPONSES_DELTAS = tuple(b'{"type":"' + kind.encode() + b'"' for kind in RESPONSES_DELTAS)
_ZERO_USAGE = b'"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}'


def native_fast(line: bytes) -> bool | None:
    """Whether an ordinary native token chunk carries content; None when it needs decoding.

    Only a `"done":false` chunk is ordinary: the final chunk says `"done":true` and an error
    line has no `done` at all.
    """
    if line[:1] != b"{" or line[-1:] != b"}" or b'"done":false' not in line:
        return None
    return _has_text(line, _NATIVE_TEXT_KEYS)


def openai_fast(data: bytes) -> bool | None:
    """Whether an ordinary OpenAI chunk carries content; None when it needs decoding.

    Needs decoding: a chunk without a null finish_reason (a finish, an error, the usage chunk),
    or with a usage other than the zero-filled placeholder that /v1/completions puts on every
    content chunk; of the typed events (`/v1/responses`, `/v1/messages`), every kind but the
    content deltas.
    """
    if data.startswith(b'{"type":"'):
        if data[-1:] != b"}":
            return None
        if data.startswith(_RESPONSES_DELTAS):
            return _has_text(data, (b'"delta":"',))
        if data.startswith(b'{"type":"content_block_delta"'):
            return _has_text(data, _ANTHROPIC_TEXT_KEYS)
        return None
    # Ollama sends one choice per chunk, so a null finish_reason means "not finished"; error
    # objects have no choices. A usage beside it is only skipped when it is the placeholder.
    if (
        data[:1] != b"{"
        or data[-1:] != b"}"
        or b'"finish_reason":null' not in data
        or (b'"usage"' in data and _ZERO_USAGE not in data)
    ):
        return None
    return _has_text(data, _OPENAI_TEXT_KEYS)


def _has_text(raw: bytes, keys: tuple[bytes, ...]) -> bool:
    for key in keys:
        at = raw.find(key)
        if at >= 0 and raw[at + len(key) : at + len(key) + 1] != b'"':
            return True
    at = raw.find(b'"tool_calls":[')
    return at >= 0 and raw[at + 14 : at + 15] != b"]"
