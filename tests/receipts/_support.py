"""Shared helpers of the receipts service tests: records of every outcome, a signer, a writer."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client import CollectorRegistry

from receipts._keys import Signer
from receipts._log import LogMetrics, LogWriter, recover
from receipts._receipt import receipt_body, sign_receipt
from receipts._store import ReceiptStore
from telemetry import (
    Config,
    GpuRef,
    OllamaTimings,
    Outcome,
    Placement,
    Processor,
    RequestRecord,
)
from telemetry.core._config import ProxyConfig, ReceiptsConfig

OUTCOMES = list(Outcome)
BASE_NS = 1_764_000_000_000_000_000
ROOT = Path(__file__).resolve().parents[2]


def record(
    i: int, outcome: Outcome | None = None, model: str | None = "llama3.2:3b"
) -> RequestRecord:
    outcome = outcome or OUTCOMES[i % len(OUTCOMES)]
    ok = outcome is Outcome.OK
    start = BASE_NS + i * 1_000_000_000
    return RequestRecord(
        request_id=f"req-{i:06d}",
        trace_id=f"{i + 1:032x}",
        span_id=f"{i + 1:016x}",
        start_unix_ns=start,
        end_unix_ns=start + 250_000_000,
        method="POST",
        path="/api/chat",
        endpoint="/api/chat",
        operation="chat",
        model=model,
        tier="gpu-8gb",
        streaming=True,
        status={
            Outcome.OK: 200,
            Outcome.ERROR: 500,
            Outcome.TIMEOUT: 504,
            Outcome.CANCELLED: 499,
            Outcome.UPSTREAM_UNAVAILABLE: 502,
        }[outcome],
        outcome=outcome,
        duration_ns=250_000_000,
        error_type=None if ok else outcome.value,
        model_digest="a" * 64 if ok else None,
        done_reason="stop" if ok else None,
        input_tokens=26 if ok else None,
        output_tokens=100 + i if ok else None,
        ttft_ns=12_000_000 if ok else None,
        ollama=OllamaTimings(total_ns=240_000_000, eval_ns=200_000_000) if ok else OllamaTimings(),
        placement=Placement(
            Processor.GPU,
            2_000_000_000,
            2_000_000_000,
            (GpuRef("nvidia", "H100", "GPU-1", 80 << 30),),
        )
        if ok
        else Placement(Processor.UNKNOWN),
        request_sha256="b" * 64,
        response_sha256="c" * 64 if ok else None,
        response_bytes=1234 if ok else 0,
    )


def signer(name: str = "test.example/log") -> Signer:
    return Signer(Ed25519PrivateKey.generate(), name)


def sign_with(s: Signer):
    def sign(r: RequestRecord) -> bytes:
        return sign_receipt(receipt_body(r, origin=s.name, key_id=s.key_id.hex()), s).raw

    return sign


def writer(
    store: ReceiptStore, s: Signer, registry: CollectorRegistry | None = None, **kwargs: Any
) -> LogWriter:
    tree, latest = recover(store, s.verifier())
    kwargs.setdefault("flush_interval", 0.02)
    return LogWriter(
        store,
        s,
        sign_with(s),
        tree,
        latest,
        LogMetrics.create(registry or CollectorRegistry()),
        **kwargs,
    )


def config(data_dir: Path, **receipts: object) -> Config:
    return Config(
        proxy=ProxyConfig(data_dir=data_dir),
        receipts=ReceiptsConfig(**{"flush_interval_seconds": 0.02, **receipts}),
    )


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def witness_serve(key: Path, log: str, port: int, state: Path) -> list[str]:
    """The command line of `receipts witness serve` on loopback `port`."""
    return [
        sys.executable,
        "-m",
        "receipts",
        "witness",
        "serve",
        "--key",
        str(key),
        "--log",
        log,
        "--listen",
        f"127.0.0.1:{port}",
        "--state",
        str(state),
    ]


def receipts_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m receipts ARGS` from the repository root, its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "receipts", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
