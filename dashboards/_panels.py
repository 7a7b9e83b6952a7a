"""Panel builders on top of grafanalib, and the scrub that makes its output current Grafana JSON.

grafanalib emits legacy fields (schema 12 era); every panel goes through `modernise`, which keeps
only the keys Grafana 11/12 reads, points every query at the `$datasource` variable and sets the
unit, so each panel has a title, a description and a unit by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grafanalib.core as g

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
_PANEL_KEYS = (
    "id",
    "type",
    "title",
    "description",
    "gridPos",
    "datasource",
    "targets",
    "fieldConfig",
    "options",
    "transformations",
)


@dataclass(frozen=True, slots=True)
class Query:
    expr: str
    legend: str = ""
    instant: bool = False
    unit: str | None = None
    """Per-query unit, for tables whose columns differ."""


def _targets(queries: tuple[Query, ...], fmt: str = "time_series") -> list[g.Target]:
    return [
        g.Target(
            expr=q.expr,
            legendFormat=q.legend,
            refId=chr(ord("A") + i),
            instant=q.instant,
            format=fmt,
        )
        for i, q in enumerate(queries)
    ]


def _json(obj: Any) -> Any:
    if hasattr(obj, "to_json_data"):
        return _json(obj.to_json_data())
    if isinstance(obj, dict):
        return {k: _json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json(v) for v in obj]
    return obj


def modernise(panel: Any, unit: str, queries: tuple[Query, ...]) -> dict[str, Any]:
    raw = _json(panel)
    out = {key: raw[key] for key in _PANEL_KEYS if raw.get(key) is not None}
    out["datasource"] = dict(DATASOURCE)
    out["targets"] = [
        {
            "datasource": dict(DATASOURCE),
            "expr": t["expr"],
            "legendFormat": t["legendFormat"],
            "refId": t["refId"],
            "instant": t["instant"],
            "range": not t["instant"],
            "format": t["format"],
        }
        for t in raw["targets"]
    ]
    field_config = out.setdefault("fieldConfig", {"defaults": {}})
    field_config.setdefault("defaults", {})["unit"] = unit
    field_config["overrides"] = [
        {
            "matcher": {"id": "byFrameRefID", "options": chr(ord("A") + i)},
            "properties": [{"id": "unit", "value": q.unit}],
        }
        for i, q in enumerate(queries)
        if q.unit
    ]
    if not isinstance(out.get("options"), dict):
        out["options"] = {}
    return out


def timeseries(
    title: str, description: str, unit: str, *queries: Query, stack: bool = False
) -> dict[str, Any]:
    panel = g.TimeSeries(
        title=title,
        description=description,
        targets=_targets(queries),
        unit=unit,
        legendDisplayMode="list",
        legendPlacement="bottom",
        stacking={"mode": "normal"} if stack else {},
    )
    return modernise(panel, unit, queries)


def stat(
    title: str,
    description: str,
    unit: str,
    *queries: Query,
    thresholds: tuple[tuple[str, float | None], ...] = (),
) -> dict[str, Any]:
    panel = g.Stat(
        title=title,
        description=description,
        targets=_targets(queries),
        format=unit,
        reduceCalc="lastNotNull",
        graphMode="none",
    )
    out = modernise(panel, unit, queries)
    if thresholds:
        out["fieldConfig"]["defaults"]["thresholds"] = {
            "mode": "absolute",
            "steps": [{"color": color, "value": value} for color, value in thresholds],
        }
    return out


def gauge(
    title: str, description: str, unit: str, *queries: Query, maximum: float = 1.0
) -> dict[str, Any]:
    panel = g.GaugePanel(
        title=title,
        description=description,
        targets=_targets(queries),
        format=unit,
        max=maximum,
        min=0,
    )
    out = modernise(panel, unit, queries)
    out["fieldConfig"]["defaults"].update({"min": 0, "max": maximum})
    return out


def bar_gauge(title: str, description: str, unit: str, *queries: Query) -> dict[str, Any]:
    panel = g.BarGauge(
        title=title,
        description=description,
        targets=_targets(queries),
        format=unit,
        max=1,
        min=0,
        orientation="horizontal",
    )
    return modernise(panel, unit, queries)


def table(
    title: str, description: str, unit: str, *queries: Query, by: tuple[str, ...]
) -> dict[str, Any]:
    panel = g.Table(
        title=title, description=description, targets=_targets(queries, "table"), unit=unit
    )
    out = modernise(panel, unit, queries)
    out["transformations"] = [
        {"id": "merge", "options": {}},
        {
            "id": "organize",
            "options": {
                "excludeByName": {"Time": True},
                "renameByName": {
                    f"Value #{chr(ord('A') + i)}": q.legend for i, q in enumerate(queries)
                },
                "indexByName": {name: i for i, name in enumerate(by)},
            },
        },
    ]
    return out


def heatmap(title: str, description: str, unit: str, query: Query) -> dict[str, Any]:
    panel = g.Heatmap(title=title, description=description, targets=_targets((query,), "heatmap"))
    out = modernise(panel, unit, (query,))
    out["options"] = {
        "calculate": False,
        "yAxis": {"unit": unit},
        "color": {"mode": "scheme", "scheme": "Oranges", "exponent": 0.5},
        "cellGap": 1,
        "tooltip": {"mode": "single", "yHistogram": True},
    }
    return out


def state_timeline(
    title: str, description: str, states: tuple[tuple[float, str, str], ...], *queries: Query
) -> dict[str, Any]:
    """One row per series, coloured by value; `states` maps a value to its text and colour."""
    panel = g.StateTimeline(
        title=title, description=description, targets=_targets(queries), mergeValues=True
    )
    out = modernise(panel, "short", queries)
    out["fieldConfig"]["defaults"]["mappings"] = [
        {
            "type": "value",
            "options": {
                f"{value:g}": {"text": text, "color": color, "index": i}
                for i, (value, text, color) in enumerate(states)
            },
        }
    ]
    out["fieldConfig"]["defaults"]["color"] = {"mode": "thresholds"}
    out["options"] = {
        "mergeValues": True,
        "showValue": "never",
        "alignValue": "left",
        "rowHeight": 0.9,
        "legend": {"showLegend": False, "displayMode": "list", "placement": "bottom"},
        "tooltip": {"mode": "single"},
    }
    return out
