"""`receipts verify`: receipt signature, inclusion in the latest checkpoint, checkpoint signature.

    receipts verify REQUEST_ID...            from the log (file or admin API)
    receipts verify --all                    every receipt in the log
    receipts verify --proof P --receipt R --key VKEY    fully offline, from exported files
        [--salt HEX --request FILE --response FILE]     ...and the receipt commits to these
                                                        exact bytes (SHA-256(salt ‖ bytes))
    receipts verify --bundle DIR --key VKEY             an agreement's bundle, offline, and its
        [--debit-note F --agreement F [--tolerance %]]  summary; with a Golem debit note and the
                                                        agreement: is the bill backed by receipts

Every mode takes a witness policy, `--witness VKEY` (repeatable) and `--quorum N`: the
checkpoint must carry at least N valid cosignatures by those witnesses.

One `OK`/`FAIL` line per receipt on stderr; `--json` prints one object per receipt on stdout.
A request ID that several receipts carry (a client sent one `X-Request-ID` twice) verifies every
one of them, each named `REQUEST_ID#INDEX` by its log index.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from receipts import _cli_policy
from receipts._bundle import read_bundle
from receipts._cli_agreement import print_usage
from receipts._cli_source import LogSource, resolve_key
from receipts._commitments import Verified, commitment, parse_salt, verify_fetched
from receipts._cosign import NO_WITNESSES, WitnessPolicy
from receipts._errors import FormatError, ReceiptsError, VerificationError
from receipts._golem_bill import Agreement, DebitNote, compare, load_json
from receipts._keys import VerifierKey
from receipts._merkle import MerkleTree, leaf_hash, verify_inclusion
from receipts._note import open_checkpoint
from receipts._proof import TlogProof
from receipts._receipt import SignedReceipt, verify_receipt
from receipts._usage import usage_of

_PAGE = 10_000


@dataclass(frozen=True)
class Result:
    name: str
    ok: bool
    reason: str


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], parent: argparse.ArgumentParser
) -> None:
    p = sub.add_parser("verify", parents=[parent], help="verify receipts")
    p.add_argument("request_ids", nargs="*", metavar="REQUEST_ID")
    p.add_argument("--all", action="store_true", help="verify every receipt in the log")
    p.add_argument("--proof", type=Path, help="a .tlog-proof file (offline mode)")
    p.add_argument("--receipt", type=Path, help="a signed receipt .json file (offline mode)")
    p.add_argument("--key", action="append", help="the provider's verifier key string")
    _cli_policy.add_arguments(p)
    p.add_argument("--salt", metavar="HEX", help="the X-Receipt-Salt of the exchange (offline)")
    p.add_argument("--request", type=Path, metavar="FILE", help="the exact request body sent")
    p.add_argument("--response", type=Path, metavar="FILE", help="the exact response body")
    p.add_argument("--bundle", type=Path, metavar="DIR", help="an agreement's receipts bundle")
    p.add_argument("--debit-note", type=Path, metavar="FILE", help="a yagna debit note (JSON)")
    p.add_argument("--agreement", type=Path, metavar="FILE", help="the yagna agreement (JSON)")
    p.add_argument(
        "--tolerance",
        type=_percent,
        default=Decimal(1),
        metavar="PERCENT",
        help="how far a billed counter may exceed the receipts (default 1%%)",
    )


def _percent(text: str) -> Decimal:
    """A --tolerance value: a finite, non-negative percentage (argparse exits 2 otherwise)."""
    try:
        value = Decimal(text)
    except ArithmeticError:  # decimal.InvalidOperation: not a number at all
        value = Decimal("NaN")
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a non-negative percentage")
    return value


def verify_entry(
    raw: bytes,
    proof: TlogProof,
    key: VerifierKey,
    request_id: str | None,
    policy: WitnessPolicy = NO_WITNESSES,
) -> str:
    """Check one stored receipt fully (by `verify_fetched`); a short success text, or raises."""
    verified = verify_fetched(raw, proof, key, policy=policy)
    if request_id is not None and verified.request_id != request_id:
        raise VerificationError(f"stored receipt is for request {verified.request_id!r}")
    return _summary(verified, policy)


def _summary(verified: Verified, policy: WitnessPolicy) -> str:
    text = f"index {verified.index} in checkpoint of size {verified.checkpoint.size}"
    return text + _witnessed(len(verified.witnesses), policy)


def _witnessed(count: int, policy: WitnessPolicy) -> str:
    return f", cosigned by {count} witnesses" if policy.keys else ""


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise FormatError(f"cannot read {what} {path}: {exc.strerror}") from None


def _offline(args: argparse.Namespace, policy: WitnessPolicy) -> list[Result]:
    if not (args.proof and args.receipt and args.key):
        raise FormatError("offline verification needs --proof FILE, --receipt FILE and --key VKEY")
    if (args.request or args.response) and not args.salt:
        raise FormatError("--request and --response need --salt HEX")
    key = resolve_key(args.key, None)
    raw = _read(args.receipt, "receipt")
    proof = TlogProof.parse(_read(args.proof, "proof"))
    salt = parse_salt(args.salt) if args.salt else None
    digests = {
        name: commitment(salt, _read(path, f"{name} file"))
        for name, path in (("request", args.request), ("response", args.response))
        if salt is not None and path is not None
    }
    try:
        verified = verify_fetched(
            raw,
            proof,
            key,
            salt=salt,
            request_sha256=digests.get("request"),
            response_sha256=digests.get("response"),
            policy=policy,
        )
    except VerificationError as exc:
        return [Result(str(args.receipt), False, str(exc))]
    text = _summary(verified, policy)
    if digests:
        text += "; commits to the " + " and ".join(digests) + " bytes given"
    return [Result(str(args.receipt), True, text)]


def _by_id(
    source: LogSource, key: VerifierKey, request_ids: list[str], policy: WitnessPolicy
) -> list[Result]:
    results = []
    for request_id in request_ids:
        rows = source.receipts_for(request_id)
        if not rows:
            results.append(Result(request_id, False, "unknown request ID"))
        for row in rows:
            name = request_id if len(rows) == 1 else f"{request_id}#{row.seq}"
            try:
                text = verify_entry(row.raw, source.proof(row), key, request_id, policy)
            except ReceiptsError as exc:
                results.append(Result(name, False, str(exc)))
            else:
                results.append(Result(name, True, text))
    return results


def _all(source: LogSource, key: VerifierKey, policy: WitnessPolicy) -> list[Result]:
    # The checkpoint is checked once; each receipt's inclusion is then proven against a tree
    # recomputed from the receipt bytes themselves.
    note = source.latest_checkpoint()
    if note is None:
        raise VerificationError("the log has no signed checkpoint")
    checkpoint, _ = open_checkpoint(note, [key], origin=key.name)
    cosigned = _witnessed(len(policy.check(note)), policy)
    rows: list[tuple[int, str, bytes]] = []
    tree = MerkleTree()
    start = 0
    while page := source.entries(start, _PAGE):
        for row in page:
            tree.append(leaf_hash(row.raw))
        rows.extend((r.seq, r.request_id, r.raw) for r in page)
        start += len(page)
    results: list[Result] = []
    for seq, request_id, raw in rows:
        try:
            receipt = SignedReceipt.parse(raw)
            verify_receipt(receipt, key)
            if receipt.request_id != request_id:
                raise VerificationError(f"stored receipt is for request {receipt.request_id!r}")
            if seq != len(results):
                raise VerificationError(f"stored at index {seq}, expected {len(results)}")
            if seq >= checkpoint.size:
                raise VerificationError("not covered by the latest checkpoint yet")
            verify_inclusion(
                leaf_hash(raw),
                seq,
                checkpoint.size,
                tree.inclusion_proof(seq, checkpoint.size),
                checkpoint.root,
            )
        except ReceiptsError as exc:
            results.append(Result(request_id, False, str(exc)))
        else:
            results.append(
                Result(
                    request_id,
                    True,
                    f"index {seq} in checkpoint of size {checkpoint.size}{cosigned}",
                )
            )
    if tree.size < checkpoint.size:
        results.append(
            Result(
                "log",
                False,
                f"truncated: checkpoint covers {checkpoint.size} receipts, {tree.size} stored",
            )
        )
    return results


def _bundle(args: argparse.Namespace, policy: WitnessPolicy) -> list[Result]:
    if not args.key:
        raise FormatError("--bundle needs --key VKEY")
    if (args.debit_note is None) != (args.agreement is None):
        raise FormatError("--debit-note and --agreement go together")
    bill = None
    if args.debit_note is not None:  # read both before any work: malformed input exits 2
        bill = (
            Agreement.from_json(load_json(args.agreement, "agreement")),
            DebitNote.from_json(load_json(args.debit_note, "debit note")),
        )
    agreement_id, bodies, checked = read_bundle(args.bundle, resolve_key(args.key, None), policy)
    results = [Result(r.name, r.ok, r.reason) for r in checked]
    usage = usage_of(agreement_id, bodies)
    print_usage(usage, args.json)
    if bill is not None and bodies:  # with no verified receipt the failures above are the answer
        checks = compare(*bill, agreement_id, usage.counters(), args.tolerance / 100)
        results += [
            Result(f"debit note {bill[1].debit_note_id}", not c.over, c.line) for c in checks
        ]
    return results


def run(args: argparse.Namespace, source: LogSource | None) -> int:
    policy = _cli_policy.policy(args)
    if args.bundle:
        results = _bundle(args, policy)
    elif args.debit_note or args.agreement:
        raise FormatError("--debit-note and --agreement need --bundle DIR")
    elif args.proof or args.receipt:
        results = _offline(args, policy)
    else:
        if not args.all and not args.request_ids:
            raise FormatError("give REQUEST_ID..., --all, or --proof/--receipt/--key")
        assert source is not None
        key = resolve_key(args.key, source)
        if args.all:
            results = _all(source, key, policy)
        else:
            results = _by_id(source, key, args.request_ids, policy)
    for r in results:
        print(f"{'OK' if r.ok else 'FAIL'}: {r.name}: {r.reason}", file=sys.stderr)
        if args.json and not args.bundle:
            print(json.dumps({"id": r.name, "ok": r.ok, "reason": r.reason}))
    failed = sum(not r.ok for r in results)
    if args.all:
        print(f"{len(results) - failed} OK, {failed} FAIL", file=sys.stderr)
    return 1 if failed else 0


def needs_source(args: argparse.Namespace) -> bool:
    return not (args.proof or args.receipt or args.bundle)
