import json

import pytest

from telemetry.tap._routes import classify, endpoint_for


def body(**fields: object) -> bytes:
    return json.dumps(fields).encode()


@pytest.mark.parametrize(
    ("path", "fields", "streams"),
    [
        ("/api/generate", {"model": "m"}, True),
        ("/api/generate", {"model": "m", "stream": False}, False),
        ("/api/chat", {"model": "m", "stream": None}, True),
        ("/api/pull", {"model": "m"}, True),
        ("/api/embed", {"model": "m", "stream": True}, False),
        ("/v1/chat/completions", {"model": "m"}, False),
        ("/v1/chat/completions", {"model": "m", "stream": True}, True),
        ("/v1/completions", {"model": "m", "stream": False}, False),
        ("/v1/embeddings", {"model": "m", "stream": True}, False),
        ("/v1/responses", {"model": "m"}, False),
        ("/v1/responses", {"model": "m", "stream": True}, True),
        ("/v1/messages", {"model": "m", "stream": True}, True),
    ],
)
def test_stream_defaults_follow_ollama(path: str, fields: dict[str, object], streams: bool) -> None:
    assert classify("POST", path, body(**fields)).streaming is streams


def test_operation_model_and_sampling_params() -> None:
    native = classify(
        "POST",
        "/api/chat",
        body(
            model="llama3.1:8b",
            options={"temperature": 0.2, "top_k": 40, "num_predict": 64, "seed": 7},
        ),
    )
    assert (native.operation, native.api, native.model) == ("chat", "native", "llama3.1:8b")
    assert native.params.temperature == 0.2 and native.params.top_k == 40.0
    assert native.params.max_tokens == 64 and native.params.seed == 7
    openai = classify("POST", "/v1/completions", body(model="m", max_tokens=5, top_p=0.9))
    assert openai.operation == "text_completion" and openai.params.max_tokens == 5
    assert openai.params.top_p == 0.9
    responses = classify("POST", "/v1/responses", body(model="m", max_output_tokens=9))
    assert responses.operation == "chat" and responses.params.max_tokens == 9


def test_non_inference_and_bad_bodies() -> None:
    assert classify("GET", "/api/tags", None).operation is None
    pull = classify("POST", "/api/pull", body(name="llama3.2"))
    assert pull.model == "llama3.2" and pull.operation is None
    broken = classify("POST", "/api/generate", b"{not json")
    assert broken.model is None and broken.operation == "text_completion" and broken.streaming
    assert classify("POST", "/api/generate", b"[1,2]").model is None


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("/api/blobs/sha256:abc", "/api/blobs/:digest"),
        ("/v1/models/llama3", "/v1/models/:model"),
        ("/", "/"),
        ("/api/tags", "/api/tags"),
        ("/secret/123", "other"),
    ],
)
def test_endpoint_labels_are_bounded(path: str, label: str) -> None:
    assert endpoint_for(path) == label
