"""Prometheus names of the receipt and transparency-log metrics (imported by dashboards, alerts)."""

from typing import Final

LABEL_STAGE: Final = "stage"
LABEL_WITNESS: Final = "witness"
LABEL_RESULT: Final = "result"

RECEIPTS: Final = "ollama_sidecar_receipts_total"
RECEIPT_FAILURES: Final = "ollama_sidecar_receipt_failures_total"
RECEIPTS_PENDING: Final = "ollama_sidecar_receipts_pending"
LOG_SIZE: Final = "ollama_sidecar_receipt_log_size"
CHECKPOINT_TIMESTAMP: Final = "ollama_sidecar_receipt_checkpoint_timestamp_seconds"
FLUSH_DURATION: Final = "ollama_sidecar_receipt_flush_duration_seconds"
RECEIPTS_PENDING_BYTES: Final = "ollama_sidecar_receipts_pending_bytes"
WRITER_STUCK: Final = "ollama_sidecar_receipt_writer_stuck"
UNAUTHENTICATED: Final = "ollama_sidecar_receipts_unauthenticated_total"
WITNESS_SUBMISSIONS: Final = "ollama_sidecar_witness_submissions_total"
WITNESS_LAG: Final = "ollama_sidecar_witness_cosigned_size_lag"
WITNESS_QUORUM_AGE: Final = "ollama_sidecar_witness_quorum_age_seconds"
