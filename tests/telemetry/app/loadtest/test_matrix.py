"""The matrix file: every key, its defaults, one-line errors naming the run and the key, and
the default matrix built from the config's tiers and the target's models."""

from __future__ import annotations

from pathlib import Path

import pytest

from telemetry import Config, load_config
from telemetry.app.loadtest._errors import LoadtestError
from telemetry.app.loadtest._matrix import default_matrix, load_matrix, parse_matrix

MATRIX = """
[[run]]
model = "llama3.1:8b"
api = "chat"
prompt_tokens = 512
output_tokens = 64
concurrency = 4
requests = 40
stream = false

[[run]]
model = "llama3.3:70b"
duration_seconds = 30
"""


def test_runs_take_their_keys_and_tiers_from_the_config() -> None:
    config = load_config(env={})
    first, second = parse_matrix(MATRIX, config)
    assert (first.model, first.api, first.prompt_tokens, first.output_tokens) == (
        "llama3.1:8b",
        "chat",
        512,
        64,
    )
    assert (first.concurrency, first.requests, first.duration_seconds, first.stream) == (
        4,
        40,
        None,
        False,
    )
    assert first.tier.name == "gpu-8gb" and second.tier.name == "gpu-40gb"
    assert (second.api, second.requests, second.duration_seconds, second.stream) == (
        "generate",
        None,
        30.0,
        True,
    )
    assert first.name == "llama3.1:8b chat p512 o64 c4"
    assert first.at_concurrency(8).concurrency == 8 and first.at_concurrency(8).name.endswith("@c8")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[run]]\nmodel = 'm'\nconcurency = 2\n", "run 1: unknown key 'concurency'"),
        ("[[run]]\nmodel = 'm'\n[[run]]\nmodel = 'm'\nconcurrency = 0\n", "run 2: concurrency"),
        ("[[run]]\nmodel = 'm'\napi = 'grpc'\n", "run 1: api: expected one of generate"),
        ("[[run]]\napi = 'chat'\n", "run 1: model: expected a model name"),
        ("[[run]]\nmodel = 'm'\nrequests = 2\nduration_seconds = 3\n", "run 1: requests: set"),
        ("[[run]]\nmodel = 'm'\nduration_seconds = -1\n", "run 1: duration_seconds"),
        ("[[run]]\nmodel = 'm'\nstream = 'yes'\n", "run 1: stream: expected true or false"),
        ("[[run]]\nmodel = 'm'\nprompt_tokens = 1.5\n", "run 1: prompt_tokens"),
        ("[[run]]\nmodel = 'm'\nrequests = true\n", "run 1: requests"),
        ("[[run]]\nmodel = 'm'\nname = ''\n", "run 1: name"),
        ("[[run]]\nmodel = 'm'\nprompt_tokens = 100000000000\n", "run 1: prompt_tokens"),
        ("[[run]]\nmodel = 'm'\noutput_tokens = 10000000000000\n", "run 1: output_tokens"),
        ("[[run]]\nmodel = 'm'\nconcurrency = 1000000000\n", "run 1: concurrency"),
        ("[[run]]\nmodel = 'm'\nrequests = 99999999999999999999\n", "run 1: requests"),
        ("[run]\nmodel = 'm'\n", "run: write [[run]]"),
        ("run = [1]\n", "run 1: expected a table"),
        ("model = 'm'\n", "unknown key 'model'"),
        ("", "expected at least one [[run]] table"),
        ("[[run]\n", "invalid TOML"),
    ],
)
def test_bad_matrix_is_one_line_naming_run_and_key(text: str, message: str) -> None:
    with pytest.raises(LoadtestError) as info:
        parse_matrix(text, load_config(env={}), source="m.toml")
    assert message in str(info.value) and str(info.value).startswith("m.toml")
    assert "\n" not in str(info.value)


def test_unreadable_matrix_file(tmp_path: Path) -> None:
    with pytest.raises(LoadtestError, match="cannot read matrix"):
        load_matrix(tmp_path / "missing.toml", load_config(env={}))
    (tmp_path / "binary.toml").write_bytes(b"\xff\xfe[[run]]")
    with pytest.raises(LoadtestError, match="not UTF-8"):
        load_matrix(tmp_path / "binary.toml", load_config(env={}))


def test_default_matrix_covers_each_tier_with_a_short_and_a_long_prompt() -> None:
    config: Config = load_config(env={})
    installed = ("nomic-embed-text:latest", "llama3.2:3b", "llama3.1:8b", "qwen2.5:14b")
    runs, notes = default_matrix(config, installed)
    assert [(r.tier.name, r.model, r.prompt_tokens) for r in runs] == [
        ("cpu", "llama3.2:3b", 64),
        ("cpu", "llama3.2:3b", 1024),
        ("gpu-8gb", "llama3.1:8b", 64),
        ("gpu-8gb", "llama3.1:8b", 1024),
        ("gpu-24gb", "qwen2.5:14b", 64),
        ("gpu-24gb", "qwen2.5:14b", 1024),
    ]
    assert notes == ("tier gpu-40gb: no installed model belongs to it; not tested",)
    quick, _ = default_matrix(config, installed, quick=True)
    assert all(r.requests == 6 and r.output_tokens == 32 for r in quick)
