"""`ollama-sidecar service install|uninstall` as subprocesses, under --root so nothing on this
machine changes: --print writes nothing, install writes the rendered files, uninstall removes."""

from __future__ import annotations

import plistlib
import subprocess
import sys
from pathlib import Path

from tests.telemetry.app._procs import ROOT


def service(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "telemetry.app.cli", "service", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_print_writes_nothing(tmp_path: Path) -> None:
    result = service("install", "--systemd", "--print")
    assert result.returncode == 0, result.stderr
    assert "# /etc/systemd/system/ollama-sidecar.service\n" in result.stdout
    assert "# /etc/systemd/system/ollama.service.d/10-sidecar.conf\n" in result.stdout
    assert "ProtectSystem=strict" in result.stdout


def test_systemd_install_and_uninstall_under_a_root(tmp_path: Path) -> None:
    installed = service("install", "--systemd", "--root", str(tmp_path))
    assert installed.returncode == 0, installed.stderr
    assert files(tmp_path) == [
        "etc/systemd/system/ollama-sidecar.service",
        "etc/systemd/system/ollama.service.d/10-sidecar.conf",
    ]
    assert "then run: systemctl enable --now ollama-sidecar.service" in installed.stdout
    removed = service("uninstall", "--systemd", "--root", str(tmp_path))
    assert removed.returncode == 0, removed.stderr
    assert files(tmp_path) == []
    assert "then run: systemctl disable --now ollama-sidecar.service" in removed.stdout


def test_launchd_install_under_a_root(tmp_path: Path) -> None:
    installed = service("install", "--launchd", "--root", str(tmp_path))
    assert installed.returncode == 0, installed.stderr
    plists = [p for p in tmp_path.rglob("*.plist")]
    assert sorted(p.name for p in plists) == ["com.ollama-sidecar.plist", "com.ollama.serve.plist"]
    for plist in plists:
        assert plistlib.loads(plist.read_bytes())["RunAtLoad"] is True
    assert "then run: launchctl bootstrap" in installed.stdout


def test_a_bad_config_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text("[ollama]\nkeep_alive = 'soon'\n")
    result = service(
        "install", "--root", str(tmp_path / "r"), "--config", str(tmp_path / "bad.toml")
    )
    assert result.returncode == 2 and "ollama.keep_alive" in result.stderr
    assert not (tmp_path / "r").exists()


def test_a_root_that_cannot_be_written_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")  # works as root too, unlike a chmod-ed directory
    result = service("install", "--systemd", "--root", str(tmp_path / "file"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"ollama-sidecar: cannot write {tmp_path / 'file'}/etc/")
    assert result.stderr.count("\n") == 1
