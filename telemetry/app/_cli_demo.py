"""`ollama-sidecar demo`: the emulator as Ollama, the sidecar in front, a mix of requests, and
what an operator would see: per-request outcomes and IDs, the metrics, the receipt log."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import re
import tempfile
from pathlib import Path
from typing import Any

import aiohttp

from telemetry.app._sidecar import Sidecar
from telemetry.core._config import Config, Timeouts, load_config
from telemetry.core._runtime import run as run_loop
from telemetry.emulator import EmulatorConfig, EmulatorServer
from telemetry.observe._logs import configure_logging

CHAT = [{"role": "user", "content": "Why is the sky blue?"}]
# (label, path, body, emulator fault)
TRAFFIC: list[tuple[str, str, dict[str, Any], str | None]] = [
    ("generate", "/api/generate", {"model": "llama3.1:8b", "prompt": "Hello"}, None),
    ("chat", "/api/chat", {"model": "llama3.2:3b", "messages": CHAT}, None),
    (
        "chat, thinking",
        "/api/chat",
        {"model": "qwen2.5:14b", "messages": CHAT, "think": True},
        None,
    ),
    (
        "chat, not streamed",
        "/api/chat",
        {"model": "llama3.3:70b", "messages": CHAT, "stream": False},
        None,
    ),
    ("embed", "/api/embed", {"model": "nomic-embed-text", "input": ["a", "b"]}, None),
    (
        "openai chat",
        "/v1/chat/completions",
        {"model": "llama3.1:8b", "messages": CHAT, "stream": True},
        None,
    ),
    ("unknown model", "/api/generate", {"model": "no-such-model:7b", "prompt": "x"}, None),
    (
        "error mid-stream",
        "/api/generate",
        {"model": "llama3.1:8b", "prompt": "x"},
        "error_midstream",
    ),
    ("ollama busy", "/api/chat", {"model": "llama3.1:8b", "messages": CHAT}, "busy"),
    ("stalled upstream", "/api/generate", {"model": "llama3.1:8b", "prompt": "x"}, "stall_before"),
]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="where the demo keeps its key and receipts (default: a new temp dir)",
    )
    parser.add_argument(
        "--keep-running",
        action="store_true",
        help="keep emulator and sidecar running after the demo (Ctrl-C stops)",
    )
    parser.add_argument("--listen", default="127.0.0.1:0", help="sidecar address")
    parser.add_argument("--admin-listen", default="127.0.0.1:0", help="admin address")


def run(args: argparse.Namespace) -> int:
    configure_logging("warning")
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="ollama-sidecar-demo-"))
    return run_loop(_demo(data_dir, args))


def demo_config(upstream: str, data_dir: Path, listen: str, admin: str) -> Config:
    config = load_config(
        env={},
        overrides={
            "proxy": {
                "listen": listen,
                "admin_listen": admin,
                "upstream": upstream,
                "data_dir": data_dir,
                "log_requests": False,
            },
            "gpu": {"enabled": False},
        },
    )
    # A short first-token timeout so the stalled request times out within a second.
    tiers = tuple(
        dataclasses.replace(t, timeouts=Timeouts(connect=1, ttft=1, idle=2, total=30))
        for t in config.tiers
    )
    return dataclasses.replace(config, tiers=tiers)


async def _demo(data_dir: Path, args: argparse.Namespace) -> int:
    emulated = EmulatorConfig(ttft_seconds=0.05, tokens_per_second=100, output_tokens=12)
    async with EmulatorServer(emulated) as emulator:
        sidecar = Sidecar(demo_config(emulator.url, data_dir, args.listen, args.admin_listen))
        await sidecar.start()
        try:
            proxy = f"http://127.0.0.1:{sidecar.listen_port}"
            admin = f"http://127.0.0.1:{sidecar.admin_port}"
            print(
                f"emulated Ollama: {emulator.url}\nsidecar:         {proxy}\n"
                f"admin:           {admin}/metrics\ndata dir:        {data_dir}\n"
            )
            async with aiohttp.ClientSession() as session:
                rows = [await _send(session, proxy, *item) for item in TRAFFIC]
                _print_requests(rows)
                if sidecar.receipts is not None:
                    await asyncio.to_thread(sidecar.receipts.flush, 5.0, checkpoint=True)
                async with session.get(admin + "/metrics") as response:
                    _print_metrics(await response.text())
            if sidecar.receipts is not None:
                print(f"\nreceipts: signed by {sidecar.receipts.verifier_key}")
                print(f"verify them:  receipts --data-dir {data_dir} --admin {admin} verify --all")
            if args.keep_running:
                print("\nrunning; press Ctrl-C to stop")
                await asyncio.Event().wait()
        finally:
            await sidecar.stop()
    return 0


async def _send(
    session: aiohttp.ClientSession,
    base: str,
    label: str,
    path: str,
    body: dict[str, Any],
    fault: str | None,
) -> dict[str, Any]:
    headers = {"X-Emulator-Fault": fault} if fault else {}
    async with session.post(base + path, json=body, headers=headers) as response:
        payload = await response.read()
        return {
            "label": label,
            "status": response.status,
            "bytes": len(payload),
            "request_id": response.headers.get("X-Request-ID", "-"),
            "salt": response.headers.get("X-Receipt-Salt", ""),
        }


def _print_requests(rows: list[dict[str, Any]]) -> None:
    print(f"{'request':<20}{'status':>7}{'bytes':>8}  request id")
    for row in rows:
        print(f"{row['label']:<20}{row['status']:>7}{row['bytes']:>8}  {row['request_id']}")


_SAMPLE = re.compile(r"^(\w+)\{([^}]*)\} (\S+)$")


def _print_metrics(text: str) -> None:
    outcomes: dict[str, float] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match and match[1] == "ollama_sidecar_requests_total":
            labels = dict(re.findall(r'(\w+)="([^"]*)"', match[2]))
            outcomes[labels["outcome"]] = outcomes.get(labels["outcome"], 0) + float(match[3])
    print(
        "\nrequests by outcome (ollama_sidecar_requests_total):",
        json.dumps({k: int(v) for k, v in sorted(outcomes.items())}),
    )
    for name in (
        "gen_ai_server_time_to_first_token_seconds",
        "gen_ai_server_request_duration_seconds",
    ):
        count = _total(text, name + "_count")
        total = _total(text, name + "_sum")
        if count:
            print(f"{name}: {int(count)} observations, mean {total / count * 1000:.1f} ms")
    for name in (
        "ollama_sidecar_timeouts_total",
        "ollama_sidecar_upstream_errors_total",
        "ollama_sidecar_receipts_total",
        "ollama_sidecar_receipt_log_size",
    ):
        print(f"{name}: {int(_total(text, name))}")


def _total(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith((name + "{", name + " ")):
            total += float(line.rsplit(" ", 1)[1])
    return total
