"""`receipts list`: recent receipts, filtered by time, model and outcome."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime

from receipts._cli_source import LogSource
from receipts._errors import FormatError
from receipts._store import ReceiptQuery


def _time(text: str) -> int:
    """Unix seconds or an ISO 8601 time (UTC unless it says otherwise) to Unix nanoseconds."""
    try:
        return int(float(text) * 1e9)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a time: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.now().astimezone().tzinfo)
    return int(moment.timestamp() * 1e9)


# telemetry.Outcome's values, spelled out so `receipts --help` need not import the proxy
# (tests/receipts/test_cli.py pins them to the enum).
OUTCOMES = ("ok", "error", "timeout", "cancelled", "upstream_unavailable")


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], parent: argparse.ArgumentParser
) -> None:
    p = sub.add_parser("list", parents=[parent], help="list receipts (newest last)")
    p.add_argument("--since", type=_time, help="start time >= (Unix seconds or ISO 8601)")
    p.add_argument("--until", type=_time, help="start time < (Unix seconds or ISO 8601)")
    p.add_argument("--model")
    p.add_argument("--outcome", choices=OUTCOMES)
    p.add_argument("--limit", type=int, default=100)


def run(args: argparse.Namespace, source: LogSource | None) -> int:
    assert source is not None
    if args.limit < 1:
        raise FormatError("--limit: expected a positive number")
    rows = source.receipts(
        ReceiptQuery(args.since, args.until, args.model, args.outcome, args.limit)
    )
    for r in rows:
        if args.json:
            print(
                json.dumps(
                    {
                        "index": r.seq,
                        "request_id": r.request_id,
                        "start_unix_ns": str(r.start_unix_ns),
                        "model": r.model,
                        "outcome": r.outcome,
                        "status": r.status,
                        "processor": r.processor,
                        "input_tokens": r.input_tokens,
                        "output_tokens": r.output_tokens,
                        "duration_ns": str(r.duration_ns),
                    }
                )
            )
        else:
            started = datetime.fromtimestamp(r.start_unix_ns / 1e9).isoformat(timespec="seconds")
            print(
                f"{r.seq:>8}  {started}  {r.request_id}  {r.model or '-'}  {r.outcome}  "
                f"{r.status}  {r.processor}  {r.input_tokens or 0}/{r.output_tokens or 0} tok  "
                f"{r.duration_ns / 1e6:.0f} ms"
            )
    print(f"{len(rows)} receipts", file=sys.stderr)
    return 0
