"""The test matrix: `[[run]]` tables from TOML, or a default one built from the config's tiers.

Each run names a model; its tier (budgets and timeouts) comes from the same config the sidecar
uses, so the SLO is defined once. A bad matrix raises `LoadtestError` with one line naming the
file, the run (1-based) and the key.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from telemetry import Config, Tier
from telemetry.app.loadtest._errors import LoadtestError

Api = Literal["generate", "chat", "openai"]
APIS: tuple[Api, ...] = ("generate", "chat", "openai")
DEFAULT_REQUESTS = 20
# The default matrix: a short and a long prompt per tier.
SHORT_PROMPT, LONG_PROMPT = 64, 1024
DEFAULT_OUTPUT_TOKENS = 128
DEFAULT_CONCURRENCY = 2
QUICK_REQUESTS, QUICK_OUTPUT_TOKENS = 6, 32

_KEYS = {
    "name",
    "model",
    "api",
    "prompt_tokens",
    "output_tokens",
    "concurrency",
    "requests",
    "duration_seconds",
    "stream",
}


# Beyond these a matrix is a typo, not a load test: a prompt no model's context holds, more
# workers or requests than one load generator should open.
MAX_CONCURRENCY = 4096
_MAXIMA = {
    "prompt_tokens": 1 << 20,
    "output_tokens": 1 << 20,
    "concurrency": MAX_CONCURRENCY,
    "requests": 10_000_000,
}


@dataclass(frozen=True, slots=True)
class RunSpec:
    """One cell of the matrix. Exactly one of `requests` and `duration_seconds` is set."""

    name: str
    model: str
    api: Api
    prompt_tokens: int
    output_tokens: int
    concurrency: int
    requests: int | None
    duration_seconds: float | None
    stream: bool
    tier: Tier

    def at_concurrency(self, concurrency: int) -> RunSpec:
        """The same run at another concurrency (a sweep level), named after it."""
        return dataclasses.replace(
            self, concurrency=concurrency, name=f"{self.name} @c{concurrency}"
        )


def _name(model: str, api: str, prompt: int, output: int, concurrency: int) -> str:
    return f"{model} {api} p{prompt} o{output} c{concurrency}"


def load_matrix(path: Path, config: Config) -> tuple[RunSpec, ...]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LoadtestError(f"cannot read matrix {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError:
        raise LoadtestError(f"{path}: not UTF-8 text, so not a TOML matrix") from None
    return parse_matrix(text, config, source=str(path))


def parse_matrix(text: str, config: Config, source: str = "matrix") -> tuple[RunSpec, ...]:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LoadtestError(f"{source}: invalid TOML: {exc}") from exc
    unknown = sorted(set(raw) - {"run"})
    if unknown:
        raise LoadtestError(f"{source}: unknown key {unknown[0]!r} (expected [[run]] tables)")
    runs = raw.get("run")
    if isinstance(runs, dict):
        raise LoadtestError(f"{source}: run: write [[run]] (a list of tables), not [run]")
    if not isinstance(runs, list) or not runs:
        raise LoadtestError(f"{source}: expected at least one [[run]] table")
    return tuple(_run(f"{source}: run {i}", table, config) for i, table in enumerate(runs, 1))


def _run(where: str, table: object, config: Config) -> RunSpec:
    if not isinstance(table, dict):
        raise LoadtestError(f"{where}: expected a table")
    for key in table:
        if key not in _KEYS:
            raise LoadtestError(f"{where}: unknown key {key!r}")
    model = table.get("model")
    if not isinstance(model, str) or not model.strip():
        raise LoadtestError(f"{where}: model: expected a model name")
    api = table.get("api", "generate")
    if api not in APIS:
        raise LoadtestError(f"{where}: api: expected one of {', '.join(APIS)}, got {api!r}")
    values = {
        key: _positive_int(where, key, table.get(key, default))
        for key, default in (
            ("prompt_tokens", SHORT_PROMPT),
            ("output_tokens", DEFAULT_OUTPUT_TOKENS),
            ("concurrency", 1),
        )
    }
    requests: int | None = None
    duration: float | None = None
    if "requests" in table and "duration_seconds" in table:
        raise LoadtestError(f"{where}: requests: set either requests or duration_seconds")
    if "duration_seconds" in table:
        duration = _positive_seconds(where, table["duration_seconds"])
    else:
        requests = _positive_int(where, "requests", table.get("requests", DEFAULT_REQUESTS))
    stream = table.get("stream", True)
    if not isinstance(stream, bool):
        raise LoadtestError(f"{where}: stream: expected true or false, got {stream!r}")
    auto = _name(
        model, api, *(values[k] for k in ("prompt_tokens", "output_tokens", "concurrency"))
    )
    name = table.get("name", auto)
    if not isinstance(name, str) or not name:
        raise LoadtestError(f"{where}: name: expected a non-empty string")
    return RunSpec(
        name=name,
        model=model,
        api=api,
        requests=requests,
        duration_seconds=duration,
        stream=stream,
        tier=config.tier_for(model),
        **values,
    )


def _positive_int(where: str, key: str, value: object) -> int:
    top = _MAXIMA[key]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= top:
        raise LoadtestError(f"{where}: {key}: expected an integer from 1 to {top}, got {value!r}")
    return value


def _positive_seconds(where: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 86400:
        raise LoadtestError(
            f"{where}: duration_seconds: expected seconds between 0 and 86400, got {value!r}"
        )
    return float(value)


def default_matrix(
    config: Config, installed: tuple[str, ...], *, quick: bool = False
) -> tuple[tuple[RunSpec, ...], tuple[str, ...]]:
    """Per tier, the first installed model in it with a short and a long prompt; and notes
    naming the tiers no installed model belongs to (they cannot be tested here)."""
    runs: list[RunSpec] = []
    notes: list[str] = []
    requests = QUICK_REQUESTS if quick else DEFAULT_REQUESTS
    output = QUICK_OUTPUT_TOKENS if quick else DEFAULT_OUTPUT_TOKENS
    chat_models = [m for m in installed if "embed" not in m and "minilm" not in m]
    for tier in config.tiers:
        model = next((m for m in chat_models if config.tier_for(m).name == tier.name), None)
        if model is None:
            notes.append(f"tier {tier.name}: no installed model belongs to it; not tested")
            continue
        for prompt in (SHORT_PROMPT, LONG_PROMPT):
            spec = RunSpec(
                name=_name(model, "generate", prompt, output, DEFAULT_CONCURRENCY),
                model=model,
                api="generate",
                prompt_tokens=prompt,
                output_tokens=output,
                concurrency=DEFAULT_CONCURRENCY,
                requests=requests,
                duration_seconds=None,
                stream=True,
                tier=tier,
            )
            runs.append(spec)
    return tuple(runs), tuple(notes)
