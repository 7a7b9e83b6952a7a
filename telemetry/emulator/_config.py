"""Emulator settings: timing, models, faults. Changed at runtime through `/_emulator/config`.

`EmulatorConfig` is deliberately mutable: `EmulatorServer.config` is the live object and every
request reads it afresh, so a change applies to the next request. Updates go through
`apply_update`, which validates a whole new value before touching the live one; a bad value
raises `ConfigError` naming the key and leaves the config as it was.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from telemetry.core._errors import ConfigError

FAULTS: tuple[str, ...] = (
    "error_before",
    "error_midstream",
    "stall_before",
    "stall_midstream",
    "busy",
    "slow_load",
    "garbage",
    "disconnect",
)


@dataclass(frozen=True, slots=True)
class EmulatedModel:
    """One local model. `vram_fraction` sets `/api/ps` placement: 1.0 GPU, 0.5 split, 0.0 CPU."""

    name: str
    digest: str
    size: int
    parameter_size: str
    family: str
    quantization: str
    vram_fraction: float = 1.0
    context_length: int = 4096
    embedding_only: bool = False
    modified_at: str = "2025-11-20T09:15:42.123456789Z"
    # A cloud model (Ollama's `remote_model`/`remote_host`): served by another host, so it
    # shows in /api/tags and /api/show and on every streamed line, never in /api/ps.
    remote_model: str = ""
    remote_host: str = ""

    def __post_init__(self) -> None:
        if not self.name or any(c.isspace() for c in self.name):
            raise ConfigError(f"models.name: invalid model name {self.name!r}")
        digest = self.digest.removeprefix("sha256:")
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ConfigError(f"models.digest: {self.name}: expected 64 lowercase hex digits")
        object.__setattr__(self, "digest", digest)
        if self.size < 0:
            raise ConfigError(f"models.size: {self.name}: must be >= 0")
        if not 0.0 <= self.vram_fraction <= 1.0:
            raise ConfigError(f"models.vram_fraction: {self.name}: must be between 0 and 1")
        if self.context_length <= 0:
            raise ConfigError(f"models.context_length: {self.name}: must be > 0")

    @property
    def remote(self) -> dict[str, str]:
        """The `remote_model`/`remote_host` fields Ollama adds for a cloud model (else none)."""
        if not self.remote_host:
            return {}
        return {"remote_model": self.remote_model, "remote_host": self.remote_host}

    @property
    def size_vram(self) -> int:
        return round(self.size * self.vram_fraction)

    def details(self) -> dict[str, Any]:
        return {
            "parent_model": "",
            "format": "gguf",
            "family": self.family,
            "families": [self.family],
            "parameter_size": self.parameter_size,
            "quantization_level": self.quantization,
        }

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: object) -> EmulatedModel:
        if not isinstance(data, Mapping):
            raise ConfigError("models: each model must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"models: unknown key {unknown[0]!r}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise ConfigError(f"models: {exc}") from exc


DEFAULT_MODELS: tuple[EmulatedModel, ...] = (
    EmulatedModel(
        name="llama3.2:3b",
        digest="a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
        size=2_019_393_189,
        parameter_size="3.2B",
        family="llama",
        quantization="Q4_K_M",
    ),
    EmulatedModel(
        name="llama3.1:8b",
        digest="46e0c10c039e019119339687c3c1757cc81b9da49709a3b3924863ba87ca666e",
        size=4_920_753_328,
        parameter_size="8.0B",
        family="llama",
        quantization="Q4_K_M",
    ),
    EmulatedModel(
        name="qwen2.5:14b",
        digest="7cdf5a0187d5c58cc5d369b255592f7841d1c4696d45a8c8a9489440385b22f6",
        size=8_988_124_069,
        parameter_size="14.8B",
        family="qwen2",
        quantization="Q4_K_M",
    ),
    EmulatedModel(
        name="llama3.3:70b",
        digest="a6eb4748fd2990ad2952b2335a95a7f952d1a06119a0aa6a2df6cd052a93a3fa",
        size=42_520_413_916,
        parameter_size="70.6B",
        family="llama",
        quantization="Q4_K_M",
        vram_fraction=0.52,
    ),
    EmulatedModel(
        name="gpt-oss:120b-cloud",
        digest="569662207105c6d3d4f1bb1ac85d2bdd40e7b9fd9b4a0ae5e8d5a0e4c7ad9e21",
        size=384,
        parameter_size="116.8B",
        family="gptoss",
        quantization="MXFP4",
        vram_fraction=0.0,
        remote_model="gpt-oss:120b",
        remote_host="https://ollama.com:443",
    ),
    EmulatedModel(
        name="nomic-embed-text:latest",
        digest="0a109f422b47e3a30ba2b10eca18548e944e8a23073ee3f3e947efcf3c45e59f",
        size=274_302_450,
        parameter_size="137M",
        family="nomic-bert",
        quantization="F16",
        context_length=2048,
        embedding_only=True,
    ),
)


@dataclass(slots=True)
class EmulatorConfig:
    """Everything the emulator does; `tokens_per_second=0` means no delay between tokens."""

    ttft_seconds: float = 0.05
    tokens_per_second: float = 50.0
    output_tokens: int = 16
    load_seconds: float = 0.0
    embedding_dim: int = 16
    version: str = "0.32.15"
    keep_alive_seconds: float = 300.0
    models: tuple[EmulatedModel, ...] = field(default=DEFAULT_MODELS)
    fault: str | None = None
    fault_models: tuple[str, ...] = ()
    fault_after_chunks: int = 2
    stall_seconds: float = 3600.0
    # The global fault hits this share of matching requests (drawn per request), not all of them.
    fault_share: float = 1.0
    # Load-dependent latency: TTFT and token pacing stretch by `1 + concurrency_slowdown * n`,
    # `n` being the other requests in flight when this one arrives.
    concurrency_slowdown: float = 0.0

    def __post_init__(self) -> None:
        for name in (
            "ttft_seconds",
            "tokens_per_second",
            "load_seconds",
            "stall_seconds",
            "fault_share",
            "concurrency_slowdown",
        ):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise ConfigError(f"{name}: expected a number")
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"{name}: must be a finite number >= 0")
        for name in ("output_tokens", "embedding_dim", "fault_after_chunks"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{name}: expected an integer >= 0")
        if not isinstance(self.version, str) or not self.version:
            raise ConfigError("version: expected a non-empty string")
        if self.fault_share > 1:
            raise ConfigError("fault_share: must be between 0 and 1")
        if self.embedding_dim < 1:
            raise ConfigError("embedding_dim: must be >= 1")
        if self.fault is not None and self.fault not in FAULTS:
            raise ConfigError(f"fault: unknown fault {self.fault!r}; known: {', '.join(FAULTS)}")
        names = [m.name for m in self.models]
        if len(names) != len(set(names)):
            raise ConfigError("models: duplicate model name")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["models"] = [m.to_json() for m in self.models]
        out["fault_models"] = list(self.fault_models)
        return out

    def model(self, name: str) -> EmulatedModel | None:
        """Find a model the way Ollama does: a name without a tag means `:latest`."""
        wanted = name if ":" in name else f"{name}:latest"
        for m in self.models:
            if m.name == wanted:
                return m
        return None


def _coerce(key: str, value: object) -> object:
    if key == "models":
        if not isinstance(value, list | tuple):
            raise ConfigError("models: expected a list")
        return tuple(EmulatedModel.from_json(m) for m in value)
    if key == "fault_models":
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ConfigError("fault_models: expected a list of glob strings")
        return tuple(value)
    if key in ("fault", "version") and value is not None and not isinstance(value, str):
        raise ConfigError(f"{key}: expected a string")
    if key == "fault" and value in ("", "none"):
        return None
    return value


def apply_update(config: EmulatorConfig, update: Mapping[str, object]) -> None:
    """Merge `update` into the live `config` in place, all or nothing."""
    known = {f.name for f in fields(config)}
    for key in update:
        if key not in known:
            raise ConfigError(f"{key}: unknown emulator setting")
    changes = {key: _coerce(key, value) for key, value in update.items()}
    try:
        candidate = dataclasses.replace(config, **changes)  # type: ignore[arg-type]
    except TypeError as exc:
        raise ConfigError(str(exc)) from exc
    for f in fields(candidate):
        setattr(config, f.name, getattr(candidate, f.name))
