"""`ollama-sidecar dashboards`: write the Grafana dashboards and the Prometheus rule files.

They go under `--out`, by default the current directory (run it from a checkout to refresh the
committed copies; tests/dashboards/test_cli.py fails while those are stale), never into the
installed package.

Exit codes: 0 written, 1 a file could not be written, 2 usage or configuration error (reported by
the `ollama-sidecar` dispatcher for `ConfigError`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from alerts import RuleSettings
from dashboards._build import write_all
from dashboards._errors import DashboardsError
from telemetry.core import load_config


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(),
        help="root to write dashboards/json/*.json and alerts/{rules,tests}/*.yaml under "
        "(default: the current directory)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="sidecar TOML config whose tiers and SLO set the thresholds",
    )


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config, env={})
    try:
        written = write_all(args.out, config, RuleSettings())
    except DashboardsError as exc:
        print(f"ollama-sidecar dashboards: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ollama-sidecar dashboards", description=__doc__)
    configure(parser)
    try:
        return run(parser.parse_args(argv))
    except DashboardsError as exc:
        print(f"ollama-sidecar dashboards: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    from telemetry.core import ConfigError

    try:
        sys.exit(main())
    except ConfigError as exc:
        print(f"ollama-sidecar dashboards: {exc}", file=sys.stderr)
        sys.exit(2)
