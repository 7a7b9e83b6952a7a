"""What a request is, from its method, path and body: endpoint label, GenAI operation, model,
whether the response streams, and the sampling parameters worth putting on a span.

Facts from ollama-api.md §1-§2: native generate/chat/pull/push/create stream when `stream` is
absent; /v1 routes stream only when `stream` is true; embedding routes never stream.

The body is read the way Ollama's Go decoder reads it (case-insensitive keys, the last duplicate
wins: `telemetry.core._gojson`), and the model name is bounded and escaped before any sink sees
it (`telemetry.core._text`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from telemetry.core._gojson import go_loads, go_string, go_struct
from telemetry.core._text import MAX_MODEL_CHARS, bounded_text

NATIVE: Final = "native"
OPENAI: Final = "openai"

# path -> (GenAI operation name, API flavour)
INFERENCE_ROUTES: Final[dict[str, tuple[str, str]]] = {
    "/api/generate": ("text_completion", NATIVE),
    "/api/chat": ("chat", NATIVE),
    "/api/embed": ("embeddings", NATIVE),
    "/api/embeddings": ("embeddings", NATIVE),
    "/v1/chat/completions": ("chat", OPENAI),
    "/v1/completions": ("text_completion", OPENAI),
    "/v1/embeddings": ("embeddings", OPENAI),
    "/v1/responses": ("chat", OPENAI),
    "/v1/messages": ("chat", OPENAI),
}
_STREAMS_BY_DEFAULT: Final = frozenset(
    {"/api/generate", "/api/chat", "/api/pull", "/api/push", "/api/create"}
)
_NEVER_STREAMS: Final = frozenset({"/api/embed", "/api/embeddings", "/v1/embeddings"})
_MODEL_ROUTES: Final = frozenset(
    {
        "/api/show",
        "/api/pull",
        "/api/push",
        "/api/create",
        "/api/delete",
        "/v1/responses",
        "/v1/messages",
    }
)
_KNOWN_PATHS: Final = frozenset(
    {
        "/",
        "/api/version",
        "/api/status",
        "/api/tags",
        "/api/show",
        "/api/ps",
        "/api/pull",
        "/api/push",
        "/api/create",
        "/api/copy",
        "/api/delete",
        "/v1/models",
        "/v1/responses",
        "/v1/messages",
        *INFERENCE_ROUTES,
    }
)
_PREFIXES: Final = (("/api/blobs/", "/api/blobs/:digest"), ("/v1/models/", "/v1/models/:model"))


@dataclass(frozen=True, slots=True)
class SamplingParams:
    """Request parameters with a GenAI span attribute (gen_ai.request.*)."""

    temperature: float | None = None
    top_p: float | None = None
    top_k: float | None = None
    max_tokens: int | None = None
    seed: int | None = None


NO_PARAMS: Final = SamplingParams()


@dataclass(frozen=True, slots=True)
class RouteInfo:
    endpoint: str
    operation: str | None
    api: str | None
    model: str | None
    streaming: bool
    params: SamplingParams = NO_PARAMS

    @property
    def is_inference(self) -> bool:
        return self.operation is not None


def endpoint_for(path: str) -> str:
    """A low-cardinality label for the path: the route template, or `other`."""
    if path in _KNOWN_PATHS:
        return path
    for prefix, template in _PREFIXES:
        if path.startswith(prefix):
            return template
    return "other"


def classify(method: str, path: str, body: bytes | None) -> RouteInfo:
    endpoint = endpoint_for(path)
    inference = INFERENCE_ROUTES.get(path) if method == "POST" else None
    wants_body = inference is not None or path in _MODEL_ROUTES
    payload = _json_object(body) if wants_body and body else None
    if payload is None:
        return RouteInfo(
            endpoint,
            inference[0] if inference else None,
            inference[1] if inference else None,
            None,
            _streams(path, None),
            NO_PARAMS,
        )
    model = go_string(payload.get("model")) or go_string(payload.get("name"))
    params = _params(payload, inference[1]) if inference else NO_PARAMS
    return RouteInfo(
        endpoint=endpoint,
        operation=inference[0] if inference else None,
        api=inference[1] if inference else None,
        model=bounded_text(model, MAX_MODEL_CHARS) if model else None,
        streaming=_streams(path, payload),
        params=params,
    )


def _streams(path: str, payload: dict[str, Any] | None) -> bool:
    if path in _NEVER_STREAMS:
        return False
    flag = payload.get("stream") if payload is not None else None
    if path in _STREAMS_BY_DEFAULT:
        return flag is not False
    if path.startswith("/v1/"):
        return flag is True
    return False


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        return go_struct(go_loads(body))
    except (ValueError, RecursionError):
        return None


def _params(payload: dict[str, Any], api: str) -> SamplingParams:
    source = payload.get("options") if api == NATIVE else payload
    if not isinstance(source, dict):
        return NO_PARAMS
    max_key = "num_predict" if api == NATIVE else "max_tokens"
    for key in ("max_completion_tokens", "max_output_tokens"):
        if api == OPENAI and source.get(key) is not None:
            max_key = key
    return SamplingParams(
        temperature=_number(source.get("temperature")),
        top_p=_number(source.get("top_p")),
        top_k=_number(source.get("top_k")),
        max_tokens=_integer(source.get(max_key)),
        seed=_integer(source.get("seed")),
    )


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _integer(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value
