"""Rules as frozen records, and their Prometheus rule-file form."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from alerts._promql import duration

RUNBOOK = "https://github.com/ollama-sidecar/ollama-sidecar/blob/main/docs/runbook.md"
ALERT_PREFIX = "OllamaSidecar"


def runbook_url(alertname: str) -> str:
    return f"{RUNBOOK}#{alertname.lower()}"


@dataclass(frozen=True, slots=True)
class RecordingRule:
    record: str
    expr: str
    labels: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"record": self.record, "expr": self.expr}
        if self.labels:
            out["labels"] = dict(self.labels)
        return out


@dataclass(frozen=True, slots=True)
class AlertRule:
    """An alert following the monitoring-mixin conventions.

    `summary` is static; `description` is a Go template over labels only (never `$value`, so the
    promtool unit tests can assert it exactly).
    """

    alert: str
    expr: str
    severity: str
    summary: str
    description: str
    for_seconds: int = 0
    labels: tuple[tuple[str, str], ...] = ()

    def annotations(self) -> dict[str, str]:
        return {
            "summary": self.summary,
            "description": self.description,
            "runbook_url": runbook_url(self.alert),
        }

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"alert": self.alert, "expr": self.expr}
        if self.for_seconds:
            out["for"] = duration(self.for_seconds)
        out["labels"] = {"severity": self.severity, **dict(self.labels)}
        out["annotations"] = self.annotations()
        return out


@dataclass(frozen=True, slots=True)
class RuleGroup:
    name: str
    rules: tuple[RecordingRule | AlertRule, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "rules": [rule.to_dict() for rule in self.rules]}
