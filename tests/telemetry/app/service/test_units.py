"""The service files: `systemd-analyze verify` on the unit and the Ollama drop-in as installed,
the hardening that matters, and the launchd plists parsed with plistlib."""

from __future__ import annotations

import plistlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from telemetry.app.service import deploy_dir, launchd_files, systemd_files
from telemetry.core import load_config

HARDENING = {
    "DynamicUser": "yes",
    "StateDirectory": "ollama-sidecar",
    "ProtectSystem": "strict",
    "NoNewPrivileges": "yes",
    "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
    "PrivateTmp": "yes",
    "CapabilityBoundingSet": "",
    "Restart": "on-failure",
    "UMask": "0077",
}


def unit_keys(text: str) -> dict[str, list[str]]:
    """systemd's format: repeated keys accumulate, comments and sections skipped."""
    keys: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            keys.setdefault(key, []).append(value)
    return keys


def verify(directory: Path, *units: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian package `systemd`)")
    result = subprocess.run(
        [analyze, "verify", *map(str, units)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"SYSTEMD_LOG_LEVEL": "warning", "PATH": "/usr/bin:/bin"},
    )
    ours = [line for line in result.stderr.splitlines() if str(directory) in line]
    assert result.returncode == 0 and ours == [], result.stderr


def test_rendered_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    config = load_config(None, env={})
    unit, drop_in = systemd_files(config, None)
    (tmp_path / unit.target.name).write_bytes(unit.content)
    (tmp_path / "ollama.service.d").mkdir()
    (tmp_path / "ollama.service.d" / drop_in.target.name).write_bytes(drop_in.content)
    # A stand-in for the unit Ollama's installer ships, so the drop-in is loaded and checked.
    (tmp_path / "ollama.service").write_text("[Service]\nExecStart=/bin/sleep infinity\n")
    verify(tmp_path, tmp_path / unit.target.name, tmp_path / "ollama.service")
    keys = unit_keys(unit.content.decode())
    assert {k: keys[k][-1] for k in HARDENING} == HARDENING
    assert keys["After"] == ["network.target ollama.service"]
    assert keys["ExecStart"] == [f"{Path(sys.executable).parent}/ollama-sidecar serve"]
    assert keys["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert unit_keys(drop_in.content.decode())["Environment"] == [
        "OLLAMA_HOST=127.0.0.1:11434",
        "OLLAMA_KEEP_ALIVE=30m",
        "OLLAMA_MODELS=/usr/share/ollama/.ollama/models",
    ]


def test_a_broken_unit_fails_verification(tmp_path: Path) -> None:
    config = load_config(None, env={})
    unit = systemd_files(config, None)[0].content.decode()
    broken = tmp_path / "ollama-sidecar.service"
    broken.write_text(unit.replace("Restart=on-failure", "Restart=sometimes"))
    with pytest.raises(AssertionError):
        verify(tmp_path, broken)


def test_config_path_and_keep_alive_are_rendered(tmp_path: Path) -> None:
    toml = tmp_path / "sidecar.toml"
    toml.write_text('[ollama]\nkeep_alive = "24h"\n[proxy]\nupstream = "http://127.0.0.1:9999"\n')
    unit, drop_in = systemd_files(load_config(toml, env={}), toml)
    keys = unit_keys(unit.content.decode())
    assert keys["ExecStart"][0].endswith(f"serve --config {toml}")
    assert "OLLAMA_BASE_URL=http://127.0.0.1:9999" in keys["Environment"]
    assert "OLLAMA_KEEP_ALIVE=24h" in unit_keys(drop_in.content.decode())["Environment"]


def test_launchd_plists_have_the_keys_that_matter(tmp_path: Path) -> None:
    for name in ("com.ollama-sidecar.plist", "com.ollama.serve.plist"):
        shipped = plistlib.loads((deploy_dir() / "launchd" / name).read_bytes())
        assert shipped["Label"] == name.removesuffix(".plist")
    config = load_config(None, env={})
    sidecar, ollama = launchd_files(config, None, tmp_path, system_wide=False)
    assert sidecar.target == tmp_path / "Library/LaunchAgents/com.ollama-sidecar.plist"
    agent = plistlib.loads(sidecar.content)
    assert agent["ProgramArguments"] == [f"{Path(sys.executable).parent}/ollama-sidecar", "serve"]
    assert agent["RunAtLoad"] is True
    assert agent["KeepAlive"] == {"SuccessfulExit": False}
    assert agent["EnvironmentVariables"]["OLLAMA_BASE_URL"] == "http://127.0.0.1:11434"
    assert agent["StandardErrorPath"] == str(tmp_path / "Library/Logs/ollama-sidecar.log")
    serve = plistlib.loads(ollama.content)
    assert serve["ProgramArguments"][-1] == "serve"
    assert serve["EnvironmentVariables"] == {
        "OLLAMA_HOST": "127.0.0.1:11434",
        "OLLAMA_KEEP_ALIVE": "30m",
        "OLLAMA_MODELS": str(tmp_path / ".ollama/models"),
    }
    daemon = launchd_files(config, None, tmp_path, system_wide=True)[0]
    assert daemon.target == Path("/Library/LaunchDaemons/com.ollama-sidecar.plist")
