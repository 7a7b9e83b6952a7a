"""`ollama-sidecar`: the command line.

Exit codes: 0 success, 1 the command ran and failed, 2 usage or configuration error.
Each subcommand lives in its own module exposing `configure(parser)` and `run(args) -> int`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from telemetry.core._errors import SidecarError

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("telemetry.app._cli_serve", "run the transparent proxy in front of Ollama"),
    "emulate": ("telemetry.emulator.cli", "run the Ollama API emulator"),
    "demo": (
        "telemetry.app._cli_demo",
        "start emulator and sidecar, send traffic, show the result",
    ),
    "inventory": ("exporters.inventory_cli", "describe this host: GPUs, OS, runtime, Ollama, tier"),
    "dashboards": ("dashboards.cli", "write the Grafana dashboards and Prometheus rule files"),
}


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except the empty ones (None, False) that would only add noise."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, argparse.SUPPRESS):
            return action.help
        return super()._get_help_string(action)


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, ModuleType]]:
    parser = argparse.ArgumentParser(
        prog="ollama-sidecar",
        description="Observability and signed receipts for an Ollama server.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    modules: dict[str, ModuleType] = {}
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        sub = subparsers.add_parser(
            name,
            help=help_text,
            description=help_text[0].upper() + help_text[1:] + ".",
            formatter_class=_HelpFormatter,
        )
        module.configure(sub)
        modules[name] = module
    return parser, modules


def main(argv: Sequence[str] | None = None) -> int:
    parser, modules = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = modules[args.command].run(args)
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
