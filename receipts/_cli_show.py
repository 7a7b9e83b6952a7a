"""`receipts show REQUEST_ID`: the receipt, its spans and timings, its proof status.

Every receipt with the request ID is shown (a client may send one `X-Request-ID` twice), in log
order; `--json` prints one object per receipt.
"""

from __future__ import annotations

import argparse
import json
import sys

from receipts._cli_source import LogSource, resolve_key
from receipts._cli_verify import verify_entry
from receipts._errors import ReceiptsError
from receipts._receipt import SignedReceipt
from receipts._store import ReceiptRow


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], parent: argparse.ArgumentParser
) -> None:
    p = sub.add_parser("show", parents=[parent], help="show one receipt, its spans and proof")
    p.add_argument("request_id", metavar="REQUEST_ID")
    p.add_argument("--key", action="append", help="verifier key (default: the provider's)")


def _ms(ns: int) -> str:
    return f"{ns / 1e6:.1f} ms"


def run(args: argparse.Namespace, source: LogSource | None) -> int:
    assert source is not None
    rows = source.receipts_for(args.request_id)
    if not rows:
        print(f"FAIL: {args.request_id}: unknown request ID", file=sys.stderr)
        return 1
    if len(rows) > 1 and not args.json:
        print(f"{len(rows)} receipts carry request ID {args.request_id}")
    verified = [_show(row, args, source) for row in rows]
    return 0 if all(verified) else 1


def _show(row: ReceiptRow, args: argparse.Namespace, source: LogSource) -> bool:
    receipt = SignedReceipt.parse(row.raw)
    spans = source.spans(row)
    try:
        status, ok = (
            "OK: "
            + verify_entry(
                row.raw, source.proof(row), resolve_key(args.key, source), row.request_id
            ),
            True,
        )
    except ReceiptsError as exc:
        status, ok = f"FAIL: {exc}", False
    if args.json:
        print(
            json.dumps(
                {
                    "receipt": dict(receipt.body),
                    "index": row.seq,
                    "verified": ok,
                    "status": status,
                    "spans": [
                        {
                            "name": s.name,
                            "span_id": s.span_id,
                            "parent_span_id": s.parent_span_id,
                            "start_unix_ns": str(s.start_unix_ns),
                            "end_unix_ns": str(s.end_unix_ns),
                            "status": s.status,
                            "attributes": json.loads(s.attributes),
                        }
                        for s in spans
                    ],
                },
                indent=2,
            )
        )
    else:
        print(f"receipt {row.request_id} (log index {row.seq})")
        for name, value in sorted(receipt.body.items()):
            print(f"  {name}: {json.dumps(value) if isinstance(value, dict) else value}")
        print(f"spans of trace {row.trace_id}: {len(spans)}")
        for s in spans:
            print(f"  {s.name}  {_ms(s.end_unix_ns - s.start_unix_ns)}  {s.status}")
        print(f"proof: {status}")
    return ok
