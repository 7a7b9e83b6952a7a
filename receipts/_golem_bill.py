"""A Golem debit note against the signed receipts: is the bill backed by what was logged?

Shapes as yagna's REST API serves them (ya-client `model/src/payment/debit_note.rs`,
`model/src/market/agreement.rs`; sample: golemfactory/ya-runtime-ai
`tests/resources/agreement.json`):

    agreement   {"agreementId": ..., "offer": {"properties": {...}, ...}, "demand": {...}, ...}
                the offer's `golem.com.usage.vector` names the counters, in order; properties
                come nested ({"golem": {"com": {"usage": {"vector": [...]}}}}) or flat
                ({"golem.com.usage.vector": [...]}), so both are read
    debit note  {"debitNoteId", "agreementId", "activityId", "totalAmountDue": "<decimal>",
                 "usageCounterVector": [<number per counter>], "timestamp", "status", ...}

A counter is over-billed when the note claims more than the receipts show by more than the
tolerance (relative); a counter the receipts know nothing of shows zero. Numbers are read as
decimals, never floats.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from receipts._errors import FormatError

USAGE_VECTOR = "golem.com.usage.vector"


def load_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_bytes(), parse_float=Decimal)
    except OSError as exc:
        raise FormatError(f"cannot read {what} {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise FormatError(f"{what} {path} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise FormatError(f"{what} {path} is not a JSON object")
    return data


def _property(properties: Mapping[str, Any], name: str) -> Any:
    """A dotted property from flat, nested or mixed Golem properties (None when absent)."""
    if name in properties:
        return properties[name]
    head, dot, rest = name.partition(".")
    while dot:
        inner = properties.get(head)
        if isinstance(inner, Mapping):
            found = _property(inner, rest)
            if found is not None:
                return found
        part, dot, rest = rest.partition(".")
        head = f"{head}.{part}"
    return None


def _text(data: Mapping[str, Any], name: str, what: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise FormatError(f"{what} has no {name}")
    return value


@dataclass(frozen=True)
class Agreement:
    agreement_id: str
    counters: tuple[str, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Agreement:
        offer = data.get("offer")
        properties = offer.get("properties") if isinstance(offer, Mapping) else None
        if not isinstance(properties, Mapping):
            raise FormatError("agreement has no offer.properties")
        vector = _property(properties, USAGE_VECTOR)
        if not isinstance(vector, list) or not all(isinstance(c, str) for c in vector):
            raise FormatError(f"agreement offer has no {USAGE_VECTOR} list of counter names")
        return cls(_text(data, "agreementId", "agreement"), tuple(vector))


@dataclass(frozen=True)
class DebitNote:
    debit_note_id: str
    agreement_id: str
    activity_id: str | None
    usage: tuple[Decimal, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DebitNote:
        vector = data.get("usageCounterVector")
        if not isinstance(vector, list) or not all(
            isinstance(v, int | Decimal) and not isinstance(v, bool) for v in vector
        ):
            raise FormatError("debit note has no usageCounterVector list of numbers")
        if any(v < 0 for v in vector):
            raise FormatError("debit note usageCounterVector holds a negative counter")
        activity = data.get("activityId")
        return cls(
            _text(data, "debitNoteId", "debit note"),
            _text(data, "agreementId", "debit note"),
            activity if isinstance(activity, str) and activity else None,
            tuple(Decimal(v) for v in vector),
        )


@dataclass(frozen=True)
class CounterCheck:
    name: str
    billed: Decimal
    signed: Decimal
    over: bool

    @property
    def line(self) -> str:
        if self.billed == self.signed:
            verdict = "matches the receipts"
        elif self.billed < self.signed:
            verdict = "under-billed"
        else:
            excess = "" if not self.signed else f" by {(self.billed / self.signed - 1):.4%}"
            verdict = ("OVER-BILLED" if self.over else "within tolerance") + excess
        return f"{self.name}: billed {self.billed}, receipts show {self.signed}: {verdict}"


def compare(
    agreement: Agreement,
    note: DebitNote,
    agreement_id: str,
    signed: Mapping[str, Decimal],
    tolerance: Decimal,
) -> list[CounterCheck]:
    """Each billed counter against the receipts'; FormatError when the documents do not fit."""
    if note.agreement_id != agreement.agreement_id:
        raise FormatError(
            f"the debit note is for agreement {note.agreement_id}, not {agreement.agreement_id}"
        )
    if agreement.agreement_id != agreement_id:
        raise FormatError(
            f"the receipts are for agreement {agreement_id}, not {agreement.agreement_id}"
        )
    if len(note.usage) != len(agreement.counters):
        raise FormatError(
            f"the debit note has {len(note.usage)} counters, the agreement names "
            f"{len(agreement.counters)}"
        )
    checks = []
    for name, billed in zip(agreement.counters, note.usage, strict=True):
        value = signed.get(name, Decimal(0))
        checks.append(CounterCheck(name, billed, value, billed > value * (1 + tolerance)))
    return checks
