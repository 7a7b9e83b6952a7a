"""Receipts dashboard: signed receipts, failures, the transparency log, its checkpoints and the
witnesses that cosign them."""

from __future__ import annotations

from typing import Any

from dashboards._dashboard import INSTANCE, RATE, dashboard, layout, sel
from dashboards._panels import Query, stat, timeseries
from receipts import metric_names as receipts

HOST = sel(INSTANCE)


def receipts_dashboard() -> dict[str, Any]:
    rate = timeseries(
        "Receipts per second",
        "Signed receipts appended to the transparency log.",
        "short",
        Query(f"sum by (instance) (rate({receipts.RECEIPTS}{HOST}[{RATE}]))", "{{instance}}"),
    )
    failures = timeseries(
        "Receipt failures by stage",
        "Receipts that could not be built, signed or stored, per second; those requests have "
        "no receipt.",
        "short",
        Query(
            f"sum by ({receipts.LABEL_STAGE}) (rate({receipts.RECEIPT_FAILURES}{HOST}[{RATE}]))",
            "{{stage}}",
        ),
    )
    pending = timeseries(
        "Receipts pending",
        "Receipts queued for the next flush to the log.",
        "short",
        Query(f"sum by (instance) ({receipts.RECEIPTS_PENDING}{HOST})", "{{instance}}"),
    )
    size = stat(
        "Log size",
        "Entries in the Merkle transparency log.",
        "short",
        Query(f"max({receipts.LOG_SIZE}{HOST})", instant=True),
    )
    age = stat(
        "Checkpoint age",
        "Time since the newest signed checkpoint of the log.",
        "s",
        Query(f"time() - max({receipts.CHECKPOINT_TIMESTAMP}{HOST})", instant=True),
        thresholds=(("green", None), ("orange", 60), ("red", 300)),
    )
    growth = timeseries(
        "Log size over time",
        "Entries in the transparency log.",
        "short",
        Query(f"max by (instance) ({receipts.LOG_SIZE}{HOST})", "{{instance}}"),
    )
    flush = timeseries(
        "Flush duration",
        "p50 and p95 of one batch write to the log store.",
        "s",
        *(
            Query(
                f"histogram_quantile({q}, sum by (le) "
                f"(rate({receipts.FLUSH_DURATION}_bucket{HOST}[{RATE}])))",
                f"p{label}",
            )
            for q, label in (("0.5", "50"), ("0.95", "95"))
        ),
    )
    witnesses = timeseries(
        "Witness cosigning",
        "add-checkpoint submissions per second by witness and result (ok, conflict, "
        "unprocessable = the witness refuses an inconsistent history, unreachable, ...), and "
        "how far behind the published log each witness's cosigned size is.",
        "short",
        Query(
            f"sum by ({receipts.LABEL_WITNESS}, {receipts.LABEL_RESULT}) "
            f"(rate({receipts.WITNESS_SUBMISSIONS}{HOST}[{RATE}]))",
            "{{witness}} {{result}}",
        ),
        Query(
            f"max by ({receipts.LABEL_WITNESS}) ({receipts.WITNESS_LAG}{HOST})",
            "{{witness}} lag (entries)",
        ),
    )
    quorum = stat(
        "Quorum cosignature age",
        "Time since the newest checkpoint cosigned by the witness quorum was published.",
        "s",
        Query(f"max({receipts.WITNESS_QUORUM_AGE}{HOST})", instant=True),
        thresholds=(("green", None), ("orange", 300), ("red", 1800)),
    )
    panels = layout(
        [
            [(size, 6), (age, 6), (pending, 12)],
            [(rate, 12), (failures, 12)],
            [(growth, 12), (flush, 12)],
            [(quorum, 6), (witnesses, 18)],
        ]
    )
    return dashboard(
        "ollama-sidecar-receipts",
        "Ollama sidecar / Receipts",
        "Signed receipts and the Merkle transparency log that proves them.",
        panels,
    )
