"""`receipts fetch REQUEST_ID --salt HEX [--from URL] [-o DIR] [--wait SECONDS]`: the requestor's
copy of its receipt, from the sidecar's proxy port; no data directory needed.

Writes `DIR/REQUEST_ID.json` and `DIR/REQUEST_ID.tlog-proof` (then `receipts verify --receipt
--proof --key --salt --request --response` checks them offline). An unknown request ID and a
wrong salt both exit 1 with the same message; `--wait` waits only for the checkpoint that
covers a receipt that exists.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from receipts._cli_source import LogSource
from receipts._commitments import parse_salt
from receipts._errors import FormatError
from receipts._fetch_http import DEFAULT_SIDECAR, fetch_receipt


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], parent: argparse.ArgumentParser
) -> None:
    p = sub.add_parser(
        "fetch",
        parents=[parent],
        help="fetch your receipt from the sidecar: DIR/REQUEST_ID.json and .tlog-proof",
    )
    p.add_argument("request_id", metavar="REQUEST_ID")
    p.add_argument("--salt", required=True, metavar="HEX", help="the X-Receipt-Salt you got")
    p.add_argument(
        "--from",
        dest="base_url",
        default=DEFAULT_SIDECAR,
        metavar="URL",
        help=f"the sidecar's proxy address (default {DEFAULT_SIDECAR})",
    )
    p.add_argument("-o", "--output", type=Path, default=Path("."), metavar="DIR")
    p.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait up to this long (at most 10) for a checkpoint to cover the receipt",
    )
    p.add_argument(
        "--auth-token-file",
        type=Path,
        metavar="FILE",
        help="the bearer token, when the sidecar requires one",
    )


def _authorization(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        token = path.read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise FormatError(f"cannot read the token file {path}: {exc}") from None
    if not token or not token.isprintable():  # and never echo it: an error would show it
        raise FormatError(f"the token file {path} must hold the token on one line")
    return f"Bearer {token}"


def run(args: argparse.Namespace, source: LogSource | None) -> int:
    salt = parse_salt(args.salt)
    fetched = fetch_receipt(
        args.request_id,
        salt,
        base_url=args.base_url,
        wait=args.wait,
        authorization=_authorization(args.auth_token_file),
    )
    receipt_path, proof_path = fetched.write(args.output)
    print(f"wrote {receipt_path} and {proof_path}", file=sys.stderr)
    return 0
