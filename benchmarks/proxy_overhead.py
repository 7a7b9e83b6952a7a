"""Proxy overhead: direct to the emulator vs through the sidecar (receipts on and off) vs nginx.

    python benchmarks/proxy_overhead.py [--quick] [--soak SECONDS]

Every number comes from one run on this machine: added latency and TTFT are the through-proxy
percentiles minus the direct percentiles of the same phase; CPU is the proxy process's
user+system time per request; RSS is sampled during a soak. The load generator, the emulator
and the proxy share the box, so read ratios and medians, not absolutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import (
    Nginx,
    cpu_seconds,
    free_port,
    median,
    percentile,
    rss_bytes,
    set_emulator,
    sidecar_cli,
    start,
    wait_http,
)

STREAM_BODY = json.dumps({"model": "llama3.1:8b", "prompt": "Why is the sky blue?"}).encode()
PLAIN_BODY = json.dumps(
    {"model": "llama3.1:8b", "prompt": "Why is the sky blue?", "stream": False}
).encode()


@dataclass
class Samples:
    latency: list[float] = field(default_factory=list)
    ttft: list[float] = field(default_factory=list)
    errors: int = 0


async def one_stream(session: aiohttp.ClientSession, url: str, out: Samples) -> None:
    started = time.perf_counter()
    try:
        async with session.post(url + "/api/generate", data=STREAM_BODY) as response:
            first = None
            async for _ in response.content.iter_any():
                if first is None:
                    first = time.perf_counter()
            if response.status != 200 or first is None:
                out.errors += 1
                return
        out.ttft.append(first - started)
        out.latency.append(time.perf_counter() - started)
    except aiohttp.ClientError:
        out.errors += 1


async def stream_phase(url: str, concurrency: int, per_worker: int) -> Samples:
    out = Samples()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            for _ in range(per_worker):
                await one_stream(session, url, out)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return out


async def throughput_phase(url: str, concurrency: int, seconds: float) -> tuple[int, int]:
    done = errors = 0
    stop_at = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal done, errors
            while time.perf_counter() < stop_at:
                try:
                    async with session.post(url + "/api/generate", data=PLAIN_BODY) as response:
                        await response.read()
                        if response.status == 200:
                            done += 1
                        else:
                            errors += 1
                except aiohttp.ClientError:
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done, errors


@dataclass
class Target:
    name: str
    url: str
    pids: list[int]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f}"


async def run(args: argparse.Namespace) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="bench-proxy-"))
    emu_port = free_port()
    upstream = f"http://127.0.0.1:{emu_port}"
    processes = [start(sidecar_cli("emulate", "--listen", f"127.0.0.1:{emu_port}"))]
    nginx = Nginx(emu_port)
    try:
        wait_http(upstream + "/api/version")
        targets = [Target("direct", upstream, [])]
        for name, extra in (("sidecar", []), ("sidecar-no-receipts", ["--no-receipts"])):
            port, admin = free_port(), free_port()
            serve = [
                "serve",
                "--listen",
                f"127.0.0.1:{port}",
                "--admin-listen",
                f"127.0.0.1:{admin}",
                "--upstream",
                upstream,
                "--data-dir",
                str(tmp / name),
                "--no-gpu",
                "--log-level",
                "warning",
                *extra,
            ]
            proc = start(sidecar_cli(*serve))
            processes.append(proc)
            wait_http(f"http://127.0.0.1:{admin}/healthz")
            targets.append(Target(name, f"http://127.0.0.1:{port}", [proc.pid]))
        # The same HTTP stack with nothing on top: the floor the sidecar's own work adds to.
        minimal_port = free_port()
        minimal = start(
            [
                sys.executable,
                str(Path(__file__).parent / "_stacks" / "aiohttp_proxy.py"),
                "--listen",
                f"127.0.0.1:{minimal_port}",
                "--upstream",
                upstream,
            ]
        )
        processes.append(minimal)
        wait_http(f"http://127.0.0.1:{minimal_port}/api/version")
        targets.append(Target("minimal-aiohttp", f"http://127.0.0.1:{minimal_port}", [minimal.pid]))
        if not args.no_nginx and nginx.start():
            targets.append(Target("nginx", f"http://127.0.0.1:{nginx.port}", nginx.pids()))
        return await measure(args, targets, upstream)
    finally:
        nginx.stop()
        for proc in processes:
            proc.terminate()
            proc.wait(15)


async def measure(args: argparse.Namespace, targets: list[Target], upstream: str) -> int:
    failures = 0
    set_emulator(upstream, ttft_seconds=0.02, tokens_per_second=200, output_tokens=16)
    levels = (
        [(1, 40), (8, 8), (32, 4), (128, 2)]
        if not args.quick
        else [(1, 10), (8, 3), (32, 2), (128, 1)]
    )
    print("\n## Streaming /api/generate, emulator TTFT 20 ms, 200 tokens/s, 16 tokens")
    print(
        f"{'target':<22}{'conc':>5}{'n':>6}{'err':>5}{'p50 ms':>10}{'p99 ms':>10}"
        f"{'ttft50':>10}{'ttft99':>10}{'+p50':>10}{'+p99':>10}{'+ttft50':>10}{'+ttft99':>10}"
    )
    for concurrency, per_worker in levels:
        results: dict[str, Samples] = {t.name: Samples() for t in targets}
        for _ in range(args.rounds):
            for target in targets:
                got = await stream_phase(target.url, concurrency, per_worker)
                into = results[target.name]
                into.latency += got.latency
                into.ttft += got.ttft
                into.errors += got.errors
        base = results["direct"]
        for target in targets:
            s = results[target.name]
            failures += s.errors
            row = (
                f"{target.name:<22}{concurrency:>5}{len(s.latency):>6}{s.errors:>5}"
                f"{ms(percentile(s.latency, 0.5))}  {ms(percentile(s.latency, 0.99))}"
                f"{ms(percentile(s.ttft, 0.5))}  {ms(percentile(s.ttft, 0.99))}"
            )
            if target.name != "direct":
                row += (
                    f"{ms(percentile(s.latency, 0.5) - percentile(base.latency, 0.5))}  "
                    f"{ms(percentile(s.latency, 0.99) - percentile(base.latency, 0.99))}"
                    f"{ms(percentile(s.ttft, 0.5) - percentile(base.ttft, 0.5))}  "
                    f"{ms(percentile(s.ttft, 0.99) - percentile(base.ttft, 0.99))}"
                )
            print(row)

    set_emulator(upstream, ttft_seconds=0, tokens_per_second=0, output_tokens=16)
    seconds = 2.0 if args.quick else 5.0
    print(f"\n## Max throughput, zero-latency upstream, non-streaming, 32 connections, {seconds}s")
    print(
        f"{'target':<22}{'req/s':>10}{'errors':>8}{'vs direct':>11}{'CPU ms/req':>12}{'RSS MiB':>9}"
    )
    direct_rate = 0.0
    for target in targets:
        cpu_before = cpu_seconds(target.pids)
        done, errors = await throughput_phase(target.url, 32, seconds)
        cpu = cpu_seconds(target.pids) - cpu_before
        rate = done / seconds
        direct_rate = direct_rate or rate
        failures += errors
        cpu_text = f"{cpu * 1000 / max(done, 1):12.3f}" if target.pids else f"{'-':>12}"
        rss_text = f"{rss_bytes(target.pids) / 2**20:9.1f}" if target.pids else f"{'-':>9}"
        print(
            f"{target.name:<22}{rate:10.0f}{errors:8d}{rate / direct_rate:11.2f}"
            f"{cpu_text}{rss_text}"
        )

    if args.soak > 0:
        await soak(args.soak, next(t for t in targets if t.name == args.soak_target), upstream)
    return 1 if failures else 0


async def soak(seconds: float, target: Target, upstream: str) -> None:
    set_emulator(upstream, ttft_seconds=0.01, tokens_per_second=500, output_tokens=16)
    print(f"\n## Soak: {seconds:.0f}s of 16 concurrent streams through {target.name}")
    samples: list[tuple[float, int]] = []
    stop_at = time.perf_counter() + seconds
    start_at = time.perf_counter()
    total = Samples()

    async def load() -> None:
        while time.perf_counter() < stop_at:
            got = await stream_phase(target.url, 16, 5)
            total.errors += got.errors
            total.latency += got.latency[-1:]

    task = asyncio.ensure_future(load())
    while not task.done():
        samples.append((time.perf_counter() - start_at, rss_bytes(target.pids)))
        await asyncio.sleep(min(10.0, max(1.0, seconds / 12)))
    await task
    first_half = [r for t, r in samples if t < seconds / 2]
    second_half = [r for t, r in samples if t >= seconds / 2]
    print(
        f"RSS MiB: start {samples[0][1] / 2**20:.1f}, median first half "
        f"{median(first_half) / 2**20:.1f}, median second half "
        f"{median(second_half) / 2**20:.1f}, max {max(r for _, r in samples) / 2**20:.1f}; "
        f"errors {total.errors}"
    )
    print("RSS MiB over time: " + ", ".join(f"{t:.0f}s {r / 2**20:.0f}" for t, r in samples))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer requests (a smoke run)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per level")
    parser.add_argument("--soak", type=float, default=0.0, help="soak seconds (600 for 10 min)")
    parser.add_argument(
        "--soak-target", default="sidecar", choices=["sidecar", "sidecar-no-receipts"]
    )
    parser.add_argument("--no-nginx", action="store_true")
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        return asyncio.run(run(args))
    return uvloop.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
