"""`receipts audit`: the whole log checked; the first problem found is named.

The log is also held against the writer's own durable count (`receipts.watermark`): a log with
fewer receipts than the writer stored lost committed receipts (a truncated database or WAL) and
fails, even when what is left verifies. Receipts the store refused or the writer dropped never
entered the log; the OK line names how many.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from receipts._audit import audit
from receipts._cli_source import LogSource, resolve_key
from receipts._errors import FormatError
from receipts._store import AuditEntry

_PAGE = 50_000


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], parent: argparse.ArgumentParser
) -> None:
    p = sub.add_parser("audit", parents=[parent], help="audit every receipt and checkpoint")
    p.add_argument("--key", action="append", help="verifier key (default: the provider's)")
    p.add_argument(
        "--checkpoint",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="a checkpoint published earlier; the log must extend it (repeatable)",
    )
    p.add_argument(
        "--workers", type=int, default=0, help="signature-checking processes (default: one per CPU)"
    )


def _pages(source: LogSource) -> Iterator[Sequence[AuditEntry]]:
    start = 0
    while page := source.audit_entries(start, _PAGE):
        yield page
        start += len(page)


def run(args: argparse.Namespace, source: LogSource | None) -> int:
    assert source is not None
    key = resolve_key(args.key, source)
    held = []
    for path in args.checkpoint:
        try:
            held.append(path.read_bytes())
        except OSError as exc:
            raise FormatError(f"cannot read {path}: {exc.strerror}") from None
    started = time.perf_counter()
    report = audit(
        _pages(source), source.checkpoints(), key, held=held, workers=args.workers or None
    )
    elapsed = time.perf_counter() - started
    mark = source.watermark()
    if report.ok and mark is not None and mark.stored > report.receipts:
        report.problems.append(
            f"log truncated: the writer stored {mark.stored} receipts, only {report.receipts} "
            "are in the log"
        )
    if args.json:
        print(
            json.dumps(
                {
                    "ok": report.ok,
                    "receipts": report.receipts,
                    "checkpoints": report.checkpoints,
                    "problems": report.problems,
                    "watermark": mark.to_json() if mark is not None else None,
                    "seconds": round(elapsed, 3),
                }
            )
        )
    if report.ok:
        writer = (
            f"; the writer stored {mark.stored}, refused {mark.refused}, dropped {mark.dropped}"
            if mark is not None
            else "; no writer watermark"
        )
        print(
            f"OK: {report.receipts} receipts, {report.checkpoints} checkpoints, "
            f"{len(held)} held checkpoints{writer} ({elapsed:.1f} s)",
            file=sys.stderr,
        )
        return 0
    print(f"FAIL: {report.problems[0]}", file=sys.stderr)
    return 1
