"""Receipts benchmark: sustained receipts/s (sign, log, store), audit time, bytes per receipt.

    .venv/bin/python benchmarks/receipts.py [--records 20000] [--audit 100000] [--workers N]
        [--data-dir DIR] [--cli]

Prints a table. The audit time for 1M receipts is extrapolated linearly from `--audit` receipts
unless `--audit 1000000` is given (the row says which). `--data-dir` keeps the log in DIR and
reuses what is already there (a 1M log takes minutes to build: build it once, then audit it
again); `--cli` also times `python -m receipts --data-dir DIR audit` end to end as a subprocess.
Request IDs are `req-<i>` for i = 0, 1, ...
`proxy_p99_column()` is the hook the proxy benchmark calls to add its "p99 with receipts on vs
off" column; it is not measured here.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from receipts._audit import audit
from receipts._service import ReceiptService
from receipts._store import AuditEntry
from receipts._store_duckdb import DuckDBStore
from tests.receipts._support import config, record

_GROW_STEP = 100_000  # records built per service run when growing a log: bounds memory


def sustained(data_dir: Path, n: int, first: int = 0) -> tuple[float, int]:
    """Receipts per second from the first submit until all n are stored and checkpointed."""
    records = [record(i) for i in range(first, first + n)]
    service = ReceiptService(config(data_dir, flush_interval_seconds=0.2))
    service.start()
    started = time.perf_counter()
    for r in records:
        service.submit(r)
    service.flush(600, checkpoint=True)
    elapsed = time.perf_counter() - started
    service.stop()
    size = os.path.getsize(data_dir / "receipts.duckdb")
    return n / elapsed, size


def grow(data_dir: Path, size: int) -> None:
    """Append receipts to the log in `data_dir` until it holds `size`."""
    while (have := stored(data_dir)) < size:
        sustained(data_dir, min(_GROW_STEP, size - have), have)


def stored(data_dir: Path) -> int:
    if not (data_dir / "receipts.duckdb").exists():
        return 0
    store = DuckDBStore(data_dir / "receipts.duckdb", read_only=True)
    try:
        return store.size()
    finally:
        store.close()


def cli_audit_time(data_dir: Path, workers: int | None) -> float:
    """Wall time of `python -m receipts --data-dir DIR audit` (interpreter start included)."""
    extra = ["--workers", str(workers)] if workers else []
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "receipts", "--data-dir", str(data_dir), "audit", *extra],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"receipts audit failed: {result.stderr.strip()}")
    return elapsed


def _pages(store: DuckDBStore) -> Iterator[list[AuditEntry]]:
    start = 0
    while page := store.audit_entries(start, 50_000):
        yield page
        start += len(page)


def audit_time(data_dir: Path, workers: int | None) -> tuple[float, int]:
    service = ReceiptService(config(data_dir))
    service.start()
    key = service.signer.verifier()
    service.stop()
    store = DuckDBStore(data_dir / "receipts.duckdb", read_only=True)
    started = time.perf_counter()
    report = audit(_pages(store), store.checkpoints(), key, workers=workers)
    elapsed = time.perf_counter() - started
    store.close()
    if not report.ok:
        raise SystemExit(f"audit failed: {report.problems[0]}")
    return elapsed, report.receipts


def proxy_p99_column() -> None:
    """Placeholder for the lead's proxy benchmark: it owns the receipts on/off p99 column."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument(
        "--audit",
        type=int,
        default=0,
        help="log size for the audit run (default: the --records log)",
    )
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--data-dir", type=Path, help="keep (and reuse) the log in this directory")
    parser.add_argument("--cli", action="store_true", help="also time `receipts audit` itself")
    args = parser.parse_args()
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data_dir or Path(tmp)
        data.mkdir(parents=True, exist_ok=True)
        if stored(data) == 0:
            rate, size = sustained(data, args.records)
            rows += [
                ("sustained receipts/s (sign+log+store)", f"{rate:,.0f}", ">= 5,000"),
                ("bytes per receipt on disk", f"{size / args.records:,.0f}", "< 1,024"),
            ]
        grow(data, max(args.audit, args.records))
        workers = args.workers or None
        seconds, audited = audit_time(data, workers)
        rows += [
            (f"audit of {audited:,} receipts (in process)", f"{seconds:.1f} s", ""),
            (
                "audit of 1M receipts" + ("" if audited >= 1_000_000 else " (extrapolated)"),
                f"{seconds * 1_000_000 / audited:.0f} s",
                "< 120 s",
            ),
        ]
        if args.cli:
            cli = cli_audit_time(data, workers)
            rows.append((f"`receipts audit` of {audited:,} (CLI wall)", f"{cli:.1f} s", ""))
    rows.append(("CPUs", str(os.cpu_count()), ""))
    width = max(len(r[0]) for r in rows)
    print(f"{'metric':<{width}}  {'value':>12}  goal")
    for name, value, goal in rows:
        print(f"{name:<{width}}  {value:>12}  {goal}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
