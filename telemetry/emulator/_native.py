"""Ollama's native inference routes: `/api/generate`, `/api/chat`, `/api/embed`, `/api/embeddings`.

Streams are NDJSON, one compact object plus `\\n` per chunk, pre-serialised around the token so a
chunk costs a timestamp and a few byte joins. `stream` is on unless the body says `false`.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from telemetry.emulator._state import EmulatorState, parse_keep_alive
from telemetry.emulator._stream import (
    ChunkStream,
    Generation,
    StreamStopped,
    before_response,
    collected_text,
    fault_instead_of_body,
    num_predict,
    resolve_model,
    select_fault,
    wants_thinking,
)
from telemetry.emulator._wire import (
    NDJSON_TYPE,
    BadRequest,
    count_tokens,
    dumps,
    embedding,
    field_of,
    go_time,
    json_response,
    pause,
    read_json,
    token_json,
    token_seed,
)

STATE_KEY = web.AppKey("emulator_state", EmulatorState)
_PROMPT_TEMPLATE_TOKENS = 10
_MESSAGE_TEMPLATE_TOKENS = 4


def _state(request: web.Request) -> EmulatorState:
    return request.app[STATE_KEY]


async def generate(request: web.Request) -> web.StreamResponse:
    return await _inference(request, chat=False)


async def chat(request: web.Request) -> web.StreamResponse:
    return await _inference(request, chat=True)


def _chat_prompt(body: dict[str, Any]) -> tuple[str, int]:
    messages = field_of(body, "messages", list, [])
    texts = []
    for message in messages:
        if not isinstance(message, dict):
            raise BadRequest("json: cannot unmarshal messages of unexpected type")
        content = message.get("content") or ""
        texts.append(content if isinstance(content, str) else "")
    text = "\n".join(texts)
    return text, sum(count_tokens(t) + _MESSAGE_TEMPLATE_TOKENS for t in texts)


async def _inference(request: web.Request, *, chat: bool) -> web.StreamResponse:
    start = time.perf_counter_ns()
    state = _state(request)
    body = await read_json(request, "api.ChatRequest" if chat else "api.GenerateRequest")
    name, model = resolve_model(state, body)
    if model.embedding_only:
        raise BadRequest(f'"{name}" does not support {"chat" if chat else "generate"}')
    if chat:
        text, prompt_tokens = _chat_prompt(body)
        empty = not field_of(body, "messages", list, [])
    else:
        text = field_of(body, "prompt", str, "")
        prompt_tokens = count_tokens(text) + _PROMPT_TEMPLATE_TOKENS
        empty = not text and not body.get("images")
    stream = field_of(body, "stream", bool, True)
    keep_alive = parse_keep_alive(body.get("keep_alive"), state.config.keep_alive_seconds)
    fault = select_fault(request, state, model.name)
    early = await before_response(request, state, fault, openai=False)
    if early is not None:
        return early
    if empty:
        return await _load_only(request, state, name, model.name, keep_alive, chat=chat)
    gen = Generation(
        request,
        state,
        model,
        start_ns=start,
        prompt_tokens=prompt_tokens,
        num_predict=num_predict(body.get("options")),
        think=wants_thinking(body),
        fault=fault,
        keep_alive=keep_alive,
    )
    seed = token_seed(text)
    try:
        if stream:
            return await _stream(request, state, gen, name, seed, fault, chat=chat)
        return await _whole(request, state, gen, name, seed, fault, chat=chat)
    finally:
        gen.release()


async def _load_only(
    request: web.Request,
    state: EmulatorState,
    name: str,
    model_name: str,
    keep_alive: float,
    *,
    chat: bool,
) -> web.Response:
    if keep_alive == 0:
        state.unload(model_name)
        reason = "unload"
    else:
        if not state.is_loaded(model_name):
            await pause(request, state.config.load_seconds)
        state.keep(model_name, keep_alive)
        reason = "load"
    obj: dict[str, Any] = {"model": name, "created_at": go_time()}
    if chat:
        message = {"role": "assistant", "content": ""}
        obj |= {"message": message, "done_reason": reason, "done": True}
    else:
        obj |= {"response": "", "done": True, "done_reason": reason}
    return json_response(obj)


def _final(
    gen: Generation, name: str, seed: int, *, chat: bool, text: str = "", thinking: str = ""
) -> dict[str, Any]:
    obj: dict[str, Any] = {"model": name, **gen.model.remote, "created_at": go_time()}
    if chat:
        message = {"role": "assistant", "content": text}
        if thinking:
            message["thinking"] = thinking
        obj |= {"message": message, "done_reason": gen.done_reason, "done": True}
    else:
        obj["response"] = text
        if thinking:
            obj["thinking"] = thinking
        obj |= {"done": True, "done_reason": gen.done_reason}
        total = gen.prompt_tokens + gen.count
        obj["context"] = [(seed + i * 7919) % 128_000 for i in range(total)]
    return obj | gen.metrics()


async def _stream(
    request: web.Request,
    state: EmulatorState,
    gen: Generation,
    name: str,
    seed: int,
    fault: str | None,
    *,
    chat: bool,
) -> web.StreamResponse:
    out = ChunkStream(
        request,
        state,
        fault,
        content_type=NDJSON_TYPE,
        error_chunk=b'{"error":"emulated fault: error_midstream"}\n',
        garbage_chunk=b"\xff\xfe<html>502 Bad Gateway</html> not JSON\n",
    )
    remote = dumps(gen.model.remote)[1:-1]
    prefix = b'{"model":' + dumps(name) + (b"," + remote if remote else b"") + b',"created_at":"'
    if chat:
        answer = b'","message":{"role":"assistant","content":'
        thought = b'","message":{"role":"assistant","content":"","thinking":'
        suffix = b'},"done":false}\n'
    else:
        answer = b'","response":'
        thought = b'","response":"","thinking":'
        suffix = b',"done":false}\n'
    thinking = gen.thinking_tokens
    await gen.prefill()
    await out.start()
    try:
        async for i in gen.tokens():
            middle = thought if i < thinking else answer
            token = token_json(seed, i, first=i in (0, thinking))
            await out.send(prefix + go_time().encode() + middle + token + suffix)
        await out.end(dumps(_final(gen, name, seed, chat=chat)) + b"\n")
    except StreamStopped:
        pass
    return out.response


async def _whole(
    request: web.Request,
    state: EmulatorState,
    gen: Generation,
    name: str,
    seed: int,
    fault: str | None,
    *,
    chat: bool,
) -> web.StreamResponse:
    await gen.prefill()
    thinking, answer = await collected_text(gen, seed)
    replaced = await fault_instead_of_body(request, state, fault, openai=False)
    if replaced is not None:
        return replaced
    obj = _final(gen, name, seed, chat=chat, text=answer, thinking=thinking)
    return json_response(obj)


def _inputs(body: dict[str, Any]) -> list[str]:
    value = body.get("input")
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise BadRequest("invalid input type")


async def _embed_common(
    request: web.Request, type_name: str
) -> tuple[EmulatorState, dict[str, Any], str, int, web.StreamResponse | None]:
    start = time.perf_counter_ns()
    state = _state(request)
    body = await read_json(request, type_name)
    name, model = resolve_model(state, body)
    keep_alive = parse_keep_alive(body.get("keep_alive"), state.config.keep_alive_seconds)
    fault = select_fault(request, state, model.name)
    early: web.StreamResponse | None = await before_response(request, state, fault, openai=False)
    if early is None:
        if fault == "slow_load" or not state.is_loaded(model.name):
            await pause(request, state.config.load_seconds)
        state.keep(model.name, keep_alive)
        early = await fault_instead_of_body(request, state, fault, openai=False)
    return state, body, name, start, early


async def embed(request: web.Request) -> web.StreamResponse:
    state, body, name, start, early = await _embed_common(request, "api.EmbedRequest")
    if early is not None:
        return early
    load_end = time.perf_counter_ns()
    inputs = _inputs(body)
    dim = field_of(body, "dimensions", int, 0) or state.config.embedding_dim
    dim = min(dim, state.config.embedding_dim)
    obj: dict[str, Any] = {
        "model": name,
        "embeddings": [embedding(name, text, dim) for text in inputs],
        "total_duration": time.perf_counter_ns() - start,
        "load_duration": load_end - start,
        "prompt_eval_count": sum(count_tokens(t) for t in inputs),
    }
    return json_response({k: v for k, v in obj.items() if v or k == "embeddings"})


async def embeddings(request: web.Request) -> web.StreamResponse:
    state, body, name, _, early = await _embed_common(request, "api.EmbeddingRequest")
    if early is not None:
        return early
    prompt = field_of(body, "prompt", str, "")
    vector = embedding(name, prompt, state.config.embedding_dim) if prompt else []
    return json_response({"embedding": vector})
