"""`loadtest merge DIR...`: reports from several hosts or regions as one, a row per region.

Each DIR holds a `report.json` written by `loadtest`; its region is the one it was run with
(`--region`), else the folder's name. The merged report keeps every run, tagged with its region,
and passes only when every region passed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from telemetry.app.loadtest._errors import LoadtestError
from telemetry.app.loadtest._report import PROMPT_ESTIMATE, SCHEMA

_RUN_KEYS = ("name", "model", "tier", "concurrency", "requests", "verdict", "failed_conditions")


def load_report(folder: Path) -> dict[str, Any]:
    path = folder / "report.json"
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LoadtestError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LoadtestError(f"{path}: invalid JSON: {exc}") from exc
    if not isinstance(report, dict) or report.get("schema") != SCHEMA:
        raise LoadtestError(f"{path}: schema: not a load-test report ({SCHEMA})")
    if report.get("kind") == "merged":
        raise LoadtestError(f"{path}: kind: already a merged report; merge the originals")
    runs = report.get("runs")
    if not isinstance(runs, list) or not all(isinstance(r, dict) for r in runs):
        raise LoadtestError(f"{path}: runs: expected a list of runs")
    for i, run in enumerate(runs, 1):
        for key in _RUN_KEYS:
            if key not in run:
                raise LoadtestError(f"{path}: run {i}: {key}: missing")
    if not isinstance(report.get("environment"), dict):
        raise LoadtestError(f"{path}: environment: expected an object")
    return report


def merge(folders: Sequence[Path]) -> dict[str, Any]:
    reports = [(folder, load_report(folder)) for folder in folders]
    regions: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    notes: list[str] = []
    objectives = reports[0][1].get("objectives")
    for folder, report in reports:
        env = report["environment"]
        region = env.get("region") or folder.resolve().name
        regions.append(
            {
                "region": region,
                "source": str(folder),
                "target": env.get("target"),
                "target_version": env.get("target_version"),
                "started_at": env.get("started_at"),
                "runs": len(report["runs"]),
                "verdict": report.get("verdict"),
            }
        )
        runs += [{**run, "region": region} for run in report["runs"]]
        if report.get("objectives") != objectives:
            notes.append(f"{region}: objectives differ from {regions[0]['region']}'s")
    started = sorted(str(r["started_at"]) for r in regions if r["started_at"])
    return {
        "schema": SCHEMA,
        "kind": "merged",
        "environment": {
            "target": ", ".join(str(r["target"]) for r in regions),
            "target_version": None,
            "emulated": False,
            "region": None,
            "started_at": started[0] if started else None,
        },
        "objectives": objectives,
        "prompt_estimate": PROMPT_ESTIMATE,
        "notes": notes,
        "regions": regions,
        "runs": runs,
        "verdict": "pass" if all(r["verdict"] == "pass" for r in regions) else "fail",
    }
