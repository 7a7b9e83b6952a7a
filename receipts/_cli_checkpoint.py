"""`receipts checkpoint [verify FILE --key VKEY... [--witness VKEY...] [--quorum N]]`: print ours,
or verify any C2SP checkpoint (and its witness cosignatures)."""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path

from receipts import _cli_policy
from receipts._cli_source import LogSource
from receipts._errors import FormatError, VerificationError
from receipts._keys import VerifierKey
from receipts._note import open_checkpoint


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], parent: argparse.ArgumentParser
) -> None:
    p = sub.add_parser(
        "checkpoint",
        parents=[parent],
        help="print the latest signed checkpoint, or verify a checkpoint file",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    v = actions.add_parser(
        "verify", parents=[parent], help="verify a C2SP checkpoint file against verifier keys"
    )
    v.add_argument("file", type=Path, metavar="FILE")
    v.add_argument(
        "--key",
        action="append",
        required=True,
        metavar="VKEY",
        help="a verifier key (log or witness); repeat for several",
    )
    v.add_argument("--origin", help="require this origin")
    _cli_policy.add_arguments(v)


def needs_source(args: argparse.Namespace) -> bool:
    return bool(args.action != "verify")


def run(args: argparse.Namespace, source: LogSource | None) -> int:
    if args.action == "verify":
        return _verify(args)
    assert source is not None
    note = source.latest_checkpoint()
    if note is None:
        print("FAIL: the log has no checkpoint yet", file=sys.stderr)
        return 1
    sys.stdout.write(note.decode())
    return 0


def _verify(args: argparse.Namespace) -> int:
    keys = [VerifierKey.parse(k) for k in args.key]
    policy = _cli_policy.policy(args)
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        raise FormatError(f"cannot read {args.file}: {exc.strerror}") from None
    try:
        checkpoint, signed_by = open_checkpoint(data, keys, origin=args.origin)
        signed_by += [k for k in policy.check(data) if k not in signed_by]
    except VerificationError as exc:
        print(f"FAIL: {args.file}: {exc}", file=sys.stderr)
        return 1
    root = base64.b64encode(checkpoint.root).decode()
    names = [f"{k.name}+{k.key_id.hex()} ({k.kind})" for k in signed_by]
    if args.json:
        print(
            json.dumps(
                {
                    "origin": checkpoint.origin,
                    "size": checkpoint.size,
                    "root": root,
                    "signed_by": names,
                }
            )
        )
    print(f"OK: {args.file}", file=sys.stderr)
    print(f"origin: {checkpoint.origin}\nsize: {checkpoint.size}\nroot: {root}", file=sys.stderr)
    for name in names:
        print(f"signed by: {name}", file=sys.stderr)
    return 0
