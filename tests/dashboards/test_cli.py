from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from alerts import ALERTS_DIR
from dashboards import JSON_DIR, REPO_ROOT


def _run(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dashboards.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        check=False,
    )


def test_writes_dashboards_rules_and_tests(tmp_path: Path) -> None:
    done = _run("--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    written = {Path(line).relative_to(tmp_path).as_posix() for line in done.stdout.split()}
    assert {"dashboards/json/slo.json", "alerts/rules/alerts.yaml"} <= written
    for name in ("slo", "requests", "gpus", "receipts"):
        committed = (REPO_ROOT / JSON_DIR / f"{name}.json").read_text()
        assert (tmp_path / JSON_DIR / f"{name}.json").read_text() == committed
    assert (tmp_path / "alerts/rules/recording.yaml").read_text() == (
        ALERTS_DIR / "rules/recording.yaml"
    ).read_text()


def test_without_out_they_go_to_the_current_directory(tmp_path: Path) -> None:
    done = _run(cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / JSON_DIR / "slo.json").is_file()
    assert (tmp_path / "alerts/rules/alerts.yaml").is_file()
    assert all(Path(line).parts[0] in ("dashboards", "alerts") for line in done.stdout.split())


def test_config_tiers_drive_the_thresholds(tmp_path: Path) -> None:
    config = tmp_path / "sidecar.toml"
    config.write_text("[slo]\ntimeout_objective = 0.95\n[tiers.gpu-8gb]\np95_seconds = 12.5\n")
    done = _run("--out", str(tmp_path / "out"), "--config", str(config))
    assert done.returncode == 0, done.stderr
    rules = (tmp_path / "out/alerts/rules").glob("*.yaml")
    text = "\n".join(path.read_text() for path in rules)
    assert 'le=~"12\\\\.5(\\\\.0+)?"' in text
    slo = json.loads((tmp_path / "out" / JSON_DIR / "slo.json").read_text())
    assert any(t["expr"] == "vector(0.05)" for p in slo["panels"] for t in p["targets"])
    yaml.safe_load((tmp_path / "out/alerts/tests/alerts_5m_test.yaml").read_text())


def test_bad_config_is_a_usage_error_without_traceback(tmp_path: Path) -> None:
    config = tmp_path / "sidecar.toml"
    config.write_text("[slo]\ntimeout_objective = 2\n")
    done = _run("--out", str(tmp_path), "--config", str(config))
    assert done.returncode == 2
    assert "timeout_objective" in done.stderr
    assert "Traceback" not in done.stderr


def test_unwritable_output_is_a_failure(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    done = _run("--out", str(blocker))
    assert done.returncode == 1
    assert "cannot write" in done.stderr
