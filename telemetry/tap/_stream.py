"""The stream tap: a sans-IO reader of Ollama response bodies.

The proxy forwards every response chunk to the client first and then hands the same bytes to
`StreamTap.feed`. The tap does no I/O and reads no clock: bytes in, facts out. `feed` tells the
proxy when the first content-bearing object completed (its time-to-first-token moment);
`finish` summarises the response as a `TapResult`.

Framings (ollama-api.md §3, §10):

- NDJSON: native `/api/generate` and `/api/chat` streams, one object per `\\n`-terminated line.
- SSE: OpenAI-compatible `/v1` streams, `data: <json>` events separated by blank lines.
- JSON: any non-streaming reply, one object for the whole body.

The tap never raises on what upstream sends: garbage is reported as `malformed`, over-long
lines and bodies are dropped unparsed, and memory stays bounded by `max_line_bytes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from telemetry.core._record import OllamaTimings
from telemetry.tap._facts import Facts, decode_object, native_fast, openai_fast
from telemetry.tap._lines import LineSplitter

DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024


class Framing(StrEnum):
    """How a response body is cut into objects."""

    NDJSON = "ndjson"
    SSE = "sse"
    JSON = "json"
    OTHER = "other"


_MEDIA_TYPES = {
    "application/x-ndjson": Framing.NDJSON,
    "text/event-stream": Framing.SSE,
    "application/json": Framing.JSON,
}


def framing_for(content_type: str | None) -> Framing:
    """The framing of a response with this `Content-Type` header; OTHER when the tap ignores it."""
    if not content_type:
        return Framing.OTHER
    media_type = content_type.split(";", 1)[0].strip().lower()
    return _MEDIA_TYPES.get(media_type, Framing.OTHER)


@dataclass(frozen=True, slots=True)
class TapResult:
    """What one response body said about the request. Holds no prompt or completion text."""

    done: bool
    done_reason: str | None
    input_tokens: int | None
    output_tokens: int | None
    timings: OllamaTimings
    error: str | None
    content_chunks: int
    malformed: bool
    response_model: str | None
    remote_host: str | None = None


class StreamTap:
    """Reads one response body, fed in chunks cut anywhere. Not thread-safe; one per response."""

    __slots__ = (
        "_body",
        "_body_over",
        "_content",
        "_data",
        "_data_size",
        "_event_over",
        "_facts",
        "_framing",
        "_lines",
        "_max",
        "_result",
    )

    def __init__(self, framing: Framing, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        self._framing = framing
        self._max = max_line_bytes
        self._lines = LineSplitter(max_line_bytes)
        self._facts = Facts()
        self._content = False
        self._result: TapResult | None = None
        self._body = bytearray()
        self._body_over = False
        self._data: list[bytes] = []
        self._data_size = 0
        self._event_over = False

    def feed(self, data: bytes) -> bool:
        """Consume the next bytes of the body.

        True exactly once per stream: for the call in which the first content-bearing object
        completed. Always False for JSON and OTHER framings and after `finish`.
        """
        if self._result is not None or not data:
            return False
        framing = self._framing
        if framing is Framing.NDJSON:
            before = self._content
            for line in self._lines.split(data):
                self._ndjson_line(line)
            return self._content and not before
        if framing is Framing.SSE:
            before = self._content
            for line in self._lines.split(data):
                self._sse_line(line)
            return self._content and not before
        if framing is Framing.JSON:
            self._json_chunk(data)
        return False

    @property
    def remote_host(self) -> str | None:
        """The `remote_host` a line so far named: a cloud model answers on another host."""
        return self._facts.remote_host

    def finish(self) -> TapResult:
        """End of body: process a trailing unterminated line or event, then summarise."""
        if self._result is not None:
            return self._result
        if self._framing is Framing.NDJSON:
            tail = self._lines.tail()
            if tail is not None:
                self._ndjson_line(tail)
        elif self._framing is Framing.SSE:
            tail = self._lines.tail()
            if tail is not None:
                self._sse_line(tail)
            self._dispatch()
        elif self._framing is Framing.JSON:
            self._json_body()
        self._result = self._summary()
        return self._result

    def _ndjson_line(self, line: bytes) -> None:
        facts = self._facts
        if self._content:
            content = native_fast(line)
            if content is not None:
                facts.content_chunks += content
                return
        line = line.strip()
        if not line:
            return
        obj = decode_object(line)
        if obj is None:
            facts.malformed = True
        elif facts.absorb(obj):
            self._content = True

    def _sse_line(self, line: bytes) -> None:
        if line.endswith(b"\r"):
            line = line[:-1]
        if line.startswith(b"data: "):
            self._add_data(line[6:])
        elif line.startswith(b"data:"):
            self._add_data(line[5:])
        elif not line:
            self._dispatch()
        elif line == b"data":
            self._add_data(b"")
        # Comments (":...") and the other fields (event, id, retry) carry nothing we read.

    def _add_data(self, value: bytes) -> None:
        if self._event_over:
            return
        self._data_size += len(value) + 1
        if self._data_size > self._max:
            self._event_over = True
            self._data.clear()
        else:
            self._data.append(value)

    def _dispatch(self) -> None:
        data = self._data
        if not data:
            self._event_over = False
            self._data_size = 0
            return
        payload = data[0] if len(data) == 1 else b"\n".join(data)
        data.clear()
        self._data_size = 0
        self._sse_payload(payload)

    def _sse_payload(self, payload: bytes) -> None:
        facts = self._facts
        if self._content:
            content = openai_fast(payload)
            if content is not None:
                facts.content_chunks += content
                return
        payload = payload.strip()
        if not payload:
            return
        if payload == b"[DONE]":
            facts.done_seen = True
            return
        obj = decode_object(payload)
        if obj is None:
            facts.malformed = True
        elif facts.absorb(obj):
            self._content = True

    def _json_chunk(self, data: bytes) -> None:
        if self._body_over:
            return
        if len(self._body) + len(data) > self._max:
            self._body_over = True
            self._body = bytearray()
        else:
            self._body += data

    def _json_body(self) -> None:
        body = bytes(self._body).strip()
        self._body = bytearray()
        if self._body_over:
            # Too large to read (a big embedding batch): complete as far as the tap can tell;
            # the status code judges it.
            self._facts.done_seen = True
            return
        if not body:
            return
        facts = self._facts
        obj = decode_object(body)
        if obj is None:
            facts.malformed = True
            return
        facts.absorb(obj)
        facts.done_seen = True

    def _summary(self) -> TapResult:
        facts = self._facts
        tokens = facts.tokens_apply
        return TapResult(
            done=facts.done_seen and facts.error is None,
            done_reason=facts.done_reason,
            input_tokens=facts.input_tokens if tokens else None,
            output_tokens=facts.output_tokens if tokens else None,
            timings=OllamaTimings(
                total_ns=facts.total_ns,
                load_ns=facts.load_ns,
                prompt_eval_ns=facts.prompt_eval_ns,
                eval_ns=facts.eval_ns,
            ),
            error=facts.error,
            content_chunks=facts.content_chunks,
            malformed=facts.malformed,
            response_model=facts.model,
            remote_host=facts.remote_host,
        )
