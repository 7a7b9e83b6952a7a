"""Request bodies read as Go's encoding/json reads them into Ollama's structs."""

from __future__ import annotations

import pytest

from telemetry.core._gojson import field_name, go_loads, go_map, go_string, go_struct


def struct(body: bytes) -> dict[str, object]:
    fields = go_struct(go_loads(body))
    assert fields is not None
    return fields


def test_keys_match_case_insensitively_and_the_last_one_wins() -> None:
    fields = struct(b'{"model":"llama3.2:1b","MODEL":"llama3.3:70b","stream":false,"Stream":true}')
    assert fields["model"] == "llama3.3:70b"
    assert fields["stream"] is True
    assert struct(b'{"MODEL":"a","model":"b"}')["model"] == "b"
    assert struct(b'{"stream":true,"stream":null}')["stream"] is None


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("Model", "model"),
        ("\u017ftream", "stream"),  # long s folds to s
        ("\u212aeep_alive", "keep_alive"),  # Kelvin sign folds to k
        ("\u0131mages", "\u0131mages"),  # dotless i folds only to itself
        ("\u0130MAGES", "\u0130MAGES"),
        ("mod\ud800el", "mod\ud800el"),
    ],
)
def test_unicode_simple_folding(key: str, name: str) -> None:
    assert field_name(key) == name


def test_duplicate_maps_merge_and_nested_structs_fold() -> None:
    fields = struct(
        b'{"options":{"num_predict":3,"seed":1},"Options":{"temperature":0.5,"seed":2},'
        b'"stream_options":{"Include_Usage":true}}'
    )
    assert fields["options"] == {"num_predict": 3, "seed": 2, "temperature": 0.5}
    assert fields["stream_options"] == {"include_usage": True}
    # Map keys are exact: a case variant inside options is another key.
    assert struct(b'{"options":{"NUM_PREDICT":3}}')["options"] == {"NUM_PREDICT": 3}
    assert struct(b'{"options":{"seed":1},"options":null}')["options"] is None


def test_invalid_text_becomes_the_replacement_character_as_in_go() -> None:
    assert go_string(struct(b'{"model":"fake\\ud800"}')["model"]) == "fake\ufffd"
    assert go_string(struct(b'{"model":"\\ud83d\\ude00"}')["model"]) == "\U0001f600"
    assert struct(b'{"model":"a\xe2\x82b\xff"}')["model"] == "a\ufffd\ufffdb\ufffd"
    assert go_string(3) is None


def test_not_an_object() -> None:
    assert go_struct(go_loads(b"[1]")) is None
    with pytest.raises(ValueError):
        go_loads(b"{")


def test_go_map_is_the_exact_last_wins_view() -> None:
    value = go_loads(b'{"a":[{"k":1,"k":2,"K":3}],"a":{"b":null}}')
    assert go_map(value) == {"a": {"b": None}}
    assert go_map(go_loads(b'[{"k":1,"k":2,"K":3}]')) == [{"k": 2, "K": 3}]
