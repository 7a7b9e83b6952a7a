"""The unit files under deploy/, rendered for this installation.

deploy/ is the one source: in a source tree it sits at the repository root, in a wheel it is
packaged as `telemetry/app/service/deploy`. Rendering changes only what differs per host: the
executable (this environment's `ollama-sidecar`), `--config`, the upstream URL, Ollama's
keep-alive, and on macOS the home-relative paths.
"""

from __future__ import annotations

import plistlib
import shlex
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telemetry.core import Config, ConfigError

SIDECAR_UNIT = "ollama-sidecar.service"
OLLAMA_DROP_IN = "ollama.service.d/10-sidecar.conf"
SIDECAR_PLIST = "com.ollama-sidecar.plist"
OLLAMA_PLIST = "com.ollama.serve.plist"


@dataclass(frozen=True, slots=True)
class UnitFile:
    """A file to install: its absolute target (before any --root) and its content."""

    target: Path
    content: bytes


def deploy_dir() -> Path:
    packaged = Path(__file__).resolve().parent / "deploy"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[3] / "deploy"


def command() -> list[str]:
    """How a service manager starts this installation's CLI."""
    script = Path(sys.executable).parent / "ollama-sidecar"
    return [str(script)] if script.exists() else [sys.executable, "-m", "telemetry.app.cli"]


def _serve_args(config_path: Path | None) -> list[str]:
    return [*command(), "serve", *(["--config", str(config_path.resolve())] if config_path else [])]


def _template(relative: str) -> str:
    path = deploy_dir() / relative
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the unit template {path}: {exc.strerror}") from exc


def _set(text: str, prefix: str, value: str) -> str:
    lines = text.splitlines(keepends=True)
    hits = [i for i, line in enumerate(lines) if line.startswith(prefix)]
    if len(hits) != 1:
        raise ConfigError(f"unit template: expected one line starting {prefix!r}")
    lines[hits[0]] = prefix + value + "\n"
    return "".join(lines)


def systemd_files(config: Config, config_path: Path | None) -> list[UnitFile]:
    unit = _template(f"systemd/{SIDECAR_UNIT}")
    unit = _set(unit, "ExecStart=", shlex.join(_serve_args(config_path)))
    unit = _set(unit, "Environment=OLLAMA_BASE_URL=", config.proxy.upstream)
    drop_in = _set(
        _template(f"systemd/{OLLAMA_DROP_IN}"),
        "Environment=OLLAMA_KEEP_ALIVE=",
        config.ollama.keep_alive,
    )
    system = Path("/etc/systemd/system")
    return [
        UnitFile(system / SIDECAR_UNIT, unit.encode()),
        UnitFile(system / OLLAMA_DROP_IN, drop_in.encode()),
    ]


def _plist(relative: str) -> dict[str, Any]:
    try:
        loaded = plistlib.loads(_template(relative).encode())
    except plistlib.InvalidFileException as exc:
        raise ConfigError(f"unit template {relative}: not a property list") from exc
    if not isinstance(loaded, dict):
        raise ConfigError(f"unit template {relative}: not a dictionary")
    return loaded


def launchd_files(
    config: Config, config_path: Path | None, home: Path, system_wide: bool
) -> list[UnitFile]:
    """LaunchAgents in `home` for a user, LaunchDaemons for root (`system_wide`)."""
    logs = Path("/Library/Logs") if system_wide else home / "Library" / "Logs"
    folder = Path("/Library/LaunchDaemons") if system_wide else home / "Library" / "LaunchAgents"
    sidecar = _plist(f"launchd/{SIDECAR_PLIST}")
    sidecar["ProgramArguments"] = _serve_args(config_path)
    sidecar["EnvironmentVariables"]["OLLAMA_BASE_URL"] = config.proxy.upstream
    sidecar["StandardOutPath"] = sidecar["StandardErrorPath"] = str(logs / "ollama-sidecar.log")
    ollama = _plist(f"launchd/{OLLAMA_PLIST}")
    ollama["ProgramArguments"][0] = shutil.which("ollama") or ollama["ProgramArguments"][0]
    env = ollama["EnvironmentVariables"]
    env["OLLAMA_KEEP_ALIVE"] = config.ollama.keep_alive
    env["OLLAMA_MODELS"] = str(home / ".ollama" / "models")
    ollama["StandardOutPath"] = ollama["StandardErrorPath"] = str(logs / "ollama.log")
    return [
        UnitFile(folder / SIDECAR_PLIST, plistlib.dumps(sidecar)),
        UnitFile(folder / OLLAMA_PLIST, plistlib.dumps(ollama)),
    ]


def under(root: Path, target: Path) -> Path:
    return root / target.relative_to(target.anchor)


def activation(kind: str, files: Sequence[UnitFile], domain: str) -> list[list[str]]:
    if kind == "systemd":
        return [
            ["systemctl", "daemon-reload"],
            ["systemctl", "enable", "--now", SIDECAR_UNIT],
            ["systemctl", "try-restart", "ollama.service"],
        ]
    return [["launchctl", "bootstrap", domain, str(f.target)] for f in reversed(files)]


def deactivation(kind: str, files: Sequence[UnitFile], domain: str) -> list[list[str]]:
    if kind == "systemd":
        return [["systemctl", "disable", "--now", SIDECAR_UNIT]]
    return [["launchctl", "bootout", domain, str(f.target)] for f in files]


def after_removal(kind: str) -> list[list[str]]:
    if kind == "systemd":
        return [["systemctl", "daemon-reload"], ["systemctl", "try-restart", "ollama.service"]]
    return []
