"""`ollama-sidecar doctor` as a subprocess against the real emulator: every stable check name in
order, exit 1 exactly when something FAILs, Ollama reached through OLLAMA_BASE_URL like `serve`,
a wildcard-bound Ollama caught from the real socket table, and no crash without any tool."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from telemetry.app.doctor import CHECK_NAMES
from tests._net import free_port
from tests.telemetry.app._procs import ROOT, cli, emulator, wait_url

pytestmark = pytest.mark.slow

TOML = """
default_tier = "gpu-8gb"
[ollama]
version = "0.32.15"
[tiers.gpu-8gb]
pull = ["llama3.1:8b"]
[gpu]
enabled = false
"""


def run_doctor(
    tmp: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    (tmp / "sidecar.toml").write_text(TOML)
    config = ["--config", str(tmp / "sidecar.toml"), "--data-dir", str(tmp / "data")]
    result = subprocess.run(
        [sys.executable, "-m", "telemetry.app.cli", "doctor", *config, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def doctor(
    tmp: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[int, dict[str, Any], str]:
    result = run_doctor(tmp, "--json", *args, env=env)
    report = json.loads(result.stdout)
    return result.returncode, {c["name"]: c for c in report["checks"]}, result.stdout


def test_a_good_host_passes_the_ollama_checks(tmp_path: Path) -> None:
    port = free_port()
    with cli(emulator(f"127.0.0.1:{port}")) as emu:
        wait_url(f"http://127.0.0.1:{port}/api/version", emu)
        code, checks, raw = doctor(tmp_path, env={"OLLAMA_BASE_URL": f"http://127.0.0.1:{port}"})
    assert list(checks) == list(CHECK_NAMES)
    assert json.loads(raw)["checks"][0].keys() == {"name", "status", "detail", "fix"}
    for name in ("ollama_reachable", "ollama_version", "ollama_loopback_only", "models_pulled"):
        assert checks[name]["status"] == "PASS", checks[name]
    assert checks["models_pulled"]["detail"] == "llama3.1:8b pulled"
    assert f"127.0.0.1:{port}" in checks["ollama_reachable"]["detail"]
    statuses = {c["status"] for c in checks.values()}
    assert statuses <= {"PASS", "WARN", "FAIL"}
    assert code == (1 if "FAIL" in statuses else 0)


def test_ollama_on_a_wildcard_address_fails(tmp_path: Path) -> None:
    port = free_port()
    with cli(emulator(f"0.0.0.0:{port}")) as emu:
        wait_url(f"http://127.0.0.1:{port}/api/version", emu)
        code, checks, _ = doctor(tmp_path, "--upstream", f"http://127.0.0.1:{port}")
        table = run_doctor(tmp_path, "--upstream", f"http://127.0.0.1:{port}")
    assert code == 1
    loopback = checks["ollama_loopback_only"]
    assert loopback["status"] == "FAIL"
    assert f"port {port} listens on 0.0.0.0" in loopback["detail"]
    assert table.returncode == 1
    assert "FAIL  ollama_loopback_only" in table.stdout
    assert "fix: bind Ollama to loopback" in table.stdout


def test_no_tools_and_no_ollama_still_give_the_whole_checklist(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, checks, _ = doctor(tmp_path, env={"PATH": str(tmp_path), "OLLAMA_BASE_URL": url})
    assert code == 1
    assert list(checks) == list(CHECK_NAMES)
    assert checks["ollama_reachable"]["status"] == "FAIL"
    assert url in checks["ollama_reachable"]["detail"]
    assert checks["clock"]["status"] in ("WARN", "PASS")


def test_a_bad_config_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[ollama]\nkeep_alive = 'forever'\n")
    result = subprocess.run(
        [sys.executable, "-m", "telemetry.app.cli", "doctor", "--config", str(bad)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "ollama.keep_alive" in result.stderr
