"""`receipts keygen` and `receipts pubkey`: the provider key and its C2SP verifier key string."""

from __future__ import annotations

import argparse
import sys

from receipts._cli_source import ApiSource, LogSource, open_source
from receipts._errors import StoreError
from receipts._keys import Signer, generate_key_file
from receipts._provider import KEY_FILE, default_origin, open_signer


def add_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], parent: argparse.ArgumentParser
) -> None:
    p = sub.add_parser(
        "keygen",
        parents=[parent],
        help="create the provider key (mode 0600) and print its verifier key",
    )
    p.add_argument(
        "--origin",
        default="",
        help="log origin (key name); default: derived from the key, as the sidecar does",
    )
    sub.add_parser("pubkey", parents=[parent], help="print the provider's verifier key string")


def run_keygen(args: argparse.Namespace, source: LogSource | None) -> int:
    path = args.data_dir / KEY_FILE
    private_key = generate_key_file(path)
    public_key = private_key.public_key().public_bytes_raw()
    signer = Signer(private_key, args.origin or default_origin(public_key))
    print(f"created {path}", file=sys.stderr)
    print(str(signer.verifier()))
    return 0


def run_pubkey(args: argparse.Namespace, source: LogSource | None) -> int:
    try:
        source = open_source(args.data_dir, args.admin)
    except StoreError:
        if args.admin:
            raise
        # No log yet (a fresh `keygen`): the sidecar will use the default origin.
        print(str(open_signer(args.data_dir, "", create=False).verifier()))
        return 0
    try:
        if isinstance(source, ApiSource):  # what that sidecar announces, for the user to pin
            print(str(source.announced_key()))
        else:
            print(str(source.verifier_key()))
    finally:
        source.close()
    return 0
