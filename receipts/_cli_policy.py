"""`--witness VKEY` (repeatable) and `--quorum N`: the witness policy of every verifying command.

Without `--quorum`, every witness given must have cosigned; `--quorum N` with fewer keys than N
always fails, naming how many cosignatures it found.
"""

from __future__ import annotations

import argparse

from receipts._cosign import WitnessPolicy


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--witness",
        action="append",
        default=[],
        metavar="VKEY",
        help="a witness's cosignature/v1 verifier key; repeat for several",
    )
    p.add_argument(
        "--quorum",
        type=int,
        metavar="N",
        help="valid witness cosignatures required (default: every --witness)",
    )


def policy(args: argparse.Namespace) -> WitnessPolicy:
    return WitnessPolicy.parse(args.witness, args.quorum)
