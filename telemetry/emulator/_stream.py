"""One emulated inference: fault selection, pacing, Ollama-style timings, and the chunk writer.

Timing model (all measured, not invented): `load_duration` runs from handler entry until the
model is "scheduled" (a `load_seconds` sleep when the model was not loaded, or always under the
`slow_load` fault), `prompt_eval_duration` is the `ttft_seconds` sleep, and tokens then leave at
`tokens_per_second`, each written and flushed on its own. Faults that act mid-stream are injected
by `ChunkStream` after `fault_after_chunks` chunks, or just before the final chunk at the latest.
"""

from __future__ import annotations

import fnmatch
import math
import socket
import struct
import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from telemetry.core._errors import SidecarError
from telemetry.emulator._config import FAULTS, EmulatedModel
from telemetry.emulator._state import EmulatorState
from telemetry.emulator._wire import (
    ApiError,
    BadRequest,
    error_response,
    field_of,
    openai_error,
    pause,
    token_text,
)

FAULT_HEADER = "X-Emulator-Fault"
FAULT_AFTER_HEADER = "X-Emulator-Fault-After"
MIDSTREAM = frozenset({"error_midstream", "stall_midstream", "garbage", "disconnect"})
BUSY_MESSAGE = "server busy, please try again.  maximum pending requests exceeded"
GARBAGE = b"\xff\xfe<html>502 Bad Gateway</html> not JSON"


def select_fault(request: web.Request, state: EmulatorState, model: str) -> str | None:
    """The header wins (`none` switches a global fault off); else the global fault if it applies."""
    header = request.headers.get(FAULT_HEADER)
    if header is not None:
        name = header.strip()
        if name in ("", "none"):
            return None
        if name not in FAULTS:
            raise BadRequest(f"unknown emulator fault {name!r}; known: {', '.join(FAULTS)}")
        return name
    config = state.config
    if config.fault is None:
        return None
    if config.fault_models and not any(fnmatch.fnmatchcase(model, g) for g in config.fault_models):
        return None
    if config.fault_share < 1 and state.rng.random() >= config.fault_share:
        return None
    return config.fault


def fault_after(request: web.Request, state: EmulatorState) -> int:
    header = request.headers.get(FAULT_AFTER_HEADER)
    if header is not None and header.strip().isdigit():
        return int(header)
    return state.config.fault_after_chunks


async def before_response(
    request: web.Request, state: EmulatorState, fault: str | None, *, openai: bool
) -> web.Response | None:
    """Faults that act before any byte is sent; `None` means carry on."""
    if fault == "stall_before":
        await pause(request, state.config.stall_seconds)
        return None
    if fault == "busy":
        return openai_error(503, BUSY_MESSAGE) if openai else error_response(503, BUSY_MESSAGE)
    if fault == "error_before":
        message = "emulated fault: error_before"
        return openai_error(500, message) if openai else error_response(500, message)
    return None


class EmulatedDisconnect(ConnectionResetError):
    """The emulator itself dropped the connection (a fault), so the client did not cancel."""


def abort_connection(request: web.Request) -> None:
    """Reset the TCP connection (RST, not FIN) so the client sees a broken stream."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def fault_instead_of_body(
    request: web.Request, state: EmulatorState, fault: str | None, *, openai: bool
) -> web.StreamResponse | None:
    """A mid-stream fault on a non-streaming request: it hits before the single body."""
    if fault == "error_midstream":
        message = "emulated fault: error_midstream"
        return openai_error(500, message) if openai else error_response(500, message)
    if fault == "garbage":
        return web.Response(
            body=GARBAGE, headers={"Content-Type": "application/json; charset=utf-8"}
        )
    if fault == "stall_midstream":
        await pause(request, state.config.stall_seconds)
        abort_connection(request)
        raise EmulatedDisconnect("stalled request closed")
    if fault == "disconnect":
        abort_connection(request)
        raise EmulatedDisconnect("emulated disconnect")
    return None


class StreamStopped(SidecarError):
    """A mid-stream fault ended the stream; the handler returns the response as it is."""


class ChunkStream:
    """Writes chunks one at a time and injects the request's mid-stream fault."""

    def __init__(
        self,
        request: web.Request,
        state: EmulatorState,
        fault: str | None,
        *,
        content_type: str,
        error_chunk: bytes,
        garbage_chunk: bytes,
    ) -> None:
        self.request = request
        self.response = web.StreamResponse(headers={"Content-Type": content_type})
        self._state = state
        self._fault = fault if fault in MIDSTREAM else None
        self._after = fault_after(request, state)
        self._error_chunk = error_chunk
        self._garbage_chunk = garbage_chunk
        self._sent = 0

    async def start(self) -> None:
        await self.response.prepare(self.request)

    async def send(self, chunk: bytes) -> None:
        if self._fault is not None and self._sent >= self._after:
            await self._trigger()
        await self.response.write(chunk)
        self._sent += 1

    async def end(self, *chunks: bytes) -> None:
        if self._fault is not None:
            await self._trigger()
        for chunk in chunks:
            await self.response.write(chunk)
        await self.response.write_eof()

    async def _trigger(self) -> None:
        fault = self._fault
        if fault == "error_midstream":
            await self.response.write(self._error_chunk)
        elif fault == "garbage":
            await self.response.write(self._garbage_chunk)
        elif fault == "stall_midstream":
            await pause(self.request, self._state.config.stall_seconds)
        elif fault == "disconnect":
            abort_connection(self.request)
        raise StreamStopped(fault)


class Generation:
    """Paces one request's tokens and measures the durations Ollama reports."""

    def __init__(
        self,
        request: web.Request,
        state: EmulatorState,
        model: EmulatedModel,
        *,
        start_ns: int,
        prompt_tokens: int,
        num_predict: int | None,
        think: bool,
        fault: str | None,
        keep_alive: float,
    ) -> None:
        config = state.config
        self._request = request
        self._state = state
        self.model = model
        self._start = start_ns
        self._fault = fault
        self._keep_alive = keep_alive
        # Fixed on arrival: `active` already counts this request.
        stretch = 1.0 + config.concurrency_slowdown * max(state.stats.active - 1, 0)
        self._ttft = config.ttft_seconds * stretch
        self._tps = config.tokens_per_second / stretch
        self._load = config.load_seconds
        self.prompt_tokens = prompt_tokens
        count = config.output_tokens
        self.capped = num_predict is not None and 0 <= num_predict < count
        self.count = num_predict if self.capped and num_predict is not None else count
        self.thinking_tokens = self.count // 2 if think else 0
        self._load_end = self._prompt_end = self._first = self._last = 0

    @property
    def done_reason(self) -> str:
        return "length" if self.capped else "stop"

    async def prefill(self) -> None:
        if self._fault == "slow_load" or not self._state.is_loaded(self.model.name):
            await pause(self._request, self._load)
        self._state.keep(self.model.name, math.inf)
        self._load_end = time.perf_counter_ns()
        await pause(self._request, self._ttft)
        self._prompt_end = time.perf_counter_ns()

    async def tokens(self) -> AsyncIterator[int]:
        """Token indexes, each yielded when it is due."""
        interval = 1.0 / self._tps if self._tps > 0 else 0.0
        first = time.monotonic()
        self._first = time.perf_counter_ns()
        for index in range(self.count):
            if interval and index:
                await pause(self._request, first + index * interval - time.monotonic())
            yield index
        self._last = time.perf_counter_ns()

    def release(self) -> None:
        """Start the keep-alive clock (or unload at once for `keep_alive: 0`)."""
        self._state.keep(self.model.name, self._keep_alive)

    def metrics(self) -> dict[str, Any]:
        end = time.perf_counter_ns()
        values = {
            "total_duration": end - self._start,
            "load_duration": self._load_end - self._start,
            "prompt_eval_count": self.prompt_tokens,
            "prompt_eval_duration": self._prompt_end - self._load_end,
            "eval_count": self.count,
            "eval_duration": max(self._last - self._first, 0) if self.count else 0,
        }
        # Go's `omitempty`: zero metrics are left out, not sent as 0.
        return {key: value for key, value in values.items() if value}


def resolve_model(state: EmulatorState, body: dict[str, Any]) -> tuple[str, EmulatedModel]:
    """The model as the client named it (echoed back) and the emulated model it means."""
    name = field_of(body, "model", str, "")
    if not name:
        raise BadRequest("model is required")
    model = state.config.model(name)
    if model is None:
        raise ApiError(404, f"model '{name}' not found")
    return name, model


def wants_thinking(body: dict[str, Any]) -> bool:
    think = body.get("think")
    return think is True or think in ("low", "medium", "high", "max")


def num_predict(options: object) -> int | None:
    if not isinstance(options, dict):
        return None
    value = options.get("num_predict")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


async def collected_text(gen: Generation, seed: int) -> tuple[str, str]:
    """A non-streamed reply, paced like a streamed one: its (thinking, answer) text."""
    thinking: list[str] = []
    answer: list[str] = []
    async for i in gen.tokens():
        first = i in (0, gen.thinking_tokens)
        (thinking if i < gen.thinking_tokens else answer).append(token_text(seed, i, first=first))
    return "".join(thinking), "".join(answer)
