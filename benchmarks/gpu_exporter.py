"""GPU exporter cost with the scenario-fake NVML at 1, 8 and 64 GPUs.

`sample` is the CPU time per sampling round (process CPU: the worker handoff, building the
metric families and rendering them to text once). The scrape is timed the way the sidecar
serves it: real HTTP, from this process, to `telemetry.observe._admin.build_admin_app` in a process
of its own, whose shared registry holds the
proxy's metrics and the requests-by-processor counter. `new` appends the collector's
pre-rendered `exposition()` bytes (the current design, no formatting per scrape); `old`
registers the same collector on the registry instead, so prometheus_client formats the GPU
families on every scrape (the previous design). Both listeners serve the same snapshot (both
bodies are checked to end with the same GPU text) and are scraped alternately, so they see the
same load. `hung` repeats the scrapes with device 0's driver call hung. `render cpu` is the
thread CPU time of a scrape's rendering alone, which a loaded box does not inflate. Sampling is
paused while scraping (its cost is the `sample` column).
The sampling round includes the energy counters' `observe` (wrap/reset tracking for the
per-request meter); `energy` is that part alone. `meter_us` is what an inference request costs
the event loop for its GPU energy share (`begin` + `end`, thread CPU time) with 1, 16 and 64
requests running at once, against `placement_us`, the cost of the placement lookup every
request already made before (the baseline, measured in the same run).
Goals: < 1% of one core at 1 Hz with 8 GPUs; scrape p99 < 5 ms, unchanged under a hang.

    .venv/bin/python benchmarks/gpu_exporter.py [--rounds 200] [--scrapes 500] [--gpus 1 8 64]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import logging
import multiprocessing
import os
import statistics
import sys
import threading
import time
from collections.abc import Coroutine
from multiprocessing.connection import Connection
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest

from exporters import GpuCollector, GpuMonitor, GpuSampler, ModelResidency, NvmlSource, OllamaView
from exporters._energy import EnergyCounters, EnergyMeter
from exporters._sampler import GpuSnapshot
from exporters.testing import FakeNvml, FakeOllamaClient
from telemetry import Config
from telemetry.observe._admin import build_admin_app
from telemetry.observe._metrics import ProxyMetrics

GIB = 1 << 30


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def _shared_registry(config: Config) -> CollectorRegistry:
    """The shared registry as the sidecar fills it: proxy metrics and the per-request counter
    (an unstarted monitor registers only that counter)."""
    registry = CollectorRegistry()
    ProxyMetrics(config, registry, "bench")
    GpuMonitor(config, registry, sources=[], ollama=FakeOllamaClient())
    return registry


class _Servers:
    """The two admin apps on 127.0.0.1, served from an event loop on a thread of their own."""

    def __init__(self, apps: list[web.Application]) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._runners = [web.AppRunner(app, access_log=None) for app in apps]
        self.ports = [self._call(self._open(r)) for r in self._runners]

    def _call(self, coro: Coroutine[Any, Any, int]) -> int:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    @staticmethod
    async def _open(runner: web.AppRunner) -> int:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return int(runner.addresses[0][1])

    async def _cleanup(self) -> int:
        for runner in self._runners:
            await runner.cleanup()
        return 0

    def close(self) -> None:
        self._call(self._cleanup())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


def _get(conn: http.client.HTTPConnection) -> bytes:
    conn.request("GET", "/metrics")
    response = conn.getresponse()
    body = response.read()
    assert response.status == 200, response.status
    return body


def _scrapes(
    old: http.client.HTTPConnection, new: http.client.HTTPConnection, gpu_text: bytes, n: int
) -> dict[str, float]:
    # both end with the same GPU text; the registries before it differ only in _created stamps
    assert _get(old).endswith(gpu_text) and _get(new).endswith(gpu_text)
    times: dict[str, list[float]] = {"old": [], "new": []}
    for _ in range(n):
        for name, conn in (("old", old), ("new", new)):
            start = time.perf_counter()
            _get(conn)
            times[name].append(time.perf_counter() - start)
    return {
        "old_p50": statistics.median(times["old"]) * 1e3,
        "old_p99": _p99(times["old"]) * 1e3,
        "new_p50": statistics.median(times["new"]) * 1e3,
        "new_p99": _p99(times["new"]) * 1e3,
    }


def _serve(gpus: int, rounds: int, conn: Connection) -> None:
    """The sidecar side, in a process of its own: sampler, collector and the two admin apps."""
    logging.disable(logging.WARNING)
    nv = FakeNvml.h100s(gpus)
    for i in range(gpus):
        nv.draw(i, 300.0)
    collector = GpuCollector()
    counters = EnergyCounters()

    def on_snapshot(snapshot: GpuSnapshot) -> None:
        collector.update_gpu(snapshot)
        counters.observe(snapshot)

    sampler = GpuSampler(
        [NvmlSource(nv, is_ollama=lambda pid: False)], hang_timeout=0.05, on_snapshot=on_snapshot
    )
    sampler.run_once()
    cpu = time.process_time()
    for _ in range(rounds):
        sampler.run_once()
    per_round = (time.process_time() - cpu) / rounds
    snapshot = sampler.snapshot
    cpu = time.thread_time()
    for _ in range(rounds):
        counters.observe(snapshot)
    per_observe = (time.thread_time() - cpu) / rounds
    loaded = (ModelResidency("qwen3:8b", "qwen3:8b", 6 * GIB, 6 * GIB),)
    collector.update_ollama(OllamaView(True, "0.12.3", loaded))

    config = Config()
    old_registry, new_registry = _shared_registry(config), _shared_registry(config)
    old_registry.register(collector)

    def old_render() -> bytes:
        return generate_latest(old_registry)

    def new_render() -> bytes:
        return generate_latest(new_registry) + collector.exposition()

    servers = _Servers(
        [
            build_admin_app(old_registry, {}),
            build_admin_app(new_registry, {}, expositions=[collector.exposition]),
        ]
    )
    conn.send((servers.ports, per_round, per_observe, collector.exposition()))
    try:
        while (command := conn.recv()) != "stop":
            if command == "hang":
                nv.hang(0)
                sampler.run_once()
                assert not sampler.snapshot.devices[0].healthy
                conn.send(collector.exposition())
            else:  # render CPU times
                cpu_times: dict[str, list[float]] = {"old": [], "new": []}
                for _ in range(int(command)):
                    for name, render in (("old", old_render), ("new", new_render)):
                        start = time.thread_time()
                        render()
                        cpu_times[name].append(time.thread_time() - start)
                conn.send({k: _p99(v) * 1e3 for k, v in cpu_times.items()})
    finally:
        servers.close()
        nv.release(0)
        sampler.stop()


def measure(gpus: int, rounds: int, scrapes: int) -> dict[str, float]:
    ours, theirs = multiprocessing.Pipe()
    server = multiprocessing.get_context("spawn").Process(
        target=_serve, args=(gpus, rounds, theirs), daemon=True
    )
    server.start()
    ports, per_round, per_observe, gpu_text = ours.recv()
    old, new = (http.client.HTTPConnection("127.0.0.1", port, timeout=10) for port in ports)
    try:
        lines = _get(new).count(b"\n")
        healthy = _scrapes(old, new, gpu_text, scrapes)
        ours.send("hang")
        hung = _scrapes(old, new, ours.recv(), scrapes)
        ours.send(str(scrapes))
        render_cpu = ours.recv()
        ours.send("stop")
        server.join(10)
    finally:
        old.close()
        new.close()
        if server.is_alive():
            server.kill()
    return {
        "lines": lines,
        "sample_cpu_ms": per_round * 1e3,
        "core_pct_1hz": per_round * 100,
        "energy_ms": per_observe * 1e3,
        "old_p50_ms": healthy["old_p50"],
        "old_p99_ms": healthy["old_p99"],
        "new_p50_ms": healthy["new_p50"],
        "new_p99_ms": healthy["new_p99"],
        "old_p99_hung_ms": hung["old_p99"],
        "new_p99_hung_ms": hung["new_p99"],
        "old_render_cpu_p99_ms": render_cpu["old"],
        "new_render_cpu_p99_ms": render_cpu["new"],
    }


def meter_cost(gpus: int, running: int, n: int) -> dict[str, float]:
    """µs of loop time per request for its energy share, with `running` others in flight."""
    nv = FakeNvml.h100s(gpus)
    for i in range(gpus):
        nv.draw(i, 300.0)
    source = NvmlSource(nv, is_ollama=lambda pid: False)
    counters = EnergyCounters()
    sampler = GpuSampler([source], hang_timeout=1.0, on_snapshot=counters.observe)
    sampler.run_once()
    all_gpus = frozenset(d.uuid for d in sampler.snapshot.devices)
    meter = EnergyMeter(counters, lambda model: all_gpus)
    handles = [meter.begin("qwen3:8b") for _ in range(running)]
    start = time.thread_time()
    for _ in range(n):
        meter.end(meter.begin("qwen3:8b"), all_gpus)
    per_request = (time.thread_time() - start) / n
    for handle in handles:
        meter.end(handle, all_gpus)
    monitor = GpuMonitor(Config(), CollectorRegistry(), sources=[], ollama=FakeOllamaClient())
    start = time.thread_time()
    for _ in range(n):
        monitor.placement("qwen3:8b")
    baseline = (time.thread_time() - start) / n
    sampler.stop()
    return {"meter_us": per_request * 1e6, "placement_us": baseline * 1e6}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--scrapes", type=int, default=500)
    parser.add_argument("--gpus", type=int, nargs="+", default=[1, 8, 64])
    args = parser.parse_args(argv)
    keys = list(measure(1, 2, 10))
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; times in ms")
    heads = [k.removesuffix("_ms") for k in keys]
    width = max(len(h) for h in heads)
    print(f"{'gpus':>5} " + " ".join(f"{h:>{width}}" for h in heads))
    for gpus in args.gpus:
        r = measure(gpus, args.rounds, args.scrapes)
        print(f"{gpus:>5} " + " ".join(f"{r[k]:>{width}.3f}" for k in keys))
    print("\nper-request energy share on the event loop (begin + end), µs")
    print(f"{'gpus':>5} {'running':>8} {'meter_us':>9} {'placement_us':>13} {'ratio':>6}")
    for gpus in args.gpus:
        for running in (1, 16, 64):
            c = meter_cost(gpus, running, args.rounds * 10)
            ratio = c["meter_us"] / c["placement_us"]
            print(
                f"{gpus:>5} {running:>8} {c['meter_us']:>9.1f} {c['placement_us']:>13.1f} "
                f"{ratio:>6.1f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
