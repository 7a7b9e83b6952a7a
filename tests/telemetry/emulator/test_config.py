"""Emulator settings: defaults, validation, all-or-nothing runtime updates."""

from __future__ import annotations

import pytest

from telemetry import ConfigError
from telemetry.emulator import DEFAULT_MODELS, EmulatedModel, EmulatorConfig
from telemetry.emulator._config import apply_update


def test_defaults() -> None:
    config = EmulatorConfig()
    assert (config.ttft_seconds, config.tokens_per_second, config.output_tokens) == (0.05, 50, 16)
    assert (config.load_seconds, config.embedding_dim, config.stall_seconds) == (0, 16, 3600)
    assert config.fault is None and config.fault_models == ()
    assert config.models == DEFAULT_MODELS


def test_model_lookup_adds_latest() -> None:
    config = EmulatorConfig()
    assert config.model("nomic-embed-text") is DEFAULT_MODELS[-1]
    assert config.model("llama3.2") is None
    assert config.model("llama3.2:3b") is DEFAULT_MODELS[0]


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"ttft_seconds": -1}, "ttft_seconds"),
        ({"tokens_per_second": float("inf")}, "tokens_per_second"),
        ({"output_tokens": 1.5}, "output_tokens"),
        ({"embedding_dim": 0}, "embedding_dim"),
        ({"fault": "meltdown"}, "fault"),
        ({"fault_share": 1.5}, "fault_share"),
        ({"concurrency_slowdown": -0.1}, "concurrency_slowdown"),
        ({"version": ""}, "version"),
        ({"models": (DEFAULT_MODELS[0], DEFAULT_MODELS[0])}, "duplicate"),
    ],
)
def test_invalid_settings_name_the_key(kwargs: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        EmulatorConfig(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"digest": "xyz"}, "digest"),
        ({"vram_fraction": 1.5}, "vram_fraction"),
        ({"size": -1}, "size"),
        ({"name": "a b"}, "name"),
    ],
)
def test_invalid_models(kwargs: dict[str, object], key: str) -> None:
    base: dict[str, object] = {
        "name": "m:1b",
        "digest": "a" * 64,
        "size": 1,
        "parameter_size": "1B",
        "family": "llama",
        "quantization": "Q4_0",
    }
    with pytest.raises(ConfigError, match=key):
        EmulatedModel(**(base | kwargs))  # type: ignore[arg-type]


def test_digest_prefix_is_stripped_and_size_vram_rounds() -> None:
    model = EmulatedModel("m:1b", "sha256:" + "a" * 64, 1001, "1B", "llama", "Q4_0", 0.5)
    assert model.digest == "a" * 64 and model.size_vram == 500


def test_apply_update_merges_in_place() -> None:
    config = EmulatorConfig()
    apply_update(config, {"ttft_seconds": 0, "fault": "garbage", "fault_models": ["qwen*"]})
    assert (
        config.ttft_seconds == 0 and config.fault == "garbage" and config.fault_models == ("qwen*",)
    )
    assert config.output_tokens == 16
    apply_update(config, {"fault": "none"})
    assert config.fault is None


@pytest.mark.parametrize(
    "update",
    [
        {"nope": 1},
        {"output_tokens": 3, "ttft_seconds": "fast"},
        {"models": "llama"},
        {"models": [{"name": "x"}]},
        {"models": [{"name": "x", "colour": "red"}]},
        {"fault_models": "qwen*"},
    ],
)
def test_apply_update_is_all_or_nothing(update: dict[str, object]) -> None:
    config = EmulatorConfig()
    with pytest.raises(ConfigError):
        apply_update(config, update)
    assert config == EmulatorConfig()


def test_to_json_round_trips_models() -> None:
    config = EmulatorConfig()
    data = config.to_json()
    other = EmulatorConfig(ttft_seconds=1)
    apply_update(other, data)
    assert other == config
