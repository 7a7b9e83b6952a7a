"""Keep-alive parsing and the loaded-model table behind `/api/ps`."""

from __future__ import annotations

import math

import pytest

from telemetry.emulator import EmulatorConfig
from telemetry.emulator._state import EmulatorState, parse_keep_alive
from telemetry.emulator._wire import BadRequest


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, 300.0),
        (0, 0.0),
        (60, 60.0),
        (1.5, 1.5),
        ("0", 0.0),
        ("10m", 600.0),
        ("1h30m", 5400.0),
        ("250ms", 0.25),
        ("24h", 86400.0),
        (-1, math.inf),
        ("-1m", math.inf),
    ],
)
def test_parse_keep_alive(value: object, seconds: float) -> None:
    assert parse_keep_alive(value, 300.0) == seconds


@pytest.mark.parametrize("value", ["", "10", "ten minutes", "5x", True, [1]])
def test_parse_keep_alive_rejects(value: object) -> None:
    with pytest.raises(BadRequest):
        parse_keep_alive(value, 300.0)


def test_running_sorts_by_expiry_and_drops_expired() -> None:
    state = EmulatorState(EmulatorConfig())
    state.keep("llama3.2:3b", 10)
    state.keep("llama3.1:8b", math.inf)
    state.keep("qwen2.5:14b", 1e-9)
    assert [m.name for m, _ in state.running()] == ["llama3.1:8b", "llama3.2:3b"]
    state.keep("llama3.2:3b", 0)
    assert not state.is_loaded("llama3.2:3b")
    ps = state.ps_json()["models"]
    assert [m["name"] for m in ps] == ["llama3.1:8b"]
    assert ps[0]["expires_at"] > "2200"


def test_deleted_model_leaves_ps() -> None:
    config = EmulatorConfig()
    state = EmulatorState(config)
    state.keep("llama3.2:3b", 60)
    config.models = config.models[1:]
    assert state.running() == []
