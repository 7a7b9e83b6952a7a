"""What the emulator remembers between requests: counters, loaded models, uploaded blobs."""

from __future__ import annotations

import math
import random
import re
import time
from dataclasses import dataclass, field
from typing import Any

from telemetry.emulator._config import EmulatedModel, EmulatorConfig
from telemetry.emulator._wire import BadRequest, go_time

_FOREVER_SECONDS = 9_000_000_000  # what "keep loaded forever" shows as expires_at: year ~2310
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_keep_alive(value: object, default: float) -> float:
    """Seconds to keep a model loaded: a number is seconds, a string a Go duration.

    Negative means forever (`math.inf`); 0 unloads right after the request.
    """
    if value is None:
        return default
    if isinstance(value, bool):
        raise BadRequest("json: cannot unmarshal bool into Go value of type api.Duration")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _parse_go_duration(value)
    else:
        raise BadRequest("json: cannot unmarshal value into Go value of type api.Duration")
    return math.inf if seconds < 0 else seconds


def _parse_go_duration(text: str) -> float:
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    if body == "0":
        return 0.0
    total, pos = 0.0, 0
    for match in _DURATION_PART.finditer(body):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if not body or pos != len(body):
        raise BadRequest(f'time: invalid duration "{text}"')
    return sign * total


@dataclass(slots=True)
class EmulatorStats:
    """`cancelled`: the client left before the end. Control routes are not counted."""

    requests: int = 0
    active: int = 0
    cancelled: int = 0
    completed: int = 0

    def to_json(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "active": self.active,
            "cancelled": self.cancelled,
            "completed": self.completed,
        }


@dataclass(slots=True)
class EmulatorState:
    config: EmulatorConfig
    stats: EmulatorStats = field(default_factory=EmulatorStats)
    blobs: set[str] = field(default_factory=set)
    rng: random.Random = field(default_factory=random.Random)
    # model name -> wall-clock expiry (seconds since the epoch, inf = never)
    _loaded: dict[str, float] = field(default_factory=dict)

    def is_loaded(self, name: str) -> bool:
        expiry = self._loaded.get(name)
        return expiry is not None and expiry > time.time()

    def keep(self, name: str, keep_alive: float) -> None:
        if keep_alive == 0:
            self._loaded.pop(name, None)
        else:
            self._loaded[name] = time.time() + keep_alive

    def unload(self, name: str) -> None:
        self._loaded.pop(name, None)

    def running(self) -> list[tuple[EmulatedModel, float]]:
        """Loaded models with their expiry, longest time-to-expiry first (like `/api/ps`)."""
        now = time.time()
        out: list[tuple[EmulatedModel, float]] = []
        for name, expiry in list(self._loaded.items()):
            model = self.config.model(name)
            if model is None or expiry <= now:
                del self._loaded[name]
                continue
            out.append((model, expiry))
        out.sort(key=lambda item: item[1], reverse=True)
        return out

    def ps_json(self) -> dict[str, Any]:
        models = []
        for model, expiry in self.running():
            if model.remote_host:
                continue  # a cloud model runs elsewhere: Ollama never lists it as loaded
            shown = time.time() + _FOREVER_SECONDS if math.isinf(expiry) else expiry
            models.append(
                {
                    "name": model.name,
                    "model": model.name,
                    "size": model.size,
                    "digest": model.digest,
                    "details": model.details(),
                    "expires_at": go_time(int(shown * 1e9)),
                    "size_vram": model.size_vram,
                    "context_length": model.context_length,
                }
            )
        return {"models": models}
