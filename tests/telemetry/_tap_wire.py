"""Response bodies as Ollama sends them (ollama-api.md §3-§7, §10), for the stream tap tests.

Each stream is a tuple of units: one NDJSON line or one SSE event, terminator included, so a
test can tell at which byte an object completes.
"""

from __future__ import annotations

from dataclasses import dataclass

from telemetry.tap._stream import Framing

T = '"created_at":"2026-08-21T10:00:00.123456789Z"'
CHUNK = '"id":"chatcmpl-42","object":"chat.completion.chunk","created":1755770000,"model":"llama3.2","system_fingerprint":"fp_ollama"'  # noqa: E501
CMPL = '"id":"cmpl-7","object":"text_completion","created":1755770000'
ZERO = '"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}'


@dataclass(frozen=True)
class Stream:
    name: str
    framing: Framing
    units: tuple[bytes, ...]
    first_content: int | None  # index of the unit whose completion is the first content

    @property
    def body(self) -> bytes:
        return b"".join(self.units)


def ndjson(*objs: str) -> tuple[bytes, ...]:
    return tuple(o.encode() + b"\n" for o in objs)


def sse(*payloads: str) -> tuple[bytes, ...]:
    return tuple(b"data: " + p.encode() + b"\n\n" for p in payloads)


GENERATE = Stream(
    "generate",
    Framing.NDJSON,
    ndjson(
        '{"model":"llama3.2",' + T + ',"response":"The","done":false}',
        '{"model":"llama3.2",' + T + ',"response":" sky","done":false}',
        '{"model":"llama3.2",' + T + ',"response":"","done":false}',
        '{"model":"llama3.2",' + T + ',"response":" is blue.","done":false}',
        '{"model":"llama3.2",' + T + ',"response":"","done":true,"done_reason":"stop",'
        '"context":[128006,9125,128007],"total_duration":4935886791,"load_duration":534986708,'
        '"prompt_eval_count":26,"prompt_eval_duration":107345000,"eval_count":3,'
        '"eval_duration":4289432000}',
    ),
    0,
)

CHAT = Stream(
    "chat",
    Framing.NDJSON,
    ndjson(
        '{"model":"llama3.2",' + T + ',"message":{"role":"assistant","content":""},"done":false}',
        '{"model":"llama3.2",' + T + ',"message":{"role":"assistant","content":"Hello"},'
        '"done":false}',
        '{"model":"llama3.2",'
        + T
        + ',"message":{"role":"assistant","content":"! \\"done\\":true"},'
        '"done":false}',
        '{"model":"llama3.2",' + T + ',"message":{"role":"assistant","content":""},"done":true,'
        '"done_reason":"length","total_duration":2000000000,"load_duration":1000000,'
        '"prompt_eval_count":12,"prompt_eval_duration":30000000,"eval_count":2,'
        '"eval_duration":900000000}',
    ),
    1,
)

CHAT_THINKING = Stream(
    "chat-thinking",
    Framing.NDJSON,
    ndjson(
        '{"model":"qwen3",' + T + ',"message":{"role":"assistant","content":"",'
        '"thinking":"Let me think"},"done":false}',
        '{"model":"qwen3",' + T + ',"message":{"role":"assistant","content":"4"},"done":false}',
        '{"model":"qwen3",' + T + ',"message":{"role":"assistant","content":""},"done":true,'
        '"done_reason":"stop","total_duration":10,"eval_count":2,"eval_duration":5}',
    ),
    0,
)

GENERATE_THINKING = Stream(
    "generate-thinking",
    Framing.NDJSON,
    ndjson(
        '{"model":"qwen3",' + T + ',"response":"","done":false}',
        '{"model":"qwen3",' + T + ',"response":"","thinking":"Hmm","done":false}',
        '{"model":"qwen3",' + T + ',"response":"Yes","done":false}',
        '{"model":"qwen3",' + T + ',"response":"","done":true,"done_reason":"stop",'
        '"prompt_eval_count":4,"eval_count":2}',
    ),
    1,
)

TOOL_CALLS = Stream(
    "chat-tool-calls",
    Framing.NDJSON,
    ndjson(
        '{"model":"qwen3",' + T + ',"message":{"role":"assistant","content":"","tool_calls":'
        '[{"id":"call_x1","function":{"index":0,"name":"get_weather",'
        '"arguments":{"city":"Paris"}}}]},"done":false}',
        '{"model":"qwen3",' + T + ',"message":{"role":"assistant","content":""},"done":true,'
        '"done_reason":"stop","prompt_eval_count":150,"eval_count":20}',
    ),
    0,
)

OMITEMPTY = Stream(
    "omitempty-final",
    Framing.NDJSON,
    ndjson(
        '{"model":"llama3.2",' + T + ',"response":"ok","done":false}',
        '{"model":"llama3.2",' + T + ',"response":"","done":true,"done_reason":"stop",'
        '"total_duration":1000,"load_duration":100,"eval_count":1,"eval_duration":500}',
    ),
    0,
)

MID_STREAM_ERROR = Stream(
    "mid-stream-error",
    Framing.NDJSON,
    ndjson(
        '{"model":"llama3.2",' + T + ',"response":"Once","done":false}',
        '{"error":"an error was encountered while running the model: unexpected EOF"}',
    ),
    0,
)

OPENAI_CHAT = Stream(
    "openai-chat",
    Framing.SSE,
    sse(
        "{" + CHUNK + ',"choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"},'
        '"finish_reason":null}]}',
        "{" + CHUNK + ',"choices":[{"index":0,"delta":{"role":"assistant","content":"!"},'
        '"finish_reason":null}]}',
        "{" + CHUNK + ',"choices":[{"index":0,"delta":{"role":"assistant","content":""},'
        '"finish_reason":"stop"}]}',
        "[DONE]",
    ),
    0,
)

OPENAI_CHAT_USAGE = Stream(
    "openai-chat-usage",
    Framing.SSE,
    sse(
        "{" + CHUNK + ',"choices":[{"index":0,"delta":{"role":"assistant","content":"",'
        '"reasoning":"Thinking"},"finish_reason":null}]}',
        "{" + CHUNK + ',"choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},'
        '"finish_reason":null}]}',
        "{" + CHUNK + ',"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}',
        "{" + CHUNK + ',"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":2,'
        '"total_tokens":14}}',
        "[DONE]",
    ),
    0,
)

OPENAI_COMPLETIONS = Stream(
    "openai-completions",
    Framing.SSE,
    sse(
        "{" + CMPL + ',"choices":[{"text":"Once","index":0,"finish_reason":null}],'
        '"model":"llama3.2","system_fingerprint":"fp_ollama",' + ZERO + "}",
        "{" + CMPL + ',"choices":[{"text":" upon","index":0,"finish_reason":null}],'
        '"model":"llama3.2","system_fingerprint":"fp_ollama",' + ZERO + "}",
        "{" + CMPL + ',"choices":[{"text":"","index":0,"finish_reason":"length"}],'
        '"model":"llama3.2","system_fingerprint":"fp_ollama",' + ZERO + "}",
        "{" + CMPL + ',"choices":[],"model":"llama3.2","system_fingerprint":"fp_ollama",'
        '"usage":{"prompt_tokens":8,"completion_tokens":2,"total_tokens":10}}',
        "[DONE]",
    ),
    0,
)


def typed(*events: tuple[str, str]) -> tuple[bytes, ...]:
    return tuple(f"event: {kind}\ndata: {data}\n\n".encode() for kind, data in events)


RESPONSES = Stream(
    "openai-responses",
    Framing.SSE,
    typed(
        (
            "response.created",
            '{"type":"response.created","sequence_number":0,"response":{"id":"resp_1",'
            '"object":"response","status":"in_progress","model":"llama3.2","output":[]}}',
        ),
        (
            "response.output_text.delta",
            '{"type":"response.output_text.delta","sequence_number":3,"item_id":"msg_1",'
            '"output_index":0,"content_index":0,"delta":"Hi"}',
        ),
        (
            "response.output_text.delta",
            '{"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_1",'
            '"output_index":0,"content_index":0,"delta":" there"}',
        ),
        (
            "response.completed",
            '{"type":"response.completed","sequence_number":9,"response":{"id":"resp_1",'
            '"object":"response","status":"completed","model":"llama3.2","output":[],'
            '"usage":{"input_tokens":9,"output_tokens":2,"total_tokens":11}}}',
        ),
    ),
    1,
)

ANTHROPIC = Stream(
    "anthropic-messages",
    Framing.SSE,
    typed(
        (
            "message_start",
            '{"type":"message_start","message":{"id":"msg_1","type":"message",'
            '"role":"assistant","model":"llama3.2","content":[],"stop_reason":null,'
            '"usage":{"input_tokens":9,"output_tokens":0}}}',
        ),
        (
            "content_block_start",
            '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}',
        ),
        ("ping", '{"type":"ping"}'),
        (
            "content_block_delta",
            '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}',
        ),
        (
            "content_block_delta",
            '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"!"}}',
        ),
        ("content_block_stop", '{"type":"content_block_stop","index":0}'),
        (
            "message_delta",
            '{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},'
            '"usage":{"output_tokens":2}}',
        ),
        ("message_stop", '{"type":"message_stop"}'),
    ),
    3,
)

STREAMS = (
    GENERATE,
    CHAT,
    CHAT_THINKING,
    GENERATE_THINKING,
    TOOL_CALLS,
    OMITEMPTY,
    MID_STREAM_ERROR,
    OPENAI_CHAT,
    OPENAI_CHAT_USAGE,
    OPENAI_COMPLETIONS,
    RESPONSES,
    ANTHROPIC,
)

LOAD = b'{"model":"llama3.2",' + T.encode() + b',"response":"","done":true,"done_reason":"load"}\n'
UNLOAD = (
    b'{"model":"llama3.2",' + T.encode() + b',"message":{"role":"assistant","content":""},'
    b'"done_reason":"unload","done":true}\n'
)

GENERATE_JSON = (
    b'{"model":"llama3.2",' + T.encode() + b',"response":"The sky is blue.","done":true,'
    b'"done_reason":"stop","context":[1,2,3],"total_duration":5043500667,'
    b'"load_duration":5025959,"prompt_eval_count":26,"prompt_eval_duration":325953000,'
    b'"eval_count":290,"eval_duration":4709213000}'
)
EMBED_JSON = (
    b'{"model":"all-minilm","embeddings":[[0.010071029,-0.0017594862,0.05007221]],'
    b'"total_duration":14143917,"load_duration":1019500,"prompt_eval_count":8}'
)
LEGACY_EMBEDDINGS_JSON = b'{"embedding":[0.5670403838157654,0.009260174818336964]}'
OPENAI_EMBEDDINGS_JSON = (
    b'{"object":"list","data":[{"object":"embedding","embedding":[0.1,-0.2],"index":0}],'
    b'"model":"all-minilm","usage":{"prompt_tokens":8,"total_tokens":8}}'
)
OPENAI_CHAT_JSON = (
    b'{"id":"chatcmpl-1","object":"chat.completion","created":1755770000,"model":"llama3.2",'
    b'"system_fingerprint":"fp_ollama","choices":[{"index":0,"message":{"role":"assistant",'
    b'"content":"Hi!"},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,'
    b'"completion_tokens":3,"total_tokens":13}}'
)
NATIVE_ERROR_JSON = b'{"error":"model \'nope\' not found"}'
OPENAI_ERROR_JSON = (
    b'{"error":{"message":"model \\"nope\\" not found, try pulling it first",'
    b'"type":"not_found_error","param":null,"code":null}}'
)
RESPONSES_JSON = (
    b'{"id":"resp_1","object":"response","created_at":1755770000,"status":"completed",'
    b'"model":"llama3.2","output":[{"type":"message","id":"msg_1","status":"completed",'
    b'"role":"assistant","content":[{"type":"output_text","text":"Hi there"}]}],'
    b'"usage":{"input_tokens":9,"output_tokens":2,"total_tokens":11}}'
)
ANTHROPIC_JSON = (
    b'{"id":"msg_1","type":"message","role":"assistant","model":"llama3.2",'
    b'"content":[{"type":"text","text":"Hi!"}],"stop_reason":"end_turn","stop_sequence":null,'
    b'"usage":{"input_tokens":9,"output_tokens":2}}'
)
