"""Yagna's agreement and debit-note shapes, read strictly, and the per-counter verdicts."""

from __future__ import annotations

from decimal import Decimal

import pytest

from receipts import FormatError
from receipts._golem_bill import Agreement, DebitNote, compare

VECTOR = ["ai-runtime.requests", "golem.usage.duration_sec", "golem.usage.gpu-sec"]


@pytest.mark.parametrize(
    "properties",
    [
        {"golem": {"com": {"usage": {"vector": VECTOR}}}},
        {"golem.com.usage.vector": VECTOR},
        {"golem.com": {"usage.vector": VECTOR}, "golem.inf.cpu.cores": 4},
    ],
    ids=["nested", "flat", "mixed"],
)
def test_the_usage_vector_is_found_in_any_property_layout(properties: dict[str, object]) -> None:
    agreement = Agreement.from_json({"agreementId": "a1", "offer": {"properties": properties}})
    assert agreement.counters == tuple(VECTOR)


def note(vector: list[object], agreement: str = "a1") -> DebitNote:
    return DebitNote.from_json(
        {"debitNoteId": "n1", "agreementId": agreement, "usageCounterVector": vector}
    )


def test_verdicts_per_counter() -> None:
    agreement = Agreement("a1", (*VECTOR, "golem.usage.cpu_sec"))
    signed = {
        "ai-runtime.requests": Decimal(4),
        "golem.usage.duration_sec": Decimal("6.5"),
        "golem.usage.gpu-sec": Decimal("4.5"),
    }
    checks = compare(
        agreement, note([4, Decimal("6.0"), Decimal("4.54"), 1]), "a1", signed, Decimal("0.01")
    )
    assert [c.over for c in checks] == [False, False, False, True]
    assert "matches" in checks[0].line and "under-billed" in checks[1].line
    assert "within tolerance" in checks[2].line and "OVER-BILLED" in checks[3].line


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            {"debitNoteId": "n1", "agreementId": "a1", "usageCounterVector": ["1"]},
            "list of numbers",
        ),
        (
            {"debitNoteId": "n1", "agreementId": "a1", "usageCounterVector": [True]},
            "list of numbers",
        ),
        ({"debitNoteId": "n1", "usageCounterVector": [1]}, "agreementId"),
    ],
)
def test_malformed_debit_notes(document: dict[str, object], message: str) -> None:
    with pytest.raises(FormatError, match=message):
        DebitNote.from_json(document)


def test_documents_that_do_not_fit_together() -> None:
    agreement = Agreement("a1", tuple(VECTOR))
    with pytest.raises(FormatError, match="agreement a2"):
        compare(agreement, note([1, 1, 1], "a2"), "a1", {}, Decimal(0))
    with pytest.raises(FormatError, match="receipts are for agreement a3"):
        compare(agreement, note([1, 1, 1]), "a3", {}, Decimal(0))
    with pytest.raises(FormatError, match=r"agreement has no offer\.properties"):
        Agreement.from_json({"agreementId": "a1"})
