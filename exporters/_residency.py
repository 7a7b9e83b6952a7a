"""Model residency events: load, unload and evict, from `/api/ps` changes and `done_reason`.

Rules (docs/decisions/0015-gpu-energy-sharing.md, "Residency"):
- a model that appears in `/api/ps` was **loaded**; so was one a request answered with
  `done_reason: "load"` (a load request: no prompt), whichever is seen first;
- a request answered with `done_reason: "unload"` (`keep_alive: 0`) **unloaded** its model;
- a model that leaves `/api/ps` otherwise was **unloaded** when its `expires_at` had passed (its
  keep-alive ran out) and **evicted** when it had not: Ollama dropped it early, to make room for
  another model or because its runner died.

Each event is one JSON log line (`model residency`, fields `event`, `model`, `size_bytes`,
`size_vram_bytes`), a counter by event and model, and a 1/0 `resident` gauge per model seen.
Model labels are `/api/ps` names, bounded by the installed models.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from prometheus_client import CollectorRegistry, Counter, Gauge

from exporters import metric_names as m
from exporters._ollama import ModelResidency, model_key
from telemetry.core import RequestRecord

log = logging.getLogger("ollama_sidecar.gpu.residency")

# An expiry this close to the poll still counts as reached (the poll interval's jitter).
_EXPIRY_SLACK_SECONDS = 1.0


class Residency(StrEnum):
    LOAD = "load"
    UNLOAD = "unload"
    EVICT = "evict"


@dataclass(frozen=True, slots=True)
class ResidencyEvent:
    event: Residency
    model: str
    size_bytes: int | None = None
    size_vram_bytes: int | None = None


class ResidencyTracker:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._events = Counter(
            m.RESIDENCY_EVENTS,
            "Model load, unload and evict events seen in Ollama's /api/ps and replies.",
            ["event", m.LABEL_MODEL],
            registry=registry,
        )
        self._resident = Gauge(
            m.MODEL_RESIDENT,
            "1 while the model is loaded in Ollama, 0 once it has left.",
            [m.LABEL_MODEL],
            registry=registry,
        )
        self._loaded: dict[str, ModelResidency] = {}
        self._announced: dict[str, Residency] = {}
        self._polled = False

    def update(self, loaded: Iterable[ModelResidency], now: float) -> list[ResidencyEvent]:
        """A fresh `/api/ps` view (taken at Unix time `now`) → the events it implies."""
        current = {model_key(r.name): r for r in loaded}
        events: list[ResidencyEvent] = []
        for key, r in current.items():
            announced = self._announced.pop(key, None)
            # New since the last poll (unless a load reply said so already), or back after an
            # unload reply this poll never saw take effect.
            if (key not in self._loaded and announced is not Residency.LOAD) or (
                key in self._loaded and announced is Residency.UNLOAD
            ):
                events.append(
                    ResidencyEvent(Residency.LOAD, r.name, r.size_bytes, r.size_vram_bytes)
                )
        for key, r in self._loaded.items():
            if key in current:
                continue
            if self._announced.pop(key, None) is Residency.UNLOAD:
                continue
            expired = r.expires_at is not None and r.expires_at <= now + _EXPIRY_SLACK_SECONDS
            kind = Residency.UNLOAD if expired else Residency.EVICT
            events.append(ResidencyEvent(kind, r.name, r.size_bytes, r.size_vram_bytes))
        if not self._polled:  # what was loaded before the sidecar started is no event
            self._polled = True
            events = []
            for r in current.values():
                self._resident.labels(r.name).set(1)
        self._loaded = current
        for event in events:
            self._emit(event)
        return events

    def note(self, record: RequestRecord) -> ResidencyEvent | None:
        """A finished request whose `done_reason` says it loaded or unloaded its model."""
        if record.model is None or record.done_reason not in (Residency.LOAD, Residency.UNLOAD):
            return None
        key = model_key(record.model)
        kind = Residency(record.done_reason)
        resident = key in self._loaded or self._announced.get(key) is Residency.LOAD
        if (kind is Residency.LOAD) == resident:
            return None  # already known: the poll saw it first
        self._announced[key] = kind
        name = self._loaded[key].name if key in self._loaded else key
        event = ResidencyEvent(kind, name)
        self._emit(event)
        return event

    def _emit(self, event: ResidencyEvent) -> None:
        self._events.labels(event.event.value, event.model).inc()
        self._resident.labels(event.model).set(1 if event.event is Residency.LOAD else 0)
        fields: dict[str, object] = {"event": event.event.value, "model": event.model}
        if event.size_bytes is not None:
            fields["size_bytes"] = event.size_bytes
        if event.size_vram_bytes is not None:
            fields["size_vram_bytes"] = event.size_vram_bytes
        log.info("model residency", extra={"fields": fields})
