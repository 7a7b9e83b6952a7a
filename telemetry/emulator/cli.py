"""`ollama-sidecar emulate`: serve the Ollama API emulator until SIGINT or SIGTERM.

Prints one line, `emulating Ollama on <url>`, to stdout once it listens.
Exit codes: 0 stopped by a signal, 1 could not listen (port in use), 2 bad flags.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from telemetry.core._errors import ConfigError
from telemetry.emulator._app import EmulatorServer
from telemetry.emulator._config import FAULTS, EmulatorConfig


def configure(parser: argparse.ArgumentParser) -> None:
    defaults = EmulatorConfig()
    parser.add_argument(
        "--listen", default="127.0.0.1:11434", metavar="HOST:PORT", help="address to serve on"
    )
    parser.add_argument(
        "--ttft", type=float, default=defaults.ttft_seconds, help="seconds to first token"
    )
    parser.add_argument(
        "--tokens-per-second",
        type=float,
        default=defaults.tokens_per_second,
        help="decode rate; 0 means no delay at all",
    )
    parser.add_argument(
        "--output-tokens", type=int, default=defaults.output_tokens, help="tokens per reply"
    )
    parser.add_argument(
        "--load-seconds",
        type=float,
        default=defaults.load_seconds,
        help="model load time on first use (and under the slow_load fault)",
    )
    parser.add_argument("--fault", choices=FAULTS, default=None, help="fault for every request")
    parser.add_argument(
        "--fault-share",
        type=float,
        default=defaults.fault_share,
        help="share of requests (0-1) the --fault hits, drawn per request",
    )
    parser.add_argument(
        "--concurrency-slowdown",
        type=float,
        default=defaults.concurrency_slowdown,
        help="TTFT and token pacing stretch by 1 + this x (other requests in flight)",
    )
    parser.add_argument(
        "--fault-after-chunks",
        type=int,
        default=defaults.fault_after_chunks,
        help="chunks sent before a mid-stream fault hits",
    )


def _split_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"--listen: expected HOST:PORT, got {listen!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    return EmulatorConfig(
        ttft_seconds=args.ttft,
        tokens_per_second=args.tokens_per_second,
        output_tokens=args.output_tokens,
        load_seconds=args.load_seconds,
        fault=args.fault,
        fault_share=args.fault_share,
        concurrency_slowdown=args.concurrency_slowdown,
        fault_after_chunks=args.fault_after_chunks,
    )


async def _serve(config: EmulatorConfig, host: str, port: int) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    server = EmulatorServer(config, host=host, port=port)
    try:
        await server.start()
    except OSError as exc:
        print(f"ollama-sidecar emulate: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    print(f"emulating Ollama on {server.url}", flush=True)
    try:
        await stop.wait()
    finally:
        await server.close()
    return 0


def run(args: argparse.Namespace) -> int:
    host, port = _split_listen(args.listen)
    return asyncio.run(_serve(config_from_args(args), host, port))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="ollama-sidecar emulate", formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    configure(parser)
    try:
        return run(parser.parse_args(argv))
    except ConfigError as exc:
        print(f"ollama-sidecar emulate: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
