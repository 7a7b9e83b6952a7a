"""Progress: a redrawn bar with running p50/p95 and timeouts on a terminal, plain lines else."""

from __future__ import annotations

import io
from pathlib import Path

from telemetry.app.loadtest._progress import TextProgress
from telemetry.app.loadtest._request import Sample
from telemetry.app.loadtest._runner import judged
from telemetry.app.loadtest._verdict import Objectives
from tests.telemetry.app.loadtest.conftest import fast_config, spec


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _samples(count: int, timeouts: int = 0) -> list[Sample]:
    ok = [Sample(0.0, 0.1 * (i + 1), "ok", "", 0.05, 5, 30, 50.0) for i in range(count)]
    late = [Sample(0.0, 0.4, "timeout", "ttft_timeout", None, None, None, None)] * timeouts
    return ok + late


def test_plain_lines_every_quarter_and_a_verdict_line(tmp_path: Path) -> None:
    config = fast_config(tmp_path)
    run = spec(config, requests=8)
    out = io.StringIO()
    progress = TextProgress(out, tty=False)
    progress.start(run)
    samples: list[Sample] = []
    for sample in _samples(7, timeouts=1):
        samples.append(sample)
        progress.update(samples)
    progress.finish(judged(run, "t", samples, 1.0, Objectives.from_config(config, 0.01)))
    lines = out.getvalue().splitlines()
    assert lines[0] == "run 1 test run: 2/8 p50 0.15s p95 0.20s timeouts 0"
    assert len(lines) == 4 and "\r" not in out.getvalue()
    assert lines[-1].startswith("run 1 test run: 8/8 p50 0.40s p95 0.67s timeouts 1  FAIL: ")
    assert "timeout rate 12.5%" in lines[-1]


def test_terminal_bar_redraws_in_place_at_most_ten_times_a_second(tmp_path: Path) -> None:
    config = fast_config(tmp_path)
    run = spec(config, requests=4)
    out = io.StringIO()
    clock = Clock()
    progress = TextProgress(out, tty=True, clock=clock)
    progress.start(run)
    samples = _samples(4)
    for i in range(1, 5):
        clock.now += 0.06
        progress.update(samples[:i])
    drawn = out.getvalue().split("\r")[1:]
    assert len(drawn) == 2  # 0.06 s apart: every other update is drawn
    assert drawn[0].startswith("run 1 test run: [" + "#" * 12 + "." * 12 + "] 2/4 p50 0.15s")
    assert drawn[1].startswith("run 1 test run: [" + "#" * 24 + "] 4/4 p50")
    assert drawn[-1].endswith("\x1b[K")
    progress.finish(judged(run, "t", samples, 1.0, Objectives.from_config(config, 0.01)))
    assert out.getvalue().endswith("timeouts 0  PASS\x1b[K\n")


def test_duration_runs_show_requests_sent(tmp_path: Path) -> None:
    out = io.StringIO()
    clock = Clock()
    progress = TextProgress(out, tty=False, clock=clock)
    progress.start(spec(fast_config(tmp_path), requests=None, duration_seconds=10.0))
    clock.now = 3.0
    progress.update(_samples(5))
    assert out.getvalue() == "run 1 test run: 5 sent p50 0.30s p95 0.48s timeouts 0\n"
