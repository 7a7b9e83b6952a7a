"""Real `ollama-sidecar` processes for the app tests: the emulator and `serve`, stopped on exit."""

from __future__ import annotations

import contextlib
import os
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[3]


def popen(
    args: Sequence[str],
    *,
    prefix: Sequence[str] = (),
    stderr: int | IO[bytes] = subprocess.DEVNULL,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """`python -m telemetry.app.cli ARGS` started from the repository root, stdout discarded;
    the caller stops it."""
    return subprocess.Popen(
        [*prefix, sys.executable, "-m", "telemetry.app.cli", *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        env={**os.environ, **(env or {})},
    )


@contextlib.contextmanager
def cli(
    args: Sequence[str],
    *,
    prefix: Sequence[str] = (),
    stderr: int | IO[bytes] = subprocess.DEVNULL,
    env: dict[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m telemetry.app.cli ARGS` (after `prefix`, e.g. `ip netns exec NS`), stopped
    after."""
    proc = popen(args, prefix=prefix, stderr=stderr, env=env)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def emulator(address: str, *extra: str) -> list[str]:
    return ["emulate", "--listen", address, "--ttft", "0", "--tokens-per-second", "0", *extra]


def serve(upstream: str, data_dir: Path, listen: str, admin: str, *extra: str) -> list[str]:
    return [
        "serve",
        "--upstream",
        upstream,
        "--listen",
        listen,
        "--admin-listen",
        admin,
        "--data-dir",
        str(data_dir),
        "--no-gpu",
        "--log-level",
        "warning",
        *extra,
    ]


def wait_url(
    url: str,
    proc: subprocess.Popen[bytes],
    context: ssl.SSLContext | None = None,
    timeout: float = 30.0,
) -> None:
    """Until `url` answers 2xx; AssertionError when `proc` exits first or after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"process exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=1, context=context):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"{url} did not answer within {timeout}s")
