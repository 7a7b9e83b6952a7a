"""A dashboard: grafanalib `Dashboard` with the four variables, a grid layout, a modern schema."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grafanalib.core as g

from dashboards._panels import DATASOURCE
from telemetry.core import metric_names as proxy

SCHEMA_VERSION = 39
TAGS = ["ollama-sidecar"]
INSTANCE = 'instance=~"$instance"'
TIER = f'{proxy.LABEL_TIER}=~"$tier"'
MODEL = f'{proxy.LABEL_MODEL}=~"$model"'
RATE = "$__rate_interval"
_DASHBOARD_KEYS = (
    "uid",
    "title",
    "description",
    "tags",
    "timezone",
    "editable",
    "graphTooltip",
    "time",
    "timepicker",
    "refresh",
    "schemaVersion",
    "templating",
    "panels",
    "annotations",
    "version",
    "links",
)


def sel(*matchers: str) -> str:
    return "{" + ", ".join(matchers) + "}"


def _query_variable(name: str, label: str, query: str) -> g.Template:
    return g.Template(
        name=name,
        label=label,
        query=query,
        dataSource=dict(DATASOURCE),
        includeAll=True,
        multi=True,
        allValue=".*",
        default="$__all",
        refresh=2,
    )


def variables() -> list[dict[str, Any]]:
    requests = f"{proxy.REQUESTS}{sel(INSTANCE)}"
    templates = [
        g.Template(
            name="datasource",
            label="Data source",
            query="prometheus",
            type="datasource",
            default="Prometheus",
        ),
        _query_variable("instance", "Sidecar", f"label_values({proxy.BUILD_INFO}, instance)"),
        _query_variable("tier", "Tier", f"label_values({requests}, {proxy.LABEL_TIER})"),
        _query_variable(
            "model",
            "Model",
            f"label_values({proxy.REQUESTS}{sel(INSTANCE, TIER)}, {proxy.LABEL_MODEL})",
        ),
    ]
    out = []
    for template in templates:
        data = template.to_json_data()
        keep = (
            "name",
            "label",
            "type",
            "query",
            "datasource",
            "includeAll",
            "multi",
            "allValue",
            "current",
            "refresh",
            "sort",
            "hide",
            "options",
        )
        out.append({k: data[k] for k in keep if data.get(k) is not None})
    return out


def layout(rows: Sequence[Sequence[tuple[dict[str, Any], int]]], height: int = 8) -> list[Any]:
    """Place panels row by row; each entry is (panel, width in Grafana's 24 columns)."""
    panels = []
    y = 0
    for row in rows:
        x = 0
        for panel, width in row:
            panel["gridPos"] = {"h": height, "w": width, "x": x, "y": y}
            panels.append(panel)
            x += width
        y += height
    return panels


def dashboard(uid: str, title: str, description: str, panels: list[Any]) -> dict[str, Any]:
    for number, panel in enumerate(panels, start=1):
        panel["id"] = number
    model = g.Dashboard(
        title=title,
        uid=uid,
        tags=TAGS,
        timezone="browser",
        refresh="30s",
        schemaVersion=SCHEMA_VERSION,
        panels=[],
        graphTooltip=1,
        time=g.Time("now-6h", "now"),
    )
    raw = model.to_json_data()
    raw["time"] = {"from": "now-6h", "to": "now"}
    raw["timepicker"] = {}
    raw["annotations"] = {"list": []}
    raw["templating"] = {"list": variables()}
    raw["panels"] = panels
    raw["description"] = description
    raw["links"] = []
    out = {key: raw[key] for key in _DASHBOARD_KEYS if key in raw}
    out["version"] = 1
    return out
