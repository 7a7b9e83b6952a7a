"""`ollama-sidecar serve`: the transparent proxy, its admin listener, receipts and GPU telemetry."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

from telemetry.core._config import Config, load_config
from telemetry.core._runtime import run as run_loop
from telemetry.observe._logs import configure_logging

log = logging.getLogger("ollama_sidecar.sidecar")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML config file")
    parser.add_argument("--listen", help="proxy address (default 127.0.0.1:11435)")
    parser.add_argument("--admin-listen", help="metrics/health address (default 127.0.0.1:11436)")
    parser.add_argument(
        "--log-listen",
        metavar="ADDR",
        help="also serve the receipt log's tiles, read-only and without a token, on ADDR",
    )
    parser.add_argument(
        "--upstream", help="Ollama URL (default $OLLAMA_BASE_URL or http://127.0.0.1:11434)"
    )
    parser.add_argument("--data-dir", type=Path, help="state directory (receipts database, key)")
    parser.add_argument(
        "--auth-token-file", type=Path, help="file holding a bearer token clients must send"
    )
    parser.add_argument("--tls-cert", type=Path, help="serve TLS with this PEM certificate")
    parser.add_argument("--tls-key", type=Path, help="the certificate's PEM private key")
    parser.add_argument(
        "--client-ca", type=Path, help="require client certificates signed by this PEM CA (mTLS)"
    )
    parser.add_argument("--max-body-bytes", type=int, help="larger request bodies get 413")
    parser.add_argument("--no-receipts", action="store_true", help="do not sign receipts")
    parser.add_argument("--no-gpu", action="store_true", help="do not probe GPUs")
    parser.add_argument(
        "--emulator-if-unreachable",
        action="store_true",
        help="when Ollama does not answer at start, serve the built-in emulator",
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])


def config_from(args: argparse.Namespace) -> Config:
    proxy: dict[str, Any] = {
        "listen": args.listen,
        "admin_listen": args.admin_listen,
        "log_listen": args.log_listen,
        "upstream": args.upstream,
        "data_dir": args.data_dir,
        "auth_token_file": args.auth_token_file,
        "max_body_bytes": args.max_body_bytes,
        "tls_cert": args.tls_cert,
        "tls_key": args.tls_key,
        "client_ca": args.client_ca,
    }
    overrides: dict[str, dict[str, Any]] = {"proxy": proxy}
    if args.no_receipts:
        overrides["receipts"] = {"enabled": False}
    if args.no_gpu:
        overrides["gpu"] = {"enabled": False}
    return load_config(args.config, os.environ, overrides)


def run(args: argparse.Namespace) -> int:
    configure_logging(args.log_level)
    config = config_from(args)
    run_loop(_serve(config, args.emulator_if_unreachable))
    return 0


async def _serve(config: Config, emulate: bool) -> None:
    from telemetry.app._sidecar import Sidecar  # the proxy's stack: not for `serve --help`

    if emulate and not await _upstream_answers(config.proxy.upstream):
        from dataclasses import replace

        from telemetry.emulator import EmulatorConfig, EmulatorServer

        async with EmulatorServer(EmulatorConfig()) as emulator:
            log.warning(
                "Ollama is unreachable; serving the built-in emulator instead",
                extra={"fields": {"upstream": config.proxy.upstream, "emulator": emulator.url}},
            )
            proxy = replace(config.proxy, upstream=emulator.url)
            await Sidecar(replace(config, proxy=proxy)).run_until_signalled()
        return
    await Sidecar(config).run_until_signalled()


async def _upstream_answers(url: str) -> bool:
    import aiohttp

    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                url.rstrip("/") + "/api/version", timeout=aiohttp.ClientTimeout(total=2)
            ) as response,
        ):
            return response.status == 200
    except (aiohttp.ClientError, TimeoutError):
        return False
