"""`ollama-sidecar loadtest` as a provider runs it: a subprocess, a matrix file, the real
emulator as the target (with and without injected faults), the report files and exit codes."""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from telemetry import Config
from telemetry.app.loadtest._report import build_report, write_report
from telemetry.app.loadtest._runner import Runner
from telemetry.app.loadtest._verdict import Objectives
from telemetry.emulator import EmulatorServer
from tests._net import free_port
from tests.telemetry.app._procs import cli, emulator, serve, wait_url
from tests.telemetry.app.loadtest._files import png_size, valid_report
from tests.telemetry.app.loadtest.conftest import FAST_TIERS, spec

ROOT = Path(__file__).resolve().parents[4]
COMMAND = [sys.executable, "-m", "telemetry.app.cli", "loadtest"]
MATRIX = """\
[[run]]
model = "llama3.1:8b"
prompt_tokens = 64
output_tokens = 4
concurrency = 4
requests = {requests}

[[run]]
model = "llama3.2:3b"
api = "openai"
output_tokens = 4
concurrency = 2
requests = 6
"""

pytestmark = pytest.mark.slow


async def _loadtest(*args: str) -> tuple[int, str, str]:
    """Run the CLI without blocking the event loop that serves the test's emulator."""
    proc = await asyncio.create_subprocess_exec(
        *COMMAND,
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, stdout.decode(), stderr.decode()


def _files(tmp_path: Path, requests: int = 8) -> tuple[str, str]:
    (tmp_path / "matrix.toml").write_text(MATRIX.format(requests=requests))
    (tmp_path / "sidecar.toml").write_text(FAST_TIERS)
    return str(tmp_path / "matrix.toml"), str(tmp_path / "sidecar.toml")


async def test_matrix_without_faults_passes_with_exit_0(
    emu: EmulatorServer, tmp_path: Path
) -> None:
    matrix, config = _files(tmp_path)
    out = tmp_path / "report"
    code, stdout, stderr = await _loadtest(
        "--target", emu.url, "--matrix", matrix, "--config", config, "--out", str(out),
        "--region", "eu-west", "--json",
    )  # fmt: skip
    assert code == 0, stderr
    report = valid_report(out / "report.json")
    assert json.loads(stdout) == report
    assert report["verdict"] == "pass" and report["environment"]["region"] == "eu-west"
    assert report["environment"]["target_version"] == "0.32.15"
    assert report["environment"]["inventory"]["cpu_count"] >= 1
    assert [(r["model"], r["api"], r["requests"], r["verdict"]) for r in report["runs"]] == [
        ("llama3.1:8b", "generate", 8, "pass"),
        ("llama3.2:3b", "openai", 6, "pass"),
    ]
    assert all(png_size(out / name)[0] > 0 for name in report["plots"])
    assert (out / "report.md").read_text().startswith("# Load test: PASS")
    assert "verdict: PASS (2 runs)" in stderr and "Traceback" not in stderr
    # Not a terminal: plain progress lines, no bar redraws.
    assert "\r" not in stderr and "run 1 llama3.1:8b generate p64 o4 c4: 8/8" in stderr


async def test_a_share_of_stalled_requests_fails_with_exit_1(
    emu: EmulatorServer, tmp_path: Path
) -> None:
    emu.config.fault, emu.config.fault_share, emu.config.fault_models = (
        "stall_before",
        0.2,
        ("llama3.1:*",),
    )
    emu.state.rng.seed(3)
    matrix, config = _files(tmp_path, requests=50)
    out = tmp_path / "report"
    code, _, stderr = await _loadtest(
        "--target", emu.url, "--matrix", matrix, "--config", config, "--out", str(out)
    )
    assert code == 1, stderr
    stalled, clean = valid_report(out / "report.json")["runs"]
    assert abs(stalled["timeout_rate"] - 0.2) <= 3 * math.sqrt(0.2 * 0.8 / 50)
    assert stalled["verdict"] == "fail" and clean["verdict"] == "pass"
    assert stalled["failures_by_kind"] == {"ttft_timeout": stalled["timeouts"]}
    assert "FAIL: timeout rate" in stderr and "verdict: FAIL (2 runs)" in stderr


async def test_sweep_prints_advice_and_exits_0(emu: EmulatorServer, tmp_path: Path) -> None:
    emu.config.concurrency_slowdown = 1.0
    (tmp_path / "m.toml").write_text("[[run]]\nmodel = 'llama3.1:8b'\noutput_tokens = 5\n")
    tiers = FAST_TIERS.replace("p50_seconds = 0.5", "p50_seconds = 0.25")
    (tmp_path / "sidecar.toml").write_text(tiers)
    code, stdout, stderr = await _loadtest(
        "--target", emu.url, "--matrix", str(tmp_path / "m.toml"),
        "--config", str(tmp_path / "sidecar.toml"), "--out", str(tmp_path / "sweep"),
        "--sweep", "concurrency=1,2,4", "--json",
    )  # fmt: skip
    assert code == 0, stderr
    advice = json.loads(stdout)["advice"]
    assert advice["ollama_num_parallel"] == 2
    assert "OLLAMA_NUM_PARALLEL=2" in stderr and "[tiers.fast]" in stderr


async def test_no_target_runs_the_built_in_emulator(tmp_path: Path) -> None:
    (tmp_path / "m.toml").write_text("[[run]]\nmodel = 'llama3.1:8b'\nrequests = 3\n")
    out = tmp_path / "report"
    code, _, stderr = await _loadtest("--matrix", str(tmp_path / "m.toml"), "--out", str(out))
    assert code == 0, stderr
    report = valid_report(out / "report.json")
    assert report["environment"]["emulated"] is True and report["runs"][0]["tier"] == "gpu-8gb"


async def test_merge_combines_region_folders(
    runner: Runner, config: Config, tmp_path: Path
) -> None:
    objectives = Objectives.from_config(config, 0.01)
    result = await runner.run(spec(config, requests=2))
    for region in ("eu-west", "us-east"):
        environment: dict[str, Any] = {
            "target": "http://127.0.0.1:11435",
            "target_version": None,
            "emulated": False,
            "region": region,
            "started_at": "2026-12-02T01:00:00+00:00",
        }
        report = build_report("loadtest", environment, objectives, [result])
        write_report(tmp_path / region, report, [])
    code, stdout, stderr = await _loadtest(
        "merge", str(tmp_path / "eu-west"), str(tmp_path / "us-east"),
        "--out", str(tmp_path / "all"), "--json",
    )  # fmt: skip
    assert code == 0, stderr
    merged = valid_report(tmp_path / "all" / "report.json")
    assert json.loads(stdout) == merged
    assert [r["region"] for r in merged["regions"]] == ["eu-west", "us-east"]
    assert "verdict: PASS (2 regions)" in stderr
    kept = (tmp_path / "us-east" / "report.json").read_bytes()
    code, _, stderr = await _loadtest(
        "merge", str(tmp_path / "eu-west"), str(tmp_path / "us-east"),
        "--out", str(tmp_path / "us-east"),
    )  # fmt: skip
    assert code == 2 and "a report being merged" in stderr, stderr
    assert (tmp_path / "us-east" / "report.json").read_bytes() == kept


async def test_soak_watching_a_leaking_sidecar_fails_with_exit_1(
    emu: EmulatorServer, tmp_path: Path, leaking_metrics: str
) -> None:
    (tmp_path / "m.toml").write_text("[[run]]\nmodel = 'llama3.1:8b'\nrequests = 2\n")
    out = tmp_path / "soak"
    code, _, stderr = await _loadtest(
        "--target", emu.url, "--matrix", str(tmp_path / "m.toml"), "--out", str(out),
        "--soak", "1.5s", "--metrics", leaking_metrics, "--sample-interval", "0.1",
    )  # fmt: skip
    assert code == 1, stderr
    report = valid_report(out / "report.json")
    assert report["kind"] == "soak" and report["runs"][0]["verdict"] == "pass"
    assert report["soak"]["verdict"] == "fail" and report["soak"]["memory_bytes"]["growing"]
    assert "memory: " in stderr and "keeps growing" in stderr


async def test_a_sidecar_with_a_token_needs_auth_token_file(tmp_path: Path) -> None:
    """The real `serve` with a token file: without the flag (or with a wrong token) the load
    test stops at its first request with one line; with it, every request the load test makes
    (probe, runs, /api/ps, the inventory) is authorized, and the soak's --metrics on the admin
    listener, another origin, needs none."""
    matrix, config = _files(tmp_path, requests=4)
    token, wrong = tmp_path / "token", tmp_path / "wrong"
    for path, text in ((token, "tok-loadtest-9c1f"), (wrong, "not-the-token")):
        path.write_text(text + "\n")
        path.chmod(0o600)
    emu_port, port, admin = free_port(), free_port(), free_port()
    sidecar = serve(
        f"http://127.0.0.1:{emu_port}",
        tmp_path / "data",
        f"127.0.0.1:{port}",
        f"127.0.0.1:{admin}",
        "--no-receipts",
        "--auth-token-file",
        str(token),
    )
    target = ["--target", f"http://127.0.0.1:{port}", "--matrix", matrix, "--config", config]
    with cli(emulator(f"127.0.0.1:{emu_port}")) as emu_proc:
        await asyncio.to_thread(wait_url, f"http://127.0.0.1:{emu_port}/api/version", emu_proc)
        with cli(sidecar) as proc:
            await asyncio.to_thread(wait_url, f"http://127.0.0.1:{admin}/healthz", proc)
            without = await _loadtest(*target, "--out", str(tmp_path / "none"))
            refused = await _loadtest(
                *target, "--auth-token-file", str(wrong), "--out", str(tmp_path / "refused")
            )
            code, _, stderr = await _loadtest(
                *target, "--auth-token-file", str(token), "--out", str(tmp_path / "ok"),
                "--soak", "1s", "--sample-interval", "0.5",
                "--metrics", f"http://127.0.0.1:{admin}/metrics",
            )  # fmt: skip
    assert without[0] == 2 and without[2].count("\n") == 1, without[2]
    assert f"target http://127.0.0.1:{port} answered 401" in without[2]
    assert "pass --auth-token-file FILE" in without[2]
    assert refused[0] == 2 and "refused the token of --auth-token-file" in refused[2]
    assert not (tmp_path / "none").exists() and not (tmp_path / "refused").exists()
    assert code == 0, stderr
    report = valid_report(tmp_path / "ok" / "report.json")
    assert [r["verdict"] for r in report["runs"]] == ["pass", "pass"]
    assert all(r["error_rate"] == 0 for r in report["runs"])
    assert report["soak"]["problems"] == []
    assert report["soak"]["residency"]["models_loaded_max"] is not None
    assert all(s["memory_bytes"] for s in report["soak"]["samples"])
    assert report["environment"]["inventory"]["ollama_version"] == "0.32.15"
    assert "tok-loadtest-9c1f" not in stderr


@pytest.mark.parametrize(
    ("matrix", "args", "message"),
    [
        (
            "[[run]]\nmodel = 'a'\n[[run]]\nmodel = 'b'\nconcurrency = 0\n",
            [],
            "m.toml: run 2: concurrency: expected an integer from 1 to 4096, got 0",
        ),
        ("[[run]]\nmodel = 'a'\n", ["--sweep", "threads=2"], "--sweep: expected concurrency="),
        ("[[run]]\nmodel = 'a'\n", ["--soak", "forever"], "--soak: expected a duration"),
        ("[[run]]\nmodel = 'a'\n", ["--target", "localhost:1"], "--target: expected an http"),
        ("[[run]]\nmodel = 'a'\n", ["--target", "http://127.0.0.1:9"], "does not answer like"),
        ("[[run]]\nmodel = 'a'\n", ["--out", "m.toml"], "--out m.toml: m.toml is not a writable"),
    ],
)
def test_usage_and_input_errors_exit_2_with_one_line(
    tmp_path: Path, matrix: str, args: list[str], message: str
) -> None:
    (tmp_path / "m.toml").write_text(matrix)
    result = subprocess.run(
        [*COMMAND, "--matrix", str(tmp_path / "m.toml"), "--out", str(tmp_path / "o"), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert result.stderr.startswith("ollama-sidecar: ") and not (tmp_path / "o").exists()


def test_top_level_help_does_not_import_matplotlib() -> None:
    code = (
        "import sys\nfrom telemetry.app.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('matplotlib' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert "loadtest" in result.stdout and result.stdout.strip().endswith("False")
