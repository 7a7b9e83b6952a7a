"""Retention: spans are pruned after [retention] spans_days by the running sidecar, receipts and
checkpoints never are, and every receipt still verifies with the `receipts` CLI afterwards."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from receipts import ReceiptService
from receipts._store import Batch, CheckpointRow, MemoryStore, ReceiptStore, SpanRow
from receipts._store_duckdb import DuckDBStore
from telemetry.app._sidecar import Components, Sidecar
from telemetry.emulator import EmulatorServer
from tests.telemetry.app._procs import ROOT
from tests.telemetry.conftest import sidecar_config

pytestmark = pytest.mark.slow


def span(i: int, end_ns: int) -> SpanRow:
    return SpanRow(f"{i:032x}", f"{i:016x}", None, "chat", "SERVER", end_ns - 5, end_ns, "{}", "OK")


@pytest.mark.parametrize("kind", ["memory", "duckdb"])
def test_prune_spans_deletes_only_old_spans(kind: str, tmp_path: Path) -> None:
    store: ReceiptStore = MemoryStore() if kind == "memory" else DuckDBStore(tmp_path / "r.duckdb")
    checkpoint = CheckpointRow(0, b"\0" * 32, b"note", 1)
    store.write(Batch(spans=(span(1, 100), span(2, 200), span(3, 300)), checkpoints=(checkpoint,)))
    assert store.prune_spans(201) == 2
    assert store.spans(f"{1:032x}") == [] and store.spans(f"{2:032x}") == []
    assert len(store.spans(f"{3:032x}")) == 1
    assert store.prune_spans(201) == 0
    assert store.checkpoints() == [checkpoint]
    store.close()


async def test_the_sidecar_prunes_spans_and_every_receipt_still_verifies(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    toml = (
        "[retention]\nspans_days = 0.00003\nprune_interval_seconds = 0.1\n"  # 2.6 s
        "[receipts]\nflush_interval_seconds = 0.05\n[gpu]\nenabled = false\n"
    )
    config = sidecar_config(emulator.url, toml, tmp_path)
    service = ReceiptService(config)
    sidecar = Sidecar(config, env={}, components=Components(receipts=service))
    await sidecar.start()
    try:
        url = f"http://127.0.0.1:{sidecar.listen_port}/api/generate"
        async with aiohttp.ClientSession() as session:
            for _ in range(3):
                body = {"model": "llama3.1:8b", "prompt": "hi", "stream": False}
                async with session.post(url, json=body) as response:
                    assert response.status == 200
        assert sidecar.tracing is not None and sidecar.tracing.flush()
        assert service.flush(checkpoint=True)
        traces = [row.trace_id for row in service.store.entries(0, 10)]
        assert len(traces) == 3
        assert all(service.store.spans(t) for t in traces)  # stored first...
        async with asyncio.timeout(10):
            while any(service.store.spans(t) for t in traces):  # ...then pruned
                await asyncio.sleep(0.1)
        assert service.store.size() == 3
    finally:
        await sidecar.stop()
    verified = subprocess.run(
        [
            sys.executable,
            "-m",
            "receipts",
            "--data-dir",
            str(tmp_path),
            "--json",
            "verify",
            "--all",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert verified.returncode == 0, verified.stderr
    report = [json.loads(line) for line in verified.stdout.splitlines() if line.strip()]
    assert len(report) == 3 and all(line["ok"] for line in report)
