"""`ollama-sidecar service install|uninstall`: run the sidecar (and pin Ollama) on boot.

install writes the systemd unit and Ollama drop-in (Linux) or the two launchd plists (macOS),
rendered from deploy/, then enables and starts them (`systemctl enable --now`, `launchctl
bootstrap`). `--print` shows the files and writes nothing. `--root DIR` writes under DIR and
only prints the activation commands (packaging, tests). uninstall stops, disables and removes.

Exit codes: 0 done; 1 a service-manager command failed or is missing (the files written stay
in place and the message says what to run); 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from telemetry.app.service import _units as units
from telemetry.core import ConfigError, load_config


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="service_command", metavar="ACTION", required=True)
    install = actions.add_parser("install", help="write and enable the service files")
    uninstall = actions.add_parser("uninstall", help="stop, disable and remove them")
    for sub in (install, uninstall):
        kind = sub.add_mutually_exclusive_group()
        kind.add_argument("--systemd", action="store_const", const="systemd", dest="kind")
        kind.add_argument("--launchd", action="store_const", const="launchd", dest="kind")
        sub.add_argument("--root", type=Path, help="install under this directory, activate nothing")
    install.add_argument("--config", type=Path, help="config file serve should read")
    install.add_argument("--print", action="store_true", help="print the files, write nothing")


def run(args: argparse.Namespace) -> int:
    kind = args.kind or ("launchd" if platform.system() == "Darwin" else "systemd")
    config_path: Path | None = getattr(args, "config", None)
    config = load_config(config_path, os.environ)
    system_wide = os.geteuid() == 0
    if kind == "systemd":
        files = units.systemd_files(config, config_path)
    else:
        files = units.launchd_files(config, config_path, Path.home(), system_wide)
    domain = "system" if system_wide else f"gui/{os.getuid()}"
    if args.service_command == "install":
        return _install(args, kind, files, domain)
    return _uninstall(args, kind, files, domain)


def _install(args: argparse.Namespace, kind: str, files: list[units.UnitFile], domain: str) -> int:
    if args.print:
        for unit in files:
            sys.stdout.write(f"# {unit.target}\n{unit.content.decode()}\n")
        return 0
    root: Path = args.root or Path("/")
    for unit in files:
        path = units.under(root, unit.target)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(unit.content)
            path.chmod(0o644)
        except OSError as exc:  # not root, a read-only or a non-directory --root
            raise ConfigError(f"cannot write {path}: {exc.strerror}") from None
        print(f"wrote {path}")
    return _activate(args.root, units.activation(kind, files, domain))


def _uninstall(
    args: argparse.Namespace, kind: str, files: list[units.UnitFile], domain: str
) -> int:
    root: Path = args.root or Path("/")
    status = _activate(args.root, units.deactivation(kind, files, domain), missing_ok=True)
    for unit in files:
        path = units.under(root, unit.target)
        if path.exists():
            try:
                path.unlink()
            except OSError as exc:
                raise ConfigError(f"cannot remove {path}: {exc.strerror}") from None
            print(f"removed {path}")
    return _activate(args.root, units.after_removal(kind)) or status


def _activate(root: Path | None, commands: Sequence[list[str]], missing_ok: bool = False) -> int:
    if root is not None:
        for cmd in commands:
            print(f"then run: {shlex.join(cmd)}")
        return 0
    for cmd in commands:
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        except FileNotFoundError:
            print(f"ollama-sidecar: {cmd[0]} not found; run: {shlex.join(cmd)}", file=sys.stderr)
            return 1
        if done.returncode != 0 and not missing_ok:
            reason = (done.stderr.strip().splitlines() or ["failed"])[-1]
            print(f"ollama-sidecar: {shlex.join(cmd)}: {reason}", file=sys.stderr)
            return 1
    return 0
