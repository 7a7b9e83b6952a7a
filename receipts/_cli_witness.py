"""`receipts witness keygen` and `receipts witness serve`: run a C2SP tlog-witness for logs.

receipts witness keygen --key FILE --name NAME      a new witness key (mode 0600); prints
                                                    its cosignature/v1 verifier key
receipts witness serve --key FILE --log VKEY [--log VKEY ...] --listen ADDR --state DIR
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from receipts._cli_source import LogSource
from receipts._errors import FormatError, ReceiptsError
from receipts._keys import VerifierKey, generate_cosigner_file, load_cosigner_file
from receipts._witness import DirectoryState, Witness


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], parent: argparse.ArgumentParser
) -> None:
    p = sub.add_parser("witness", parents=[parent], help="run a tlog-witness for receipt logs")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    keygen = actions.add_parser("keygen", parents=[parent], help="create a witness key")
    keygen.add_argument("--key", type=Path, required=True, metavar="FILE")
    keygen.add_argument(
        "--name", required=True, help="the witness name, e.g. witness.example.com/w1"
    )
    serve = actions.add_parser("serve", parents=[parent], help="serve add-checkpoint")
    serve.add_argument("--key", type=Path, required=True, metavar="FILE", help="witness key")
    serve.add_argument(
        "--log",
        action="append",
        required=True,
        metavar="VKEY",
        help="verifier key of a log to witness (its name is the origin); repeatable",
    )
    serve.add_argument("--listen", required=True, metavar="HOST:PORT")
    serve.add_argument("--state", type=Path, required=True, metavar="DIR")


def run(args: argparse.Namespace, source: LogSource | None) -> int:
    if args.action == "keygen":
        cosigner = generate_cosigner_file(args.key, args.name)
        print(f"created {args.key}", file=sys.stderr)
        print(str(cosigner.verifier()))
        return 0
    from receipts._witness_server import serve  # aiohttp only for the server
    from telemetry.core._config import parse_host_port
    from telemetry.core._errors import ConfigError
    from telemetry.core._runtime import run as run_loop

    try:
        host, port = parse_host_port(args.listen, "--listen")
    except ConfigError as exc:
        raise FormatError(str(exc)) from None
    logs = [VerifierKey.parse(k) for k in args.log]
    cosigner = load_cosigner_file(args.key)
    witness = Witness(cosigner, logs, DirectoryState(args.state))

    def ready(bound: int) -> None:
        print(
            f"witness {cosigner.verifier()} listening on http://{host}:{bound}/",
            file=sys.stderr,
            flush=True,
        )

    try:
        run_loop(serve(witness, host, port, ready))
    except OSError as exc:  # the address is taken or not ours
        raise ReceiptsError(f"cannot listen on {args.listen}: {exc.strerror or exc}") from None
    return 0
