"""Wire helpers: Go timestamps, compact JSON, deterministic text and embeddings."""

from __future__ import annotations

import math

from telemetry.emulator._wire import dumps, embedding, go_time, token_json, token_text


def test_go_time_trims_trailing_zeros() -> None:
    assert go_time(1_700_000_000_000_000_000) == "2023-11-14T22:13:20Z"
    assert go_time(1_700_000_000_120_000_000) == "2023-11-14T22:13:20.12Z"
    assert go_time(1_700_000_000_123_456_789) == "2023-11-14T22:13:20.123456789Z"
    assert go_time(1_700_000_001_000_000_001) == "2023-11-14T22:13:21.000000001Z"


def test_dumps_is_compact_utf8() -> None:
    assert dumps({"a": [1, "é"]}) == '{"a":[1,"é"]}'.encode()


def test_tokens_are_json_of_their_text() -> None:
    for i in range(40):
        for first in (True, False):
            assert token_json(7, i, first=first) == dumps(token_text(7, i, first=first))
    assert not token_text(7, 3, first=True).startswith(" ")
    assert token_text(7, 3, first=False).startswith(" ")


def test_embedding_is_deterministic_unit_vector() -> None:
    a = embedding("m", "hello", 64)
    assert a == embedding("m", "hello", 64) and len(a) == 64
    assert a != embedding("m", "hello!", 64)
    assert math.isclose(math.sqrt(sum(v * v for v in a)), 1.0, abs_tol=1e-4)
