"""Hostile model names (issue 8, finding 2): tier lookup cost, `/metrics` size and sidecar RSS.

    python benchmarks/hostile_names.py

Tier lookup: the shipped `Config.tier_for` against the unbounded baseline it replaced (every
tier glob run through `fnmatch.fnmatchcase` over the whole lower-cased name), same names, same
run. Then `ollama-sidecar serve` in front of the emulator: `/metrics` bytes and the sidecar's RSS
after ordinary requests (the baseline), after four 256 KB model names and after four 16 MB ones.
"""

from __future__ import annotations

import fnmatch
import json
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import free_port, rss_bytes, sidecar_cli, start, wait_http

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from telemetry import load_config
from telemetry.core._config import Config


def unbounded_lookup(config: Config, model: str) -> str:
    name = model.lower()
    bare = name if ":" in name else name + ":latest"
    for tier in config.tiers:
        if any(fnmatch.fnmatchcase(bare, pattern) for pattern in tier.models):
            return tier.name
    return config.default_tier


def seconds(call: Callable[..., object], *args: object) -> float:
    started = time.perf_counter()
    call(*args)
    return time.perf_counter() - started


def tier_table() -> None:
    print("| name length | unbounded fnmatch (ms) | tier_for (ms) | ratio |")
    print("|---:|---:|---:|---:|")
    for size in (256, 1 << 20, 16 << 20):
        name = "m" * size + ":7b"
        old = seconds(unbounded_lookup, load_config(env={}), name)
        new = seconds(load_config(env={}).tier_for, name)
        print(f"| {size} | {old * 1e3:.3f} | {new * 1e3:.3f} | {old / new:.0f}x |")


def post(url: str, model: str) -> None:
    data = json.dumps({"model": model, "prompt": "x"}).encode()
    request = urllib.request.Request(url + "/api/generate", data=data)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        exc.read()


def metrics_bytes(admin: str) -> int:
    with urllib.request.urlopen(admin + "/metrics", timeout=60) as response:
        return len(response.read())


def sidecar_table() -> None:
    emu_port, port, admin_port = free_port(), free_port(), free_port()
    emulator = start(sidecar_cli("emulate", f"--listen=127.0.0.1:{emu_port}", "--ttft=0"))
    with tempfile.TemporaryDirectory() as tmp:
        sidecar = start(
            sidecar_cli(
                "serve",
                f"--listen=127.0.0.1:{port}",
                f"--admin-listen=127.0.0.1:{admin_port}",
                f"--upstream=http://127.0.0.1:{emu_port}",
                f"--data-dir={tmp}",
                "--no-gpu",
                "--log-level=warning",
            )
        )
        try:
            url, admin = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin_port}"
            wait_http(f"http://127.0.0.1:{emu_port}/api/version")
            wait_http(admin + "/healthz")
            phases = [
                ("baseline: 8 ordinary requests", ["llama3.2:3b"] * 8),
                ("+ four 256 KB names", [chr(97 + i) * (256 << 10) for i in range(4)]),
                ("+ four 16 MB names", [chr(101 + i) * (16 << 20) for i in range(4)]),
            ]
            print("\n| after | /metrics bytes | sidecar RSS (MB) |")
            print("|---|---:|---:|")
            for label, names in phases:
                for name in names:
                    post(url, name)
                size = metrics_bytes(admin)
                print(f"| {label} | {size} | {rss_bytes([sidecar.pid]) / 2**20:.0f} |")
        finally:
            sidecar.terminate()
            sidecar.wait(30)
            emulator.terminate()
            emulator.wait(10)


if __name__ == "__main__":
    tier_table()
    sidecar_table()
