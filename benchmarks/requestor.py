"""Requestor benchmark: what the recording transport costs, and how soon a receipt can be fetched.

    .venv/bin/python benchmarks/requestor.py [--requests 200] [--tokens 200] [--samples 30]
        [--checkpoint-interval 1.0]

Starts the emulator and a sidecar (receipts on) as subprocesses. Two tables:
1. Streamed `ollama.Client.generate` (`--tokens` chunks) with a plain `httpx.HTTPTransport` and
   with `receipts.RecordingTransport`, interleaved in the same run: wall time and client CPU
   per request (p50/p99) and the ratio to the plain client.
2. From the end of a request to a fetched receipt covered by a checkpoint (p50/p99): one fetch
   with `wait=10` (the proxy holds the answer until the log's next checkpoint), and polling
   without wait (a fetch every 50 ms until it answers 200). The log checkpoints every
   `--checkpoint-interval` seconds, so both are bounded by it; requests start at a random
   phase of that interval.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import ollama

from benchmarks._harness import free_port, percentile, set_emulator, sidecar_cli, start, wait_http
from receipts import NotCoveredError, RecordingTransport

POLL_SECONDS = 0.05


def one_stream(client: ollama.Client, tokens: int) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    parts = list(client.generate("llama3.1:8b", "hi", stream=True, options={"num_predict": tokens}))
    assert parts[-1].done
    return time.perf_counter() - wall, time.process_time() - cpu


def transport_cost(
    url: str, requests: int, tokens: int
) -> dict[str, tuple[list[float], list[float]]]:
    clients = {
        "plain httpx transport": ollama.Client(host=url, transport=httpx.HTTPTransport()),
        "RecordingTransport": ollama.Client(host=url, transport=RecordingTransport()),
    }
    results: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in clients}
    for client in clients.values():  # warm up connections and code paths
        for _ in range(5):
            one_stream(client, tokens)
    for _ in range(requests):
        for name, client in clients.items():
            wall, cpu = one_stream(client, tokens)
            results[name][0].append(wall)
            results[name][1].append(cpu)
    return results


def time_to_receipt(url: str, samples: int, interval: float, *, wait: bool) -> list[float]:
    transport = RecordingTransport()
    client = ollama.Client(host=url, transport=transport)
    latencies = []
    pacing = random.Random(7)
    for _ in range(samples):
        # A random phase against the log's checkpoint clock: otherwise each request would
        # start right after the checkpoint the previous one waited for.
        time.sleep(pacing.uniform(0, interval))
        client.generate("llama3.1:8b", "hi", options={"num_predict": 4})
        ended = time.perf_counter()
        exchange = transport.last
        assert exchange is not None
        while True:
            try:
                transport.fetch(exchange.request_id, wait=10.0 if wait else 0.0)
                break
            except NotCoveredError:
                time.sleep(POLL_SECONDS)
        latencies.append(time.perf_counter() - ended)
    return latencies


def ms(seconds: float) -> str:
    return f"{seconds * 1000:9.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--checkpoint-interval", type=float, default=1.0)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-requestor-"))
    emu_port, port, admin = free_port(), free_port(), free_port()
    upstream = f"http://127.0.0.1:{emu_port}"
    config = tmp / "sidecar.toml"
    config.write_text(f"[receipts]\ncheckpoint_interval_seconds = {args.checkpoint_interval}\n")
    processes = [start(sidecar_cli("emulate", "--listen", f"127.0.0.1:{emu_port}"))]
    try:
        wait_http(upstream + "/api/version")
        set_emulator(upstream, ttft_seconds=0.0, tokens_per_second=0.0)
        serve = sidecar_cli(
            "serve", "--config", str(config), "--listen", f"127.0.0.1:{port}",
            "--admin-listen", f"127.0.0.1:{admin}", "--upstream", upstream,
            "--data-dir", str(tmp / "data"), "--no-gpu", "--log-level", "warning",
        )  # fmt: skip
        processes.append(start(serve))
        wait_http(f"http://127.0.0.1:{admin}/healthz")
        url = f"http://127.0.0.1:{port}"

        costs = transport_cost(url, args.requests, args.tokens)
        base_wall, base_cpu = costs["plain httpx transport"]
        print(
            f"\nstreamed generate, {args.tokens} chunks, {args.requests} requests each, interleaved"
        )
        heads = (
            "wall p50 ms",
            "wall p99 ms",
            "cpu p50 ms",
            "cpu p99 ms",
            "wall ratio",
            "cpu ratio",
        )
        print(f"{'client transport':24} " + " ".join(f"{h:>11}" for h in heads))
        for name, (wall, cpu) in costs.items():
            print(
                f"{name:24} {ms(percentile(wall, 0.5)):>11} {ms(percentile(wall, 0.99)):>11} "
                f"{ms(percentile(cpu, 0.5)):>11} {ms(percentile(cpu, 0.99)):>11} "
                f"{percentile(wall, 0.5) / percentile(base_wall, 0.5):11.3f} "
                f"{percentile(cpu, 0.5) / percentile(base_cpu, 0.5):11.3f}"
            )

        print(f"\nend of request -> fetched covered receipt ({args.samples} samples each, "
              f"checkpoint every {args.checkpoint_interval:g} s)")  # fmt: skip
        print(f"{'fetch':24} {'p50 ms':>11} {'p99 ms':>11}")
        for name, wait in (("one fetch, wait=10", True), ("polling every 50 ms", False)):
            latencies = time_to_receipt(url, args.samples, args.checkpoint_interval, wait=wait)
            p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
            print(f"{name:24} {ms(p50):>11} {ms(p99):>11}")
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
