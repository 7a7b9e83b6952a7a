"""Which Python HTTP stack to build the proxy on: minimal streaming reverse proxies, measured.

    python benchmarks/http_stack.py [--quick] [--json PATH] [--no-nginx]

One run starts the Ollama emulator and one minimal proxy per stack (benchmarks/_stacks/: each
forwards any method and path, rewrites Host, drops hop-by-hop headers and relays the response
chunk by chunk), then measures every target against direct-to-emulator in the same run:

- added p50/p99 latency of streaming /api/generate at concurrency 1 (emulator: TTFT 20 ms,
  200 tokens/s, 16 tokens), and added TTFT p99 at concurrency 32;
- max req/s of non-streaming /api/generate with a zero-latency upstream, 32 connections;
- proxy CPU ms per request (user+system from /proc) in both phases.

Targets are interleaved in rotating order, round by round, so slow drift hits all of them. The
load generator (aiohttp on uvloop, this process), the emulator and the proxy share the box:
read ratios and medians of several runs, not absolutes. Exit codes: 0 done, 1 some requests
failed, 2 bad flags.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import (
    Nginx,
    cpu_seconds,
    free_port,
    percentile,
    set_emulator,
    sidecar_cli,
    start,
)

STACKS_DIR = Path(__file__).resolve().parent / "_stacks"
STACKS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("aiohttp+uvloop", "aiohttp_proxy.py", ("--variant", "uvloop")),
    ("aiohttp+asyncio", "aiohttp_proxy.py", ("--variant", "asyncio")),
    ("uvicorn-asgi+httpx", "asgi_proxy.py", ("--variant", "httpx")),
    ("uvicorn-asgi+aiohttp", "asgi_proxy.py", ("--variant", "aiohttp")),
    ("starlette+httpx", "starlette_httpx.py", ()),
    ("naive-httpx-per-req", "starlette_httpx.py", ("--variant", "per-request")),
)
STREAM_BODY = json.dumps({"model": "llama3.1:8b", "prompt": "Why is the sky blue?"}).encode()
PLAIN_BODY = json.dumps(
    {"model": "llama3.1:8b", "prompt": "Why is the sky blue?", "stream": False}
).encode()


@dataclass(frozen=True)
class Plan:
    c1_rounds: int
    c1_per_round: int
    c32_rounds: int
    c32_per_worker: int
    rps_rounds: int
    rps_seconds: float


FULL = Plan(
    c1_rounds=4, c1_per_round=25, c32_rounds=3, c32_per_worker=3, rps_rounds=3, rps_seconds=1.5
)
QUICK = Plan(
    c1_rounds=2, c1_per_round=10, c32_rounds=2, c32_per_worker=1, rps_rounds=2, rps_seconds=0.75
)


@dataclass
class Target:
    name: str
    url: str
    pids: list[int]
    session: aiohttp.ClientSession | None = None
    latency_c1: list[float] = field(default_factory=list)
    ttft_c32: list[float] = field(default_factory=list)
    stream_cpu: float = 0.0
    streams: int = 0
    plain_cpu: float = 0.0
    plain_done: int = 0
    plain_seconds: float = 0.0
    errors: int = 0
    first_error: str = ""

    def failed(self, why: str) -> None:
        self.errors += 1
        self.first_error = self.first_error or why

    @property
    def client(self) -> aiohttp.ClientSession:
        if self.session is None:
            self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64))
        return self.session


@dataclass(frozen=True)
class Result:
    """One target's numbers from one run (milliseconds, req/s); what --json writes."""

    p50_c1: float
    p99_c1: float
    ttft99_c32: float
    rps: float
    cpu_ms_req: float
    cpu_ms_stream: float
    errors: int


async def one_stream(target: Target) -> tuple[float, float] | None:
    started = time.perf_counter()
    try:
        async with target.client.post(target.url + "/api/generate", data=STREAM_BODY) as response:
            first = None
            async for _ in response.content.iter_any():
                if first is None:
                    first = time.perf_counter()
            if response.status != 200 or first is None:
                target.failed(f"status {response.status}")
                return None
        return first - started, time.perf_counter() - started
    except aiohttp.ClientError as exc:
        target.failed(repr(exc))
        return None


async def streams(target: Target, concurrency: int, per_worker: int) -> list[tuple[float, float]]:
    got: list[tuple[float, float]] = []

    async def worker() -> None:
        for _ in range(per_worker):
            sample = await one_stream(target)
            if sample is not None:
                got.append(sample)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return got


async def plain_load(target: Target, concurrency: int, seconds: float) -> int:
    done = 0
    stop_at = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < stop_at:
            try:
                async with target.client.post(
                    target.url + "/api/generate", data=PLAIN_BODY
                ) as response:
                    await response.read()
                    if response.status == 200:
                        done += 1
                    else:
                        target.failed(f"status {response.status}")
            except aiohttp.ClientError as exc:
                target.failed(repr(exc))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done


async def interleave(
    targets: list[Target], rounds: int, slice_: Callable[[Target], Awaitable[None]]
) -> None:
    for r in range(rounds):
        shift = r % len(targets)
        for target in targets[shift:] + targets[:shift]:
            await slice_(target)


async def wait_ready(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(url + "/api/version") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer within {timeout:.0f}s")
            await asyncio.sleep(0.1)


async def measure(targets: list[Target], upstream: str, plan: Plan) -> None:
    set_emulator(upstream, ttft_seconds=0.02, tokens_per_second=200, output_tokens=16)
    for target in targets:  # warm-up: connections, code paths
        await streams(target, 32, 1)
        await plain_load(target, 4, 0.1)
        target.errors, target.first_error = 0, ""

    async def c1(target: Target) -> None:
        target.latency_c1 += [total for _, total in await streams(target, 1, plan.c1_per_round)]

    async def c32(target: Target) -> None:
        before = cpu_seconds(target.pids)
        got = await streams(target, 32, plan.c32_per_worker)
        target.stream_cpu += cpu_seconds(target.pids) - before
        target.streams += len(got)
        target.ttft_c32 += [ttft for ttft, _ in got]

    async def rps(target: Target) -> None:
        before = cpu_seconds(target.pids)
        started = time.perf_counter()
        target.plain_done += await plain_load(target, 32, plan.rps_seconds)
        target.plain_seconds += time.perf_counter() - started
        target.plain_cpu += cpu_seconds(target.pids) - before

    await interleave(targets, plan.c1_rounds, c1)
    await interleave(targets, plan.c32_rounds, c32)
    set_emulator(upstream, ttft_seconds=0, tokens_per_second=0, output_tokens=16)
    await interleave(targets, plan.rps_rounds, rps)


def result_of(target: Target) -> Result:
    return Result(
        p50_c1=percentile(target.latency_c1, 0.5) * 1000,
        p99_c1=percentile(target.latency_c1, 0.99) * 1000,
        ttft99_c32=percentile(target.ttft_c32, 0.99) * 1000,
        rps=target.plain_done / target.plain_seconds if target.plain_seconds else math.nan,
        cpu_ms_req=target.plain_cpu * 1000 / target.plain_done
        if target.pids and target.plain_done
        else math.nan,
        cpu_ms_stream=target.stream_cpu * 1000 / target.streams
        if target.pids and target.streams
        else math.nan,
        errors=target.errors,
    )


def ratio(value: float, base: float | None) -> str:
    if base is None or not base > 0.05 or math.isnan(value):
        return "     -"
    return f"{value / base:5.1f}x"


def table(results: dict[str, Result]) -> str:
    """Added latency vs direct (x nginx's), req/s (x direct, x nginx), proxy CPU (x nginx)."""
    d = results["direct"]
    n = results.get("nginx")
    lines = [
        f"direct: c=1 p50 {d.p50_c1:.2f} ms, p99 {d.p99_c1:.2f} ms; c=32 TTFT p99 "
        f"{d.ttft99_c32:.2f} ms; {d.rps:.0f} req/s",
        f"{'target':<21}{'err':>4}{'+p50 c1 ms':>17}{'+p99 c1 ms':>17}{'+TTFT99 c32':>17}"
        f"{'req/s':>7}{'xdirect':>8}{'xnginx':>7}{'CPU ms/req':>17}{'CPU ms/stream':>17}",
    ]
    for name, r in results.items():
        added = (r.p50_c1 - d.p50_c1, r.p99_c1 - d.p99_c1, r.ttft99_c32 - d.ttft99_c32)
        base = (
            (n.p50_c1 - d.p50_c1, n.p99_c1 - d.p99_c1, n.ttft99_c32 - d.ttft99_c32)
            if n
            else (None, None, None)
        )
        cells = "".join(f"{a:10.2f} {ratio(a, b)}" for a, b in zip(added, base, strict=True))
        if name == "direct":
            cells = "".join(f"{'-':>10} {'':>6}" for _ in added)
        lines.append(
            f"{name:<21}{r.errors:>4}{cells}{r.rps:7.0f}{r.rps / d.rps:8.2f}"
            f"{ratio(r.rps, n.rps if n else None):>7}"
            f"{r.cpu_ms_req:10.3f} {ratio(r.cpu_ms_req, n.cpu_ms_req if n else None)}"
            f"{r.cpu_ms_stream:10.3f} {ratio(r.cpu_ms_stream, n.cpu_ms_stream if n else None)}"
        )
    lines.append("(Nx: the value over nginx's; '-' where nginx's is under 0.05 or not measured)")
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> int:
    emu_port = free_port()
    upstream = f"http://127.0.0.1:{emu_port}"
    processes: list[subprocess.Popen[bytes]] = [
        start(sidecar_cli("emulate", "--listen", f"127.0.0.1:{emu_port}"))
    ]
    targets = [Target("direct", upstream, [])]
    nginx = Nginx(emu_port)
    try:
        for name, script, extra in STACKS:
            port = free_port()
            proc = start(
                [
                    sys.executable,
                    str(STACKS_DIR / script),
                    "--listen",
                    f"127.0.0.1:{port}",
                    "--upstream",
                    upstream,
                    *extra,
                ]
            )
            processes.append(proc)
            targets.append(Target(name, f"http://127.0.0.1:{port}", [proc.pid]))
        for target in targets:
            await wait_ready(target.url)
        if not args.no_nginx and nginx.start():
            targets.append(Target("nginx", f"http://127.0.0.1:{nginx.port}", nginx.pids()))
        began = time.perf_counter()
        await measure(targets, upstream, QUICK if args.quick else FULL)
        results = {t.name: result_of(t) for t in targets}
    finally:
        for target in targets:
            if target.session is not None:
                await target.session.close()
        nginx.stop()
        for proc in processes:
            proc.terminate()
            proc.wait(15)
    print(table(results))
    for target in targets:
        if target.errors:
            print(f"{target.name}: {target.errors} failed, first: {target.first_error}")
    print(f"(measured in {time.perf_counter() - began:.0f}s)")
    if args.json:
        Path(args.json).write_text(json.dumps({k: asdict(v) for k, v in results.items()}))
    return 1 if any(r.errors for r in results.values()) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer requests (under a minute)")
    parser.add_argument("--json", metavar="PATH", help="also write the numbers as JSON")
    parser.add_argument("--no-nginx", action="store_true", help="leave nginx out")
    args = parser.parse_args(argv)
    import uvloop

    return uvloop.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
