"""`ollama-sidecar`: the command line.

Exit codes: 0 success, 1 the command ran and failed, 2 usage or configuration error.
Each subcommand lives in its own module exposing `configure(parser)` and `run(args) -> int`;
only the one being run is imported (`ollama-sidecar --help` imports none of them).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Protocol

from telemetry.core._errors import SidecarError


class Subcommand(Protocol):
    def configure(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def _serve() -> Subcommand:
    from telemetry.app import _cli_serve

    return _cli_serve


def _emulate() -> Subcommand:
    from telemetry.emulator import cli

    return cli


def _demo() -> Subcommand:
    from telemetry.app import _cli_demo

    return _cli_demo


def _inventory() -> Subcommand:
    from exporters import inventory_cli

    return inventory_cli


def _dashboards() -> Subcommand:
    from dashboards import cli

    return cli


def _loadtest() -> Subcommand:
    from telemetry.app.loadtest import cli

    return cli


def _doctor() -> Subcommand:
    from telemetry.app.doctor import cli

    return cli


def _models() -> Subcommand:
    from telemetry.app.models import cli

    return cli


def _service() -> Subcommand:
    from telemetry.app.service import cli

    return cli


def _tls() -> Subcommand:
    from telemetry.app.tls import cli

    return cli


def _golem() -> Subcommand:
    from telemetry.app.golem import cli

    return cli


SUBCOMMANDS: dict[str, tuple[Callable[[], Subcommand], str]] = {
    "serve": (_serve, "run the transparent proxy in front of Ollama"),
    "emulate": (_emulate, "run the Ollama API emulator"),
    "demo": (_demo, "start emulator and sidecar, send traffic, show the result"),
    "inventory": (_inventory, "describe this host: GPUs, OS, runtime, Ollama, tier"),
    "dashboards": (_dashboards, "write the Grafana dashboards and Prometheus rule files"),
    "loadtest": (_loadtest, "load-test a target against the tiers' SLO: verdicts, plots, advice"),
    "doctor": (_doctor, "validate this host: GPU stack, Ollama, security, disk"),
    "models": (_models, "pre-pull and warm a tier's models (models warm)"),
    "service": (_service, "install or uninstall the systemd / launchd services"),
    "tls": (_tls, "make certificates for TLS and mTLS (dev-certs DIR)"),
    "golem": (_golem, "Golem offer properties and demand constraints"),
}


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except the empty ones (None, False) that would only add noise."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, argparse.SUPPRESS):
            return action.help
        return super()._get_help_string(action)


def build_parser(command: str | None) -> tuple[argparse.ArgumentParser, Subcommand | None]:
    """The parser, with the arguments of `command` only (the others are listed, not loaded)."""
    parser = argparse.ArgumentParser(
        prog="ollama-sidecar",
        description="Observability and signed receipts for an Ollama server.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen: Subcommand | None = None
    for name, (load, help_text) in SUBCOMMANDS.items():
        sub = subparsers.add_parser(
            name,
            help=help_text,
            description=help_text[0].upper() + help_text[1:] + ".",
            formatter_class=_HelpFormatter,
        )
        if name == command:
            chosen = load()
            chosen.configure(sub)
    return parser, chosen


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, subcommand = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    assert subcommand is not None  # parse_args exits unless argv[0] named a subcommand
    try:
        result: int = subcommand.run(args)
    except SidecarError as exc:
        print(f"ollama-sidecar: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. the port is taken
        print(f"ollama-sidecar: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return result


if __name__ == "__main__":
    sys.exit(main())
