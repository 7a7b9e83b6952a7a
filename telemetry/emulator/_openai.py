"""The OpenAI-compatible routes under `/v1`, with Ollama's exact SSE order.

`/v1/chat/completions` stream: content chunks (role `assistant`, reasoning in `delta.reasoning`),
then a separate finish chunk with `delta: {}`, then a `choices: []` usage chunk only when
`stream_options.include_usage` is set, then `data: [DONE]`. On `/v1/completions` with
`include_usage` every chunk carries a zero-filled `usage`. `stream` is off unless `true`.
"""

from __future__ import annotations

import base64
import random
import struct
import time
from datetime import datetime
from typing import Any

from aiohttp import web

from telemetry.emulator._config import EmulatedModel
from telemetry.emulator._native import STATE_KEY
from telemetry.emulator._state import EmulatorState
from telemetry.emulator._stream import (
    ChunkStream,
    Generation,
    StreamStopped,
    before_response,
    collected_text,
    fault_instead_of_body,
    resolve_model,
    select_fault,
)
from telemetry.emulator._wire import (
    SSE_TYPE,
    ApiError,
    BadRequest,
    count_tokens,
    dumps,
    embedding,
    field_of,
    json_response,
    pause,
    read_json,
    token_json,
    token_seed,
)

_ZERO_USAGE = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
_ERROR_EVENT = (
    b"data: "
    + dumps(
        {
            "error": {
                "message": "emulated fault: error_midstream",
                "type": "api_error",
                "param": None,
                "code": None,
            }
        }
    )
    + b"\n\n"
)
_GARBAGE_EVENT = b"data: \xff\xfe<html>502 Bad Gateway</html> not JSON\n\n"


def _sse(obj: Any) -> bytes:
    return b"data: " + dumps(obj) + b"\n\n"


def _usage(gen: Generation) -> dict[str, int]:
    total = gen.prompt_tokens + gen.count
    return {
        "prompt_tokens": gen.prompt_tokens,
        "completion_tokens": gen.count,
        "total_tokens": total,
    }


async def chat_completions(request: web.Request) -> web.StreamResponse:
    return await _complete(request, chat=True)


async def completions(request: web.Request) -> web.StreamResponse:
    return await _complete(request, chat=False)


def _prompt(body: dict[str, Any], *, chat: bool) -> tuple[str, int]:
    if not chat:
        prompt = field_of(body, "prompt", str, "")
        return prompt, count_tokens(prompt) + 10
    messages = field_of(body, "messages", list, [])
    if not messages:
        raise BadRequest("[] is too short - 'messages'")
    texts = [m.get("content") if isinstance(m, dict) else None for m in messages]
    strings = [t if isinstance(t, str) else "" for t in texts]
    return "\n".join(strings), sum(count_tokens(t) + 4 for t in strings)


async def _complete(request: web.Request, *, chat: bool) -> web.StreamResponse:
    start = time.perf_counter_ns()
    state: EmulatorState = request.app[STATE_KEY]
    body = await read_json(request, "openai.ChatCompletionRequest")
    name, model = resolve_model(state, body)
    if model.embedding_only:
        raise BadRequest(f'"{name}" does not support {"chat" if chat else "generate"}')
    text, prompt_tokens = _prompt(body, chat=chat)
    stream = field_of(body, "stream", bool, False)
    options = field_of(body, "stream_options", dict, {})
    include_usage = stream and options.get("include_usage") is True
    limit = field_of(body, "max_completion_tokens", int, None) if chat else None
    limit = limit if limit is not None else field_of(body, "max_tokens", int, None)
    effort = body.get("reasoning_effort")
    think = chat and isinstance(effort, str) and effort != "none"
    fault = select_fault(request, state, model.name)
    early = await before_response(request, state, fault, openai=True)
    if early is not None:
        return early
    gen = Generation(
        request,
        state,
        model,
        start_ns=start,
        prompt_tokens=prompt_tokens,
        num_predict=limit,
        think=think,
        fault=fault,
        keep_alive=state.config.keep_alive_seconds,
    )
    seed = token_seed(text)
    header: dict[str, Any] = {
        "id": f"{'chatcmpl' if chat else 'cmpl'}-{random.randrange(999)}",
        "object": "chat.completion.chunk" if chat else "text_completion",
        "created": int(time.time()),
        "model": name,
        "system_fingerprint": "fp_ollama",
    }
    try:
        if stream:
            return await _stream(request, state, gen, header, seed, fault, chat, include_usage)
        return await _whole(request, state, gen, header, seed, fault, chat)
    finally:
        gen.release()


async def _stream(
    request: web.Request,
    state: EmulatorState,
    gen: Generation,
    header: dict[str, Any],
    seed: int,
    fault: str | None,
    chat: bool,
    include_usage: bool,
) -> web.StreamResponse:
    out = ChunkStream(
        request,
        state,
        fault,
        content_type=SSE_TYPE,
        error_chunk=_ERROR_EVENT,
        garbage_chunk=_GARBAGE_EVENT,
    )
    prefix = b"data: " + dumps(header)[:-1] + b',"choices":[{'
    if chat:
        answer = b'"index":0,"delta":{"role":"assistant","content":'
        thought = b'"index":0,"delta":{"role":"assistant","content":"","reasoning":'
        suffix = b'},"finish_reason":null}]}\n\n'
    else:
        answer = thought = b'"text":'
        usage = b',"usage":' + dumps(_ZERO_USAGE) if include_usage else b""
        suffix = b',"index":0,"finish_reason":null}]' + usage + b"}\n\n"
    thinking = gen.thinking_tokens
    await gen.prefill()
    await out.start()
    try:
        async for i in gen.tokens():
            token = token_json(seed, i, first=i in (0, thinking))
            await out.send(prefix + (thought if i < thinking else answer) + token + suffix)
        reason = gen.done_reason
        if chat:
            finish = header | {"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}
        else:
            choice = {"text": "", "index": 0, "finish_reason": reason}
            finish = header | {"choices": [choice]}
            if include_usage:
                finish["usage"] = _ZERO_USAGE
        tail = [_sse(finish)]
        if include_usage:
            tail.append(_sse(header | {"choices": [], "usage": _usage(gen)}))
        await out.end(*tail, b"data: [DONE]\n\n")
    except StreamStopped:
        pass
    return out.response


async def _whole(
    request: web.Request,
    state: EmulatorState,
    gen: Generation,
    header: dict[str, Any],
    seed: int,
    fault: str | None,
    chat: bool,
) -> web.StreamResponse:
    await gen.prefill()
    reasoning, text = await collected_text(gen, seed)
    replaced = await fault_instead_of_body(request, state, fault, openai=True)
    if replaced is not None:
        return replaced
    reason = gen.done_reason
    if chat:
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if reasoning:
            message["reasoning"] = reasoning
        choice: dict[str, Any] = {"index": 0, "message": message, "finish_reason": reason}
        obj = header | {"object": "chat.completion", "choices": [choice]}
    else:
        choice = {"text": text, "index": 0, "finish_reason": reason}
        obj = header | {"choices": [choice]}
    return json_response(obj | {"usage": _usage(gen)})


async def embeddings(request: web.Request) -> web.StreamResponse:
    state: EmulatorState = request.app[STATE_KEY]
    body = await read_json(request, "openai.EmbedRequest")
    name, model = resolve_model(state, body)
    raw = body.get("input")
    inputs = [raw] if isinstance(raw, str) else raw
    if not isinstance(inputs, list) or not inputs or not all(isinstance(v, str) for v in inputs):
        raise BadRequest("invalid input type")
    encoding = field_of(body, "encoding_format", str, "float")
    if encoding not in ("float", "base64"):
        raise BadRequest(f"invalid encoding format: {encoding}")
    dim = min(field_of(body, "dimensions", int, 0) or state.config.embedding_dim, 4096)
    fault = select_fault(request, state, model.name)
    early = await before_response(request, state, fault, openai=True)
    if early is not None:
        return early
    if fault == "slow_load" or not state.is_loaded(model.name):
        await pause(request, state.config.load_seconds)
    state.keep(model.name, state.config.keep_alive_seconds)
    replaced = await fault_instead_of_body(request, state, fault, openai=True)
    if replaced is not None:
        return replaced
    data = []
    for index, text in enumerate(inputs):
        vector = embedding(name, text, min(dim, state.config.embedding_dim))
        value: Any = vector
        if encoding == "base64":
            value = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "embedding": value, "index": index})
    tokens = sum(count_tokens(t) for t in inputs)
    return json_response(
        {
            "object": "list",
            "data": data,
            "model": name,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )


def _model_object(model: EmulatedModel) -> dict[str, Any]:
    owner, _, _ = model.name.rpartition("/")
    return {
        "id": model.name,
        "object": "model",
        "created": _unix(model.modified_at),
        "owned_by": owner or "library",
    }


def _unix(go_timestamp: str) -> int:
    return int(datetime.fromisoformat(go_timestamp[:19] + "+00:00").timestamp())


async def models(request: web.Request) -> web.Response:
    state: EmulatorState = request.app[STATE_KEY]
    return json_response(
        {"object": "list", "data": [_model_object(m) for m in state.config.models]}
    )


async def model(request: web.Request) -> web.Response:
    state: EmulatorState = request.app[STATE_KEY]
    name = request.match_info["model"]
    found = state.config.model(name)
    if found is None:
        raise ApiError(404, f"model '{name}' not found")
    return json_response(_model_object(found))
