"""`receipts agreement AGREEMENT_ID [--json] [--bundle DIR]`: what the log says about one Golem
agreement (provider side): requests by outcome, tokens, processor mix, request time, and the
usage counters Golem's AI runtime bills, computed from the receipts (see `receipts._usage`).

`--bundle DIR` also writes every receipt of the agreement with its inclusion proof against one
signed checkpoint, for the requestor to check offline with `receipts verify --bundle DIR`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from receipts._bundle import agreement_receipts, write_bundle
from receipts._cli_source import LogSource, resolve_key
from receipts._usage import Usage, usage_of


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], parent: argparse.ArgumentParser
) -> None:
    p = sub.add_parser(
        "agreement",
        parents=[parent],
        help="a Golem agreement's requests and usage counters; --bundle DIR for the requestor",
    )
    p.add_argument("agreement_id", metavar="AGREEMENT_ID")
    p.add_argument("--bundle", type=Path, metavar="DIR", help="write the agreement's bundle")
    p.add_argument("--key", action="append", help="verifier key (default: the provider's)")


def print_usage(usage: Usage, as_json: bool) -> None:
    if as_json:
        print(json.dumps(usage.to_json()))
    else:
        print("\n".join(usage.lines()))


def run(args: argparse.Namespace, source: LogSource | None) -> int:
    assert source is not None
    found = agreement_receipts(source, args.agreement_id, with_tree=args.bundle is not None)
    if not found.rows:
        print(f"FAIL: no receipt names agreement {args.agreement_id}", file=sys.stderr)
        return 1
    print_usage(usage_of(args.agreement_id, found.bodies), args.json)
    if args.bundle is not None:
        written, pending = write_bundle(source, resolve_key(args.key, source), found, args.bundle)
        print(f"wrote {written} receipts with proofs to {args.bundle}", file=sys.stderr)
        if pending:
            print(
                f"{pending} newer receipts are not covered by a checkpoint yet: run again later",
                file=sys.stderr,
            )
    return 0
