"""Residency events from successive `/api/ps` views and `done_reason` replies."""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest
from prometheus_client import CollectorRegistry

from exporters._ollama import ModelResidency
from exporters._residency import Residency, ResidencyEvent, ResidencyTracker
from tests.exporters._records import finished_request

NOW = 1_764_000_000.0
A = ModelResidency("a:7b", "a:7b", 100, 100, expires_at=NOW + 300)
B = ModelResidency("b:7b", "b:7b", 200, 200, expires_at=NOW + 300)
RECORD = finished_request("a:7b")


def kinds(events: list[ResidencyEvent]) -> list[tuple[str, str]]:
    return [(e.event.value, e.model) for e in events]


@pytest.fixture
def tracker() -> tuple[ResidencyTracker, CollectorRegistry]:
    registry = CollectorRegistry()
    t = ResidencyTracker(registry)
    assert t.update([B], NOW) == []  # loaded before the sidecar started: no event
    return t, registry


def test_appear_evict_and_expire(tracker: tuple[ResidencyTracker, CollectorRegistry]) -> None:
    t, registry = tracker
    assert kinds(t.update([A, B], NOW)) == [("load", "a:7b")]
    # b leaves long before its keep-alive ends while a stays: evicted.
    assert kinds(t.update([A], NOW + 1)) == [("evict", "b:7b")]
    # a leaves once its keep-alive has run out: unloaded.
    assert kinds(t.update([], NOW + 301)) == [("unload", "a:7b")]
    sample = registry.get_sample_value
    events = "ollama_sidecar_model_residency_events_total"
    model = "gen_ai_request_model"
    assert sample(events, {"event": "load", model: "a:7b"}) == 1
    assert sample(events, {"event": "evict", model: "b:7b"}) == 1
    assert sample("ollama_sidecar_model_resident", {model: "b:7b"}) == 0
    assert kinds(t.update([B], NOW + 302)) == [("load", "b:7b")]
    assert sample("ollama_sidecar_model_resident", {model: "b:7b"}) == 1


def test_done_reasons_are_events_once(tracker: tuple[ResidencyTracker, CollectorRegistry]) -> None:
    t, _ = tracker
    load = t.note(dataclasses.replace(RECORD, done_reason="load"))
    assert load == ResidencyEvent(Residency.LOAD, "a:7b")
    assert t.update([A, B], NOW) == []  # the poll agrees: no second load
    assert t.note(dataclasses.replace(RECORD, done_reason="load")) is None
    assert t.note(dataclasses.replace(RECORD, done_reason="stop")) is None
    unload = t.note(dataclasses.replace(RECORD, done_reason="unload"))
    assert unload is not None and unload.event is Residency.UNLOAD
    assert t.update([B], NOW + 1) == []  # gone, as announced: not an eviction


def test_each_event_is_one_json_log_line(
    tracker: tuple[ResidencyTracker, CollectorRegistry], caplog: pytest.LogCaptureFixture
) -> None:
    t, _ = tracker
    with caplog.at_level(logging.INFO, "ollama_sidecar.gpu.residency"):
        t.update([A, B], NOW)
    (line,) = caplog.records
    assert line.getMessage() == "model residency"
    fields = line.fields  # type: ignore[attr-defined]
    assert fields == {"event": "load", "model": "a:7b", "size_bytes": 100, "size_vram_bytes": 100}
    json.dumps(fields)
