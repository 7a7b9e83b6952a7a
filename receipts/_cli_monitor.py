"""`receipts monitor --log URL --key VKEY [--witness VKEY ...] [--quorum N] [--state DIR] [--once]`

Follows a log through its tiles (see `_monitor`): one line per check on stderr (what is new,
who cosigned), `--json` one object per check on stdout. `--once` checks up to the current
checkpoint and exits 0 when everything is consistent; otherwise it checks every `--interval`
seconds until interrupted. Any inconsistency exits 1 with a line that names it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from receipts import _cli_policy
from receipts._cli_source import LogSource
from receipts._errors import FormatError
from receipts._keys import VerifierKey
from receipts._monitor import HttpFetcher, Monitor, StateFile, Update

MIN_INTERVAL = 0.1  # a monitor that polls faster is load, not vigilance
MAX_INTERVAL = 86400.0


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], parent: argparse.ArgumentParser
) -> None:
    p = sub.add_parser("monitor", parents=[parent], help="follow and check a log through its tiles")
    p.add_argument("--log", required=True, metavar="URL", help="the log's tiles prefix (…/log/)")
    p.add_argument("--key", required=True, metavar="VKEY", help="the log's verifier key")
    _cli_policy.add_arguments(p)
    p.add_argument("--state", type=Path, metavar="DIR", help="keep what was seen here")
    p.add_argument("--once", action="store_true", help="check up to the current checkpoint")
    p.add_argument("--interval", type=float, default=30.0, help="seconds between checks")
    p.add_argument("--workers", type=int, help="processes checking signatures (default: CPUs)")


def run(args: argparse.Namespace, source: LogSource | None) -> int:
    if not MIN_INTERVAL <= args.interval <= MAX_INTERVAL:  # also NaN
        raise FormatError(f"--interval: expected {MIN_INTERVAL:g} to {MAX_INTERVAL:g} seconds")
    if args.workers is not None and args.workers < 1:
        raise FormatError("--workers: expected 1 or more processes")
    key = VerifierKey.parse(args.key)
    state = StateFile(args.state, key.name) if args.state else None
    monitor = Monitor(
        HttpFetcher(args.log), key, _cli_policy.policy(args), state, workers=args.workers
    )
    while True:
        started = time.perf_counter()
        _report(monitor.check(), time.perf_counter() - started, args.json)
        if args.once:
            return 0
        time.sleep(args.interval)


def _report(update: Update, seconds: float, as_json: bool) -> None:
    new = update.new_size - update.old_size
    cosigned = f", cosigned by {', '.join(update.witnesses)}" if update.witnesses else ""
    print(
        f"OK: size {update.new_size} ({new} new receipts verified in {seconds:.1f} s){cosigned}",
        file=sys.stderr,
        flush=True,
    )
    if as_json:
        record = {"size": update.new_size, "new": new, "witnesses": list(update.witnesses)}
        print(json.dumps(record), flush=True)
