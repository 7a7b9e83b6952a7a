"""`ollama-sidecar models warm [--tier NAME]`: pull a tier's models and keep them loaded.

The models are the tier's `pull` list; without --tier, the tier this host's largest GPU
qualifies for (as `inventory` decides it), or the default tier when GPU probing is off. It talks
to Ollama directly (--upstream, else OLLAMA_BASE_URL, else the config), not through the proxy.
Progress goes to stderr, one result line per model to stdout.

Exit codes: 0 every model pulled and loaded; 1 one of them failed; 2 usage or configuration
error (no such tier, or a tier without a pull list).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from exporters import default_sources, tier_for_host
from exporters.inventory_cli import probe_once
from telemetry.app.models._warm import warm
from telemetry.core import Config, ConfigError, Tier, load_config


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    sub = actions.add_parser("warm", help="pull a tier's models, then load them with keep-alive")
    sub.add_argument("--tier", help="tier whose pull list to warm (default: this host's tier)")
    sub.add_argument("--config", type=Path, help="TOML config file")
    sub.add_argument("--upstream", help="Ollama URL (default $OLLAMA_BASE_URL or the config's)")


def _tier(config: Config, name: str | None) -> Tier:
    if name is not None:
        return config.tier_named(name, "--tier")
    if not config.gpu.enabled:
        return config.tier_named(config.default_tier)
    chosen, _ = tier_for_host(probe_once(default_sources()), config.tiers)
    return config.tier_named(chosen)


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config, os.environ, {"proxy": {"upstream": args.upstream}})
    tier = _tier(config, args.tier)
    if not tier.pull:
        raise ConfigError(f'tiers.{tier.name}.pull: empty; list the models: pull = ["..."]')
    print(f"tier {tier.name}: {', '.join(tier.pull)}", file=sys.stderr)
    results = asyncio.run(
        warm(
            config.proxy.upstream,
            tier.pull,
            config.ollama.keep_alive,
            lambda line: print(line, file=sys.stderr, flush=True),
            idle_seconds=config.proxy.management_idle_timeout,
        )
    )
    for result in results:
        print(f"{'ok    ' if result.ok else 'FAILED'}  {result.model}  {result.detail}")
    return 0 if all(r.ok for r in results) else 1
