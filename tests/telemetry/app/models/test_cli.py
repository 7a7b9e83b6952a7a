"""`ollama-sidecar models warm` as a subprocess against the emulator, and its usage errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests._net import free_port
from tests.telemetry.app._procs import ROOT, cli, emulator, wait_url

pytestmark = pytest.mark.slow

TOML = """
default_tier = "cpu"
[ollama]
keep_alive = "2h"
[tiers.cpu]
pull = ["qwen3:0.6b", "llama3.2:3b"]
[tiers.gpu-8gb]
[gpu]
enabled = false
"""


def models(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp / "sidecar.toml").write_text(TOML)
    config = ["--config", str(tmp / "sidecar.toml")]
    return subprocess.run(
        [sys.executable, "-m", "telemetry.app.cli", "models", "warm", *config, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_warm_the_default_tier(tmp_path: Path) -> None:
    port = free_port()
    with cli(emulator(f"127.0.0.1:{port}")) as emu:
        wait_url(f"http://127.0.0.1:{port}/api/version", emu)
        result = models(tmp_path, "--upstream", f"http://127.0.0.1:{port}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("ok      qwen3:0.6b  loaded (")
    assert result.stdout.splitlines()[1].endswith("keep_alive 2h")
    assert "tier cpu: qwen3:0.6b, llama3.2:3b" in result.stderr
    assert "qwen3:0.6b: success" in result.stderr


def test_unreachable_ollama_fails_each_model(tmp_path: Path) -> None:
    result = models(tmp_path, "--upstream", f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert [line.split()[0] for line in result.stdout.splitlines()] == ["FAILED", "FAILED"]


def test_usage_errors(tmp_path: Path) -> None:
    unknown = models(tmp_path, "--tier", "gpu-99gb")
    assert unknown.returncode == 2 and "no tier named 'gpu-99gb'" in unknown.stderr
    empty = models(tmp_path, "--tier", "gpu-8gb")
    assert empty.returncode == 2 and "tiers.gpu-8gb.pull: empty" in empty.stderr
