"""`receipts export REQUEST_ID -o DIR`: the signed receipt and its offline tlog-proof.

When several receipts carry the request ID (a client sent one `X-Request-ID` twice), every one
is written, named by its log index: `DIR/REQUEST_ID.INDEX.json` and `.tlog-proof`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from receipts._cli_source import LogSource
from receipts._errors import FormatError


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], parent: argparse.ArgumentParser
) -> None:
    p = sub.add_parser(
        "export",
        parents=[parent],
        help="write DIR/REQUEST_ID.json and .tlog-proof (REQUEST_ID.INDEX.* for a shared ID)",
    )
    p.add_argument("request_id", metavar="REQUEST_ID")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="DIR")


def run(args: argparse.Namespace, source: LogSource | None) -> int:
    assert source is not None
    request_id: str = args.request_id
    if not request_id or "/" in request_id or request_id.startswith("."):
        raise FormatError(f"not a request ID: {request_id!r}")
    rows = source.receipts_for(request_id)
    if not rows:
        print(f"FAIL: {request_id}: unknown request ID", file=sys.stderr)
        return 1
    proofs = [source.proof(row) for row in rows]
    for row, proof in zip(rows, proofs, strict=True):
        stem = request_id if len(rows) == 1 else f"{request_id}.{row.seq}"
        receipt_path = args.output / f"{stem}.json"
        proof_path = args.output / f"{stem}.tlog-proof"
        try:
            args.output.mkdir(parents=True, exist_ok=True)
            receipt_path.write_bytes(row.raw)
            proof_path.write_bytes(proof.to_bytes())
        except OSError as exc:
            raise FormatError(f"cannot write to {args.output}: {exc.strerror}") from None
        print(f"wrote {receipt_path} and {proof_path}", file=sys.stderr)
    return 0
