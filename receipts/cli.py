"""The `receipts` command line: verify, export, show and audit signed receipts; run a witness
(`receipts witness`) or a monitor (`receipts monitor`) of a published log.

Exit codes: 0 everything verified, 1 a verification failed (or an unknown request ID),
2 usage or input error (bad arguments, malformed file or key, missing or unreadable database,
sidecar unreachable). `fetch` exits 1 for an unknown request ID or a wrong salt (the same
answer) and for a receipt no checkpoint covers yet. Human lines go to stderr, `--json` output
to stdout; tracebacks only with -v.

The log is read from `DATA_DIR/receipts.duckdb` while the sidecar is stopped, and through the
admin API while it runs (it holds the database); `--admin URL` always uses the API.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from receipts import (
    _cli_agreement,
    _cli_audit,
    _cli_checkpoint,
    _cli_export,
    _cli_fetch,
    _cli_keys,
    _cli_list,
    _cli_monitor,
    _cli_show,
    _cli_verify,
    _cli_witness,
)
from receipts._cli_source import DEFAULT_ADMIN, LogSource, open_source
from receipts._errors import ReceiptsError, VerificationError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

Command = Callable[[argparse.Namespace, LogSource | None], int]


def _parser() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--data-dir",
        type=Path,
        default=argparse.SUPPRESS,
        help="the sidecar's data directory (default: $OLLAMA_SIDECAR_DATA_DIR "
        "or ~/.local/share/ollama-sidecar)",
    )
    parent.add_argument(
        "--admin",
        default=argparse.SUPPRESS,
        metavar="URL",
        help=f"the sidecar's admin API (used when the database is in use; default {DEFAULT_ADMIN})",
    )
    parent.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="machine-readable output on stdout",
    )
    parent.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
    )
    parser = argparse.ArgumentParser(
        prog="receipts",
        parents=[parent],
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _cli_verify.add_parser(sub, parent)
    _cli_export.add_parser(sub, parent)
    _cli_fetch.add_parser(sub, parent)
    _cli_keys.add_parsers(sub, parent)
    _cli_show.add_parser(sub, parent)
    _cli_list.add_parser(sub, parent)
    _cli_checkpoint.add_parser(sub, parent)
    _cli_audit.add_parser(sub, parent)
    _cli_witness.add_parser(sub, parent)
    _cli_monitor.add_parser(sub, parent)
    _cli_agreement.add_parser(sub, parent)
    return parser, parent


_COMMANDS: dict[str, tuple[Command, Callable[[argparse.Namespace], bool]]] = {
    "verify": (_cli_verify.run, _cli_verify.needs_source),
    "export": (_cli_export.run, lambda _: True),
    "fetch": (_cli_fetch.run, lambda _: False),
    "keygen": (_cli_keys.run_keygen, lambda _: False),
    "pubkey": (_cli_keys.run_pubkey, lambda _: False),
    "show": (_cli_show.run, lambda _: True),
    "list": (_cli_list.run, lambda _: True),
    "checkpoint": (_cli_checkpoint.run, _cli_checkpoint.needs_source),
    "audit": (_cli_audit.run, lambda _: True),
    "witness": (_cli_witness.run, lambda _: False),
    "monitor": (_cli_monitor.run, lambda _: False),
    "agreement": (_cli_agreement.run, lambda _: True),
}


def _default_data_dir() -> Path:
    from telemetry.core._config import default_data_dir  # the proxy's package: only when needed

    return default_data_dir(os.environ)


def main(argv: Sequence[str] | None = None) -> int:
    parser, _ = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed the usage line
        return EXIT_OK if exc.code == 0 else EXIT_USAGE
    command, needs_source = _COMMANDS[args.command]
    # Offline commands (verify --proof, checkpoint verify) never look at the data directory.
    uses_data_dir = args.command in ("keygen", "pubkey") or needs_source(args)
    args.data_dir = getattr(args, "data_dir", None) or (
        _default_data_dir() if uses_data_dir else None
    )
    args.admin = getattr(args, "admin", None)
    args.json = getattr(args, "json", False)
    args.verbose = getattr(args, "verbose", False)
    source: LogSource | None = None
    try:
        if needs_source(args):
            source = open_source(args.data_dir, args.admin)
        return command(args, source)
    except VerificationError as exc:
        if args.verbose:
            raise
        print(f"FAIL: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except ReceiptsError as exc:
        if args.verbose:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RecursionError:  # a hostile input nested deeper than any parser here allows
        if args.verbose:
            raise
        print("error: input nested too deeply", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    finally:
        if source is not None:
            try:
                source.close()
            except ReceiptsError:
                pass  # closing a read-only handle cannot lose anything


if __name__ == "__main__":
    sys.exit(main())
