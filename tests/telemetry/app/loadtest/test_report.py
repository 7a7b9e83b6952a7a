"""report.json (schema-checked), report.md, samples.csv and the plots from real runs."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from telemetry import Config
from telemetry.app.loadtest._errors import LoadtestError
from telemetry.app.loadtest._report import build_report, check_out, render_markdown, write_report
from telemetry.app.loadtest._runner import Runner, RunResult
from telemetry.app.loadtest._verdict import Objectives
from telemetry.emulator import EmulatorServer
from tests.telemetry.app.loadtest._files import png_size, valid_report
from tests.telemetry.app.loadtest.conftest import spec

ENVIRONMENT = {
    "target": "http://127.0.0.1:1",
    "target_version": "0.32.15",
    "emulated": True,
    "region": "eu-west",
    "started_at": "2026-12-02T01:00:00+00:00",
}


@pytest.fixture
async def results(runner: Runner, emu: EmulatorServer, config: Config) -> list[RunResult]:
    good = await runner.run(spec(config, name="good", requests=4))
    emu.config.fault = "stall_before"
    stalled = await runner.run(spec(config, name="stalled", requests=2, concurrency=2))
    return [good, stalled]


async def test_report_files_exist_and_are_valid(
    results: list[RunResult], config: Config, tmp_path: Path
) -> None:
    report = build_report(
        "loadtest", ENVIRONMENT, Objectives.from_config(config, 0.01), results, ["a note"]
    )
    written = write_report(tmp_path / "out", report, results)
    assert [p.name for p in written] == [
        "report.json",
        "report.md",
        "latency_cdf.png",
        "ttft_cdf.png",
        "tokens_per_second.png",
        "timeouts_over_time.png",
        "samples.csv",
    ]
    saved = valid_report(written[0])
    assert saved["verdict"] == "fail" and saved["kind"] == "loadtest"
    good, stalled = saved["runs"]
    assert (good["verdict"], good["requests"], good["timeout_rate"]) == ("pass", 4, 0.0)
    assert (stalled["verdict"], stalled["timeout_rate"], stalled["p50_seconds"]) == (
        "fail",
        1.0,
        None,
    )
    assert stalled["failed_conditions"][0] == "no request completed (2 sent)"
    assert good["budgets"]["p95_seconds"] == 1.0 and good["tier"] == "fast"
    for plot in written[2:6]:
        width, height = png_size(plot)
        assert width >= 600 and height >= 300
    with written[-1].open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6 and rows[-1]["outcome"] == "timeout"


async def test_markdown_names_the_verdict_the_runs_and_the_missed_conditions(
    results: list[RunResult], config: Config
) -> None:
    report = build_report("loadtest", ENVIRONMENT, Objectives.from_config(config, 0.01), results)
    text = render_markdown(report)
    assert text.startswith("# Load test: FAIL\n")
    assert "- region: eu-west" in text and "version 0.32.15, built-in emulator" in text
    assert "| good | fast | 2 | 4 |" in text and "| stalled | fast | 2 | 2 |" in text
    assert "- stalled: no request completed (2 sent); timeout rate 100.0% >= 2.0% objective" in text


async def test_a_soak_section_joins_the_verdict(results: list[RunResult], config: Config) -> None:
    objectives = Objectives.from_config(config, 0.01)
    soak = {"verdict": "fail", "summary": ["memory keeps growing"]}
    report = build_report("soak", ENVIRONMENT, objectives, results[:1], soak=soak)
    assert report["runs"][0]["verdict"] == "pass" and report["verdict"] == "fail"
    assert "## Soak\n\n    memory keeps growing" in render_markdown(report)


def test_the_report_folder_is_checked_before_any_work(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    (tmp_path / "region").mkdir()
    assert check_out(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()  # checked, not created
    for bad in (tmp_path / "file", tmp_path / "file" / "below"):
        with pytest.raises(LoadtestError, match="is not a writable folder"):
            check_out(bad)
    with pytest.raises(LoadtestError, match="a report being merged"):
        check_out(tmp_path / "x" / ".." / "region", [tmp_path / "region"])
