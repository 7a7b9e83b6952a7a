"""One load-test request: build the body for its API, send it, read the stream, time it.

TTFT is the time from sending the request to the first chunk with content (answer or thinking
text). The tier's timeouts are enforced here, on the client side, so a target that never times
out itself (Ollama direct) is judged like the sidecar: no first token within `ttft` seconds, or no
end within `total` seconds, and the request is abandoned and counted as a timeout. The sidecar's
own 504 and its mid-stream timeout line count as timeouts too. A non-streamed request shows no
first token (Ollama sends the answer whole), so only the total timeout applies to it.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp

from telemetry.app.loadtest._matrix import RunSpec
from telemetry.app.loadtest._prompts import prompt_text
from telemetry.proxy._exchange import TIMEOUT_MESSAGE_PREFIX

Outcome = Literal["ok", "timeout", "error"]
PATHS = {"generate": "/api/generate", "chat": "/api/chat", "openai": "/v1/chat/completions"}


@dataclass(frozen=True, slots=True)
class Sample:
    """How one request went. `started` and `elapsed` are seconds (run start, request start);
    `kind` says why a request failed ("" when ok). `ttft` is None when nothing was streamed.
    `server_ttft` is Ollama's own `load_duration + prompt_eval_duration`, when it says so."""

    started: float
    elapsed: float
    outcome: Outcome
    kind: str
    ttft: float | None
    output_tokens: int | None
    prompt_tokens: int | None
    tokens_per_second: float | None
    server_ttft: float | None = None


class _Failed(Exception):
    def __init__(self, outcome: Outcome, kind: str) -> None:
        super().__init__(kind)
        self.outcome: Outcome = outcome
        self.kind = kind


def request_body(spec: RunSpec, index: int) -> dict[str, Any]:
    prompt = prompt_text(spec.prompt_tokens, index)
    if spec.api == "generate":
        return {
            "model": spec.model,
            "prompt": prompt,
            "stream": spec.stream,
            "options": {"num_predict": spec.output_tokens},
        }
    messages = [{"role": "user", "content": prompt}]
    if spec.api == "chat":
        return {
            "model": spec.model,
            "messages": messages,
            "stream": spec.stream,
            "options": {"num_predict": spec.output_tokens},
        }
    body: dict[str, Any] = {
        "model": spec.model,
        "messages": messages,
        "stream": spec.stream,
        "max_tokens": spec.output_tokens,
    }
    if spec.stream:
        body["stream_options"] = {"include_usage": True}
    return body


class _Reading:
    """What the answer said so far: first-token time, token counts, Ollama's eval timings."""

    def __init__(self, t0: float) -> None:
        self.t0 = t0
        self.ttft: float | None = None
        self.done = False
        self.output_tokens: int | None = None
        self.prompt_tokens: int | None = None
        self.eval_seconds: float | None = None
        self.server_ttft: float | None = None

    def content(self) -> None:
        if self.ttft is None:
            self.ttft = time.perf_counter() - self.t0

    def native(self, obj: dict[str, Any]) -> None:
        error = obj.get("error")
        if error is not None:
            raise _error_line(error)
        message = obj.get("message")
        text = obj.get("response") or obj.get("thinking")
        if isinstance(message, dict):
            text = text or message.get("content") or message.get("thinking")
        if text:
            self.content()
        if obj.get("done") is True:
            self.done = True
            self.output_tokens = _int(obj.get("eval_count"))
            self.prompt_tokens = _int(obj.get("prompt_eval_count"))
            duration = _int(obj.get("eval_duration"))
            self.eval_seconds = duration / 1e9 if duration else None
            prefill = [_int(obj.get(k)) for k in ("load_duration", "prompt_eval_duration")]
            if any(prefill):
                self.server_ttft = sum(n or 0 for n in prefill) / 1e9

    def openai(self, obj: dict[str, Any]) -> None:
        error = obj.get("error")
        if error is not None:
            message = error.get("message") if isinstance(error, dict) else error
            raise _error_line(message)
        for choice in obj.get("choices") or ():
            delta = choice.get("delta") or choice.get("message") or {}
            if delta.get("content") or delta.get("reasoning"):
                self.content()
            if choice.get("finish_reason"):
                self.done = True
        usage = obj.get("usage")
        if isinstance(usage, dict):
            self.output_tokens = _int(usage.get("completion_tokens")) or self.output_tokens
            self.prompt_tokens = _int(usage.get("prompt_tokens")) or self.prompt_tokens

    def tokens_per_second(self, elapsed: float) -> float | None:
        """Ollama's `eval_count / eval_duration` when the answer has them, else tokens over
        the time after the first token."""
        if self.output_tokens and self.eval_seconds:
            return self.output_tokens / self.eval_seconds
        if self.output_tokens and self.output_tokens > 1 and self.ttft is not None:
            decode = elapsed - self.ttft
            return (self.output_tokens - 1) / decode if decode > 0 else None
        return None


def _error_line(message: object) -> _Failed:
    if isinstance(message, str) and message.startswith(TIMEOUT_MESSAGE_PREFIX):
        return _Failed("timeout", "sidecar_timeout")
    return _Failed("error", "stream_error")


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


async def send(
    session: aiohttp.ClientSession,
    target: str,
    spec: RunSpec,
    index: int,
    run_start: float,
    headers: dict[str, str] | None = None,
) -> Sample:
    """Send request `index` of the run; never raises for what the target did."""
    timeouts = spec.tier.timeouts
    loop = asyncio.get_running_loop()
    t0 = time.perf_counter()
    reading = _Reading(t0)
    start = loop.time()
    first_at = start + min(timeouts.ttft, timeouts.total) if spec.stream else start + timeouts.total
    outcome: Outcome = "ok"
    kind = ""
    try:
        async with asyncio.timeout_at(first_at) as deadline:
            async with session.post(
                target + PATHS[spec.api], json=request_body(spec, index), headers=headers
            ) as response:
                await _read(response, spec, reading, deadline, start + timeouts.total)
    except TimeoutError:
        outcome, kind = "timeout", "ttft_timeout" if reading.ttft is None else "total_timeout"
        if not spec.stream:
            kind = "total_timeout"
    except _Failed as failed:
        outcome, kind = failed.outcome, failed.kind
    except (aiohttp.ClientError, ConnectionError, ValueError):
        outcome, kind = "error", "connection"
    elapsed = time.perf_counter() - t0
    return Sample(
        started=t0 - run_start,
        elapsed=elapsed,
        outcome=outcome,
        kind=kind,
        ttft=reading.ttft,
        output_tokens=reading.output_tokens,
        prompt_tokens=reading.prompt_tokens,
        tokens_per_second=reading.tokens_per_second(elapsed) if outcome == "ok" else None,
        server_ttft=reading.server_ttft,
    )


async def _read(
    response: aiohttp.ClientResponse,
    spec: RunSpec,
    reading: _Reading,
    deadline: asyncio.Timeout,
    total_at: float,
) -> None:
    if response.status == 504:
        raise _Failed("timeout", "gateway_timeout")
    if response.status != 200:
        raise _Failed("error", f"http_{response.status}")
    if not spec.stream:
        deadline.reschedule(total_at)
        obj = _json(await response.read())
        (reading.openai if spec.api == "openai" else reading.native)(obj)
        reading.done, reading.ttft = True, None  # the whole answer at once: no first token
        return
    async for raw in response.content:
        line = raw.strip()
        if not line:
            continue
        if spec.api == "openai":
            if not line.startswith(b"data:"):
                continue
            payload = line[5:].strip()
            if payload == b"[DONE]":
                reading.done = True
                break
            reading.openai(_json(payload))
        else:
            reading.native(_json(line))
        if reading.ttft is not None:
            deadline.reschedule(total_at)
    if not reading.done:
        raise _Failed("error", "incomplete")


def _json(raw: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _Failed("error", "malformed") from exc
    if not isinstance(obj, dict):
        raise _Failed("error", "malformed")
    return obj
