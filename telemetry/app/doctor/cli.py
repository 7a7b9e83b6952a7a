"""`ollama-sidecar doctor`: validate this host for serving, one PASS/WARN/FAIL line per check.

Exit codes: 0 nothing FAILed (WARNs allowed); 1 at least one check FAILed; 2 usage or
configuration error. It reaches Ollama the way `serve` does: --upstream, else OLLAMA_BASE_URL,
else the config's [proxy] upstream. A tool missing on the host is a WARN that names it, never a
crash. `--json` prints {"checks": [{"name", "status", "detail", "fix"}, ...]}; the names are
stable (see CHECK_NAMES).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

from exporters import AiohttpOllamaClient, GpuSnapshot, default_sources
from exporters.inventory_cli import probe_once
from telemetry.app.doctor._check import Check, Status
from telemetry.app.doctor._doctor import render, run_checks
from telemetry.app.doctor._host import Host
from telemetry.core import Config, load_config


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML config file, as given to serve")
    parser.add_argument(
        "--upstream", help="Ollama URL (default $OLLAMA_BASE_URL or the config's upstream)"
    )
    parser.add_argument("--data-dir", type=Path, help="the sidecar's state directory")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    overrides = {"proxy": {"upstream": args.upstream, "data_dir": args.data_dir}}
    config = load_config(args.config, os.environ, overrides)
    checks = asyncio.run(_checks(config))
    if args.json:
        sys.stdout.write(json.dumps({"checks": [c.to_json() for c in checks]}, indent=2) + "\n")
    else:
        sys.stdout.write(render(checks))
    return 1 if any(c.status is Status.FAIL for c in checks) else 0


async def _checks(config: Config) -> list[Check]:
    snapshot: GpuSnapshot | None = None
    if config.gpu.enabled:
        snapshot = await asyncio.to_thread(probe_once, default_sources())
    client = AiohttpOllamaClient(config.proxy.upstream)
    try:
        return await run_checks(config, Host(), snapshot, client)
    finally:
        await client.close()
