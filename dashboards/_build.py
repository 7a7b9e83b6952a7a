"""Build every dashboard and write the committed JSON (and, through `alerts`, the rule files)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from alerts import RuleSettings, write_alert_files
from dashboards._errors import OutputError
from dashboards._gpus import gpus_dashboard
from dashboards._receipts import receipts_dashboard
from dashboards._requests import requests_dashboard
from dashboards._slo import slo_dashboard
from telemetry.core import Config

REPO_ROOT = Path(__file__).resolve().parent.parent
JSON_DIR = Path("dashboards") / "json"
ALERTS_DIR = Path("alerts")


def build_dashboards(config: Config, settings: RuleSettings) -> dict[str, dict[str, Any]]:
    """File name → dashboard JSON model."""
    return {
        "slo.json": slo_dashboard(config, settings),
        "requests.json": requests_dashboard(),
        "gpus.json": gpus_dashboard(),
        "receipts.json": receipts_dashboard(),
    }


def to_json(dashboard: dict[str, Any]) -> str:
    return json.dumps(dashboard, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def panel_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, PromQL expression) for every query of every panel."""
    return [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]


def write_all(root: Path, config: Config, settings: RuleSettings) -> list[Path]:
    """Write dashboards under `root/dashboards/json` and rules under `root/alerts`."""
    written = []
    try:
        out = root / JSON_DIR
        out.mkdir(parents=True, exist_ok=True)
        for name, dashboard in build_dashboards(config, settings).items():
            path = out / name
            path.write_text(to_json(dashboard), encoding="utf-8")
            written.append(path)
        written += write_alert_files(root / ALERTS_DIR, config, settings)
    except OSError as exc:
        raise OutputError(f"cannot write under {root}: {exc.strerror or exc}") from exc
    return written
