"""Merging reports of several regions: a row per region, every run tagged, bad inputs named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from telemetry import Config
from telemetry.app.loadtest._errors import LoadtestError
from telemetry.app.loadtest._merge import merge
from telemetry.app.loadtest._report import build_report, render_markdown, write_report
from telemetry.app.loadtest._runner import Runner
from telemetry.app.loadtest._verdict import Objectives
from telemetry.emulator import EmulatorServer
from tests.telemetry.app.loadtest._files import valid_report
from tests.telemetry.app.loadtest.conftest import spec


def _environment(region: str | None) -> dict[str, Any]:
    return {
        "target": f"http://{region or 'host'}:11435",
        "target_version": "0.32.15",
        "emulated": False,
        "region": region,
        "started_at": "2026-12-02T01:00:00+00:00",
    }


@pytest.fixture
async def folders(
    runner: Runner, emu: EmulatorServer, config: Config, tmp_path: Path
) -> list[Path]:
    objectives = Objectives.from_config(config, 0.01)
    good = await runner.run(spec(config, name="chat", requests=2))
    emu.config.fault = "busy"
    bad = await runner.run(spec(config, name="chat", requests=2))
    out = []
    for name, region, result in (("eu", "eu-west", good), ("us-host", None, bad)):
        report = build_report("loadtest", _environment(region), objectives, [result])
        write_report(tmp_path / name, report, [])
        out.append(tmp_path / name)
    return out


async def test_merge_has_a_row_per_region_and_every_run(
    folders: list[Path], tmp_path: Path
) -> None:
    merged = merge(folders)
    write_report(tmp_path / "merged", merged, [])
    saved = valid_report(tmp_path / "merged" / "report.json")
    assert saved["kind"] == "merged" and saved["verdict"] == "fail"
    assert [(r["region"], r["verdict"], r["runs"]) for r in saved["regions"]] == [
        ("eu-west", "pass", 1),
        ("us-host", "fail", 1),  # no --region: the folder's name
    ]
    assert [(r["region"], r["verdict"]) for r in saved["runs"]] == [
        ("eu-west", "pass"),
        ("us-host", "fail"),
    ]
    text = render_markdown(saved)
    assert "| region | run |" in text and "| eu-west | chat | fast |" in text
    assert "| us-host | http://host:11435 | 1 | fail |" in text
    assert "- chat (us-host): " in text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "report.json: cannot read"),
        ("{", "report.json: invalid JSON"),
        ('{"schema": "other"}', "schema: not a load-test report"),
        ('{"schema": "ollama-sidecar-loadtest/1", "kind": "merged"}', "already a merged report"),
        ('{"schema": "ollama-sidecar-loadtest/1", "runs": {}}', "runs: expected a list"),
        (
            '{"schema": "ollama-sidecar-loadtest/1", "runs": [{"name": "x"}]}',
            "run 1: model: missing",
        ),
    ],
)
def test_bad_report_is_named(tmp_path: Path, content: str | None, message: str) -> None:
    if content is not None:
        (tmp_path / "report.json").write_text(content)
    with pytest.raises(LoadtestError, match=message):
        merge([tmp_path])


def test_missing_environment_is_named(folders: list[Path]) -> None:
    path = folders[0] / "report.json"
    report = json.loads(path.read_text())
    del report["environment"]
    path.write_text(json.dumps(report))
    with pytest.raises(LoadtestError, match="environment: expected an object"):
        merge(folders)
