"""GPU exporter cost with the scenario-fake NVML at 1, 8 and 64 GPUs.

Measures CPU time per sampling round (process CPU, so it includes the worker handoff and
building the metric families) and `/metrics` scrape latency through prometheus_client's
exposition, with and without one device hung. For comparison under the same load it also times
the earlier design that built the families on every scrape (`rebuild p99`): the two are scraped
alternately. `cpu p99` is the scrape's own thread CPU time, which a loaded box does not inflate.
Goals: < 1% of one core at 1 Hz with 8 GPUs; scrape p99 < 5 ms, unchanged under a hang.

    .venv/bin/python benchmarks/gpu_exporter.py [--rounds 200] [--scrapes 500]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from exporters import FakeNvml, GpuCollector, GpuSampler, GpuSnapshot, NvmlSource
from exporters._collector import gpu_families


class _RebuildPerScrape(Collector):
    """The earlier collector: families built from the snapshot on every scrape."""

    def __init__(self, sampler: GpuSampler) -> None:
        self._sampler = sampler

    def collect(self) -> Iterable[Metric]:
        return gpu_families(self._sampler.snapshot)


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def _scrapes(cached: CollectorRegistry, rebuild: CollectorRegistry, n: int) -> dict[str, float]:
    wall: list[float] = []
    cpu: list[float] = []
    old: list[float] = []
    for _ in range(n):
        start, start_cpu = time.perf_counter(), time.thread_time()
        generate_latest(cached)
        cpu.append(time.thread_time() - start_cpu)
        wall.append(time.perf_counter() - start)
        start = time.perf_counter()
        generate_latest(rebuild)
        old.append(time.perf_counter() - start)
    return {
        "p50": statistics.median(wall) * 1e3,
        "p99": _p99(wall) * 1e3,
        "cpu_p99": _p99(cpu) * 1e3,
        "rebuild_p50": statistics.median(old) * 1e3,
        "rebuild_p99": _p99(old) * 1e3,
    }


def measure(gpus: int, rounds: int, scrapes: int) -> dict[str, float]:
    logging.disable(logging.WARNING)
    nv = FakeNvml.h100s(gpus)
    collector = GpuCollector()
    sampler = GpuSampler(
        [NvmlSource(nv, is_ollama=lambda pid: False)],
        hang_timeout=0.05,
        on_snapshot=collector.update_gpu,
    )
    sampler.run_once()
    cpu = time.process_time()
    for _ in range(rounds):
        sampler.run_once()
    per_round = (time.process_time() - cpu) / rounds
    cached, rebuild = CollectorRegistry(), CollectorRegistry()
    cached.register(collector)
    rebuild.register(_RebuildPerScrape(sampler))
    lines = generate_latest(cached).count(b"\n")
    healthy = _scrapes(cached, rebuild, scrapes)
    nv.hang(0)
    sampler.run_once()
    hung = _scrapes(cached, rebuild, scrapes)
    nv.release(0)
    sampler.stop()
    assert isinstance(sampler.snapshot, GpuSnapshot)
    return {
        "lines": lines,
        "cpu_ms_per_sample": per_round * 1e3,
        "core_pct_at_1hz": per_round * 100,
        "scrape_p50_ms": healthy["p50"],
        "scrape_p99_ms": healthy["p99"],
        "scrape_cpu_p99_ms": healthy["cpu_p99"],
        "scrape_p99_hung_ms": hung["p99"],
        "rebuild_p50_ms": healthy["rebuild_p50"],
        "rebuild_p99_ms": healthy["rebuild_p99"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--scrapes", type=int, default=500)
    parser.add_argument("--gpus", type=int, nargs="+", default=[1, 8, 64])
    args = parser.parse_args(argv)
    keys = list(measure(1, 2, 10))
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; times in ms")
    heads = [k.removesuffix("_ms") for k in keys]
    print(f"{'gpus':>5} " + " ".join(f"{h:>19}" for h in heads))
    for gpus in args.gpus:
        r = measure(gpus, args.rounds, args.scrapes)
        print(f"{gpus:>5} " + " ".join(f"{r[k]:>19.3f}" for k in keys))
    return 0


if __name__ == "__main__":
    sys.exit(main())
