"""`ReceiptService`: what the proxy wires in: a record sink, a span exporter, admin routes.

Files under `config.proxy.data_dir`: `provider.key` (Ed25519, PEM, mode 0600, created on first
start) and `receipts.duckdb`. The log origin (also the checkpoint key name) is
`config.receipts.origin`, or by default `ollama-sidecar.local/<first 16 hex digits of SHA-256 of the
public key>`: unique per provider key, no spaces, no `+`.

`start` raises `ReceiptsError` (`KeyFileError`, `StoreError`, `VerificationError`) when the key or
the stored log cannot be used; the caller decides whether to serve without receipts.
"""

from __future__ import annotations

import logging
import threading

from aiohttp import web
from opentelemetry.sdk.trace.export import SpanExporter
from prometheus_client import CollectorRegistry

from receipts._api import routes
from receipts._errors import ReceiptsError
from receipts._keys import Signer
from receipts._log import LogMetrics, LogWriter, recover
from receipts._provider import DATABASE_FILE, open_signer
from receipts._receipt import receipt_body, sign_body
from receipts._spans import StoreSpanExporter
from receipts._store import CheckpointRow, ReceiptStore, SpanRow
from receipts._store_duckdb import DuckDBStore
from telemetry import Config, RequestRecord

log = logging.getLogger("receipts")


class ReceiptService:
    """Signs a receipt for every record and keeps them in the transparency log."""

    def __init__(
        self,
        config: Config,
        *,
        store: ReceiptStore | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._config = config
        self._injected_store = store
        self._store: ReceiptStore | None = None
        self._metrics = LogMetrics.create(registry if registry is not None else CollectorRegistry())
        self._signer: Signer | None = None
        self._writer: LogWriter | None = None
        self._lock = threading.Lock()

    @property
    def verifier_key(self) -> str:
        return str(self.signer.verifier())

    @property
    def signer(self) -> Signer:
        if self._signer is None:
            raise ReceiptsError("the receipt service is not started")
        return self._signer

    @property
    def store(self) -> ReceiptStore:
        if self._store is None:
            raise ReceiptsError("the receipt service is not started")
        return self._store

    @property
    def writer(self) -> LogWriter:
        if self._writer is None:
            raise ReceiptsError("the receipt service is not started")
        return self._writer

    def start(self) -> None:
        with self._lock:
            if self._writer is not None:
                return
            data_dir = self._config.proxy.data_dir
            data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            signer = open_signer(data_dir, self._config.receipts.origin, create=True)
            store = self._injected_store or DuckDBStore(data_dir / DATABASE_FILE)
            try:
                tree, latest = recover(store, signer.verifier())
            except ReceiptsError:
                store.close()
                raise
            receipts = self._config.receipts
            key_id = signer.key_id.hex()

            def sign_record(record: RequestRecord) -> bytes:
                body = receipt_body(
                    record,
                    origin=signer.name,
                    key_id=key_id,
                    agreement_id=record.agreement_id or receipts.golem_agreement_id or None,
                    activity_id=record.activity_id or receipts.golem_activity_id or None,
                )
                return sign_body(body, signer)[0]

            writer = LogWriter(
                store,
                signer,
                sign_record,
                tree,
                latest,
                self._metrics,
                flush_interval=receipts.flush_interval_seconds,
                checkpoint_interval=receipts.checkpoint_interval_seconds,
            )
            writer.start()
            self._signer, self._store, self._writer = signer, store, writer
            log.info("receipt log %s started with %d receipts", signer.name, tree.size)

    def stop(self) -> None:
        with self._lock:
            writer, self._writer = self._writer, None
            store, self._store = self._store, None
            if writer is not None:
                writer.stop()
            if store is not None:
                try:
                    store.close()
                except ReceiptsError as exc:
                    log.warning("closing the receipt store failed: %s", exc)

    def submit(self, record: RequestRecord) -> None:
        writer = self._writer
        if writer is None:
            self._metrics.failures.labels("stopped").inc()
            return
        try:
            writer.submit(record)
        except Exception:  # a sink must never fail the request
            self._metrics.failures.labels("queue").inc()
            log.exception("cannot queue a receipt")

    def span_exporter(self) -> SpanExporter:
        return StoreSpanExporter(self._submit_span, self.flush)

    def _submit_span(self, row: SpanRow) -> None:
        writer = self._writer
        if writer is not None:
            writer.submit_span(row)

    def flush(self, timeout: float = 5.0, *, checkpoint: bool = False) -> bool:
        """Wait until everything submitted so far is stored; True if it was within `timeout`."""
        writer = self._writer
        return writer.barrier(checkpoint=checkpoint).wait(timeout) if writer else False

    def latest_checkpoint(self) -> CheckpointRow | None:
        return self.writer.latest_checkpoint

    def inclusion_proof(self, seq: int, size: int) -> list[bytes]:
        writer = self.writer
        with writer.tree_lock:
            return writer.tree.inclusion_proof(seq, size)

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        writer = self.writer
        with writer.tree_lock:
            return writer.tree.consistency_proof(size1, size2)

    def admin_routes(self) -> list[web.RouteDef]:
        return routes(self)
