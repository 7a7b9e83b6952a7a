"""Does Locust keep TTFT accurate? Its error against the emulator's clock, as for the load test.

    python -m venv /tmp/locust && /tmp/locust/bin/pip install locust   # not a project dependency
    python benchmarks/locust_ttft.py --locust /tmp/locust/bin/locust [--processes 2]

Starts the emulator (TTFT 0.1 s, 100 tokens/s, 8 tokens), runs Locust headless with this file
as its locustfile at 1, 8 and 32 users (`--processes N`: Locust's own master with N local
workers, its distributed mode), and prints the same table as `loadtest_generator.py`: per
request, the TTFT a Locust user measured (its clock, from sending the request to the first
content line of the stream) minus the emulator's `load_duration + prompt_eval_duration`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

try:  # inside Locust, this file is the locustfile
    from locust import HttpUser, constant, events, task
except ImportError:
    HttpUser = None

if HttpUser is not None:
    _ERRORS: list[float] = []

    class StreamingUser(HttpUser):  # type: ignore[misc, valid-type]
        wait_time = constant(0)

        @task
        def generate(self) -> None:
            body = {"model": "llama3.1:8b", "prompt": "Why?", "options": {"num_predict": 8}}
            start = time.perf_counter()
            ttft = None
            with self.client.post(
                "/api/generate", json=body, stream=True, catch_response=True
            ) as r:
                for line in r.iter_lines():
                    obj = json.loads(line)
                    if ttft is None and obj.get("response"):
                        ttft = time.perf_counter() - start
                    if obj.get("done"):
                        server = (obj.get("load_duration", 0) + obj["prompt_eval_duration"]) / 1e9
                        if ttft is not None:
                            _ERRORS.append(ttft - server)
            events.request.fire(
                request_type="TTFT",
                name="generate",
                response_time=(ttft or 0) * 1000,
                response_length=0,
                exception=None,
                context={},
            )

    @events.quitting.add_listener
    def _dump(environment: object, **_: object) -> None:
        out = os.environ.get("LOCUST_TTFT_OUT")
        if out and _ERRORS:
            with open(f"{out}.{os.getpid()}", "w") as handle:
                json.dump(_ERRORS, handle)


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _harness import free_port, percentile, set_emulator, sidecar_cli, start, wait_http

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--locust", required=True, help="the locust executable")
    parser.add_argument("--processes", type=int, default=0, help="master + N local workers")
    parser.add_argument("--seconds", type=int, default=8, help="per level")
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    emulator = start(sidecar_cli("emulate", "--listen", f"127.0.0.1:{port}"))
    try:
        wait_http(url + "/api/version")
        set_emulator(url, ttft_seconds=0.1, tokens_per_second=100.0, output_tokens=64)
        mode = f"master + {args.processes} workers" if args.processes else "one process"
        print(f"Locust {mode}: reported TTFT - emulator's own, per request")
        print(f"{'users':>11} {'requests':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
        for users in (1, 8, 32):
            with tempfile.TemporaryDirectory() as tmp:
                out = str(Path(tmp) / "errors")
                command = [
                    args.locust, "-f", __file__, "--headless", "--host", url,
                    "-u", str(users), "-r", str(users), "-t", f"{args.seconds}s",
                    "--only-summary", "--loglevel", "ERROR",
                ]  # fmt: skip
                if args.processes:
                    command += ["--processes", str(args.processes)]
                subprocess.run(
                    command,
                    env={**os.environ, "LOCUST_TTFT_OUT": out},
                    capture_output=True,
                    timeout=args.seconds + 60,
                    check=False,
                )
                errors = sorted(
                    e * 1000 for f in Path(tmp).glob("errors.*") for e in json.loads(f.read_text())
                )
            p50, p95, p99 = (percentile(errors, q) for q in (0.5, 0.95, 0.99))
            print(f"{users:>11} {len(errors):>9} {p50:>8.2f} {p95:>8.2f} {p99:>8.2f}")
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)


if __name__ == "__main__":
    main()
