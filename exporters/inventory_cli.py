"""`ollama-sidecar inventory`: describe this host (GPUs, OS, runtime, Ollama, provider tier).

Exit codes: 0 the inventory was printed (a host without GPU or Ollama is still a result);
2 usage or configuration error (a bad `--config`, raised as `ConfigError` to the dispatcher).
Table on stdout by default, `--json` for machines; nothing on stderr unless the command fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from exporters._inventory import HostInventory, gather, render
from exporters._ollama import AiohttpOllamaClient
from exporters._probe import default_sources
from exporters._sampler import GpuSampler, GpuSnapshot
from exporters._source import GpuSource
from telemetry.core import SidecarError, Tier, load_config


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--upstream",
        default=os.environ.get("OLLAMA_BASE_URL") or "http://127.0.0.1:11434",
        help="Ollama's base URL",
    )
    parser.add_argument("--config", type=Path, default=None, help="config file (for the tiers)")


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config, env={})
    inventory = asyncio.run(collect(config.tiers, args.upstream))
    text = json.dumps(inventory.to_json(), indent=2) + "\n" if args.json else render(inventory)
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # Piped into `head`: the reader has what it wanted. Python would report the failed
        # flush at exit, so stdout is pointed at devnull first (as the Python docs advise).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def probe_once(sources: Sequence[GpuSource]) -> GpuSnapshot:
    """One probe and sample round, without the sampler's log lines (the caller reports)."""
    with _sampler_quiet():
        sampler = GpuSampler(sources, hang_timeout=10.0)
        try:
            return sampler.run_once()
        finally:
            sampler.stop(timeout=1.0)


@contextlib.contextmanager
def _sampler_quiet() -> Iterator[None]:
    """Keep the sampler's warnings ("no GPU found; serving on CPU") off stderr.

    They are meant for the running sidecar; the inventory prints the same facts itself.
    """
    logger = logging.getLogger("ollama_sidecar.gpu")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


async def collect(
    tiers: tuple[Tier, ...], upstream: str, headers: Mapping[str, str] | None = None
) -> HostInventory:
    """This host's inventory, with Ollama (or the sidecar, `headers` carrying its bearer token)
    asked at `upstream`."""
    snapshot = await asyncio.to_thread(probe_once, default_sources())
    return await _gather(snapshot, tiers, upstream, headers)


async def _gather(
    snapshot: GpuSnapshot,
    tiers: tuple[Tier, ...],
    upstream: str,
    headers: Mapping[str, str] | None,
) -> HostInventory:
    client = AiohttpOllamaClient(upstream, headers=headers)
    try:
        return await gather(snapshot, tiers, client, upstream)
    finally:
        await client.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry point with the dispatcher's exit codes (2 for a bad config)."""
    parser = argparse.ArgumentParser(prog="ollama-sidecar inventory")
    configure(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except SidecarError as exc:
        print(f"ollama-sidecar: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
