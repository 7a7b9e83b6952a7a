"""`ReceiptService`: what the proxy wires in: a record sink, a span exporter, admin routes.

Files under `config.proxy.data_dir`: `provider.key` (Ed25519, PEM, mode 0600, created on first
start), `receipts.duckdb`, `receipts.watermark` (the writer's durable counts, `_watermark`),
`witnesses.json` (see `_publisher`) and `admin.url` (where the admin API is, for the CLI). The log
origin (also the checkpoint key name) is `config.receipts.origin`, or by default
`ollama-sidecar.local/<first 16 hex digits of SHA-256 of the public key>`: unique per provider
key, no spaces, no `+`.

`start` raises `ReceiptsError` (`KeyFileError`, `StoreError`, `VerificationError`) when the key or
the stored log cannot be used (a database shorter than the watermark included); the caller decides
whether to serve without receipts.

A request refused for a missing or wrong bearer token gets no receipt (docs/decisions/0006): it
is counted (`ollama_sidecar_receipts_unauthenticated_total`) and logged at most once per 1000,
so it can neither grow the log nor shadow a real receipt's request ID. The receipt names the
configured Golem agreement and activity; a client's `X-Golem-Agreement-Id` /
`X-Golem-Activity-Id` is used only with `receipts.trust_client_agreement_header = true` (then
it wins over the configured ID).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence

from aiohttp import web
from opentelemetry.sdk.trace.export import SpanExporter
from prometheus_client import CollectorRegistry, Counter

from receipts import metric_names as names
from receipts._api import routes
from receipts._errors import ReceiptsError, StoreError
from receipts._fetch import ReceiptFetcher
from receipts._keys import Signer, VerifierKey
from receipts._log import LogMetrics, LogWriter, recover
from receipts._merkle import MerkleTree
from receipts._provider import DATABASE_FILE, WITNESS_STATE_FILE, open_signer, write_admin_url
from receipts._publisher import Publisher
from receipts._receipt import receipt_body, sign_body
from receipts._spans import StoreSpanExporter
from receipts._store import CheckpointRow, ReceiptStore, SpanRow
from receipts._store_duckdb import DuckDBStore
from receipts._tiles import CHECKPOINT_PATH, Tiles, TilesDirectory
from receipts._watermark import Watermark, read_watermark, write_watermark
from receipts._witness_client import HttpTransport, WitnessClient, WitnessTransport
from telemetry.core import Config, RequestRecord

log = logging.getLogger("ollama_sidecar.receipts")


class ReceiptService:
    """Signs a receipt for every record and keeps them in the transparency log."""

    def __init__(
        self,
        config: Config,
        *,
        store: ReceiptStore | None = None,
        registry: CollectorRegistry | None = None,
        witness_transport: WitnessTransport | None = None,
    ) -> None:
        self._config = config
        self._injected_store = store
        self._store: ReceiptStore | None = None
        self._registry = registry if registry is not None else CollectorRegistry()
        self._metrics = LogMetrics.create(self._registry)
        self._unauthenticated = Counter(
            names.UNAUTHENTICATED,
            "Requests refused for a missing or wrong bearer token; they get no receipt.",
            registry=self._registry,
        )
        self._unauthenticated_seen = 0
        self._transport = witness_transport or HttpTransport()
        self._publisher: Publisher | None = None
        self._tiles: Tiles | None = None
        self._signer: Signer | None = None
        self._writer: LogWriter | None = None
        self._lock = threading.Lock()
        self._fetcher: ReceiptFetcher | None = None

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
            # The watermark belongs to the data dir's own database, not to an injected store.
            own = self._injected_store is None
            try:
                mark = (read_watermark(data_dir) if own else None) or Watermark()
                tree, latest = recover(store, signer.verifier())
                if mark.stored > tree.size:
                    raise StoreError(
                        f"log truncated: the writer stored {mark.stored} receipts, only "
                        f"{tree.size} are in the database"
                    )
            except ReceiptsError:
                store.close()
                raise
            receipts = self._config.receipts
            key_id = signer.key_id.hex()
            trust_header = receipts.trust_client_agreement_header

            def sign_record(record: RequestRecord) -> bytes:
                agreement = receipts.golem_agreement_id or None
                activity = receipts.golem_activity_id or None
                if trust_header:
                    agreement = record.agreement_id or agreement
                    activity = record.activity_id or activity
                body = receipt_body(
                    record,
                    origin=signer.name,
                    key_id=key_id,
                    agreement_id=agreement,
                    activity_id=activity,
                )
                return sign_body(body, signer)[0]

            def persist(mark: Watermark) -> None:
                write_watermark(data_dir, mark)

            writer = LogWriter(
                store,
                signer,
                sign_record,
                tree,
                latest,
                self._metrics,
                flush_interval=receipts.flush_interval_seconds,
                checkpoint_interval=receipts.checkpoint_interval_seconds,
                max_pending_bytes=receipts.max_pending_bytes,
                persist=persist if own else None,
                carried=mark,
            )
            source = _TreeTiles(writer.tree, writer.tree_lock, store)
            tiles = Tiles(source)
            try:
                publisher = self._new_publisher(writer, source, tiles)
            except ReceiptsError:
                store.close()
                raise
            writer.on_checkpoint = publisher.wake
            writer.start()
            publisher.start()
            self._signer, self._store, self._writer = signer, store, writer
            self._publisher, self._tiles = publisher, tiles
            log.info("receipt log %s started with %d receipts", signer.name, tree.size)

    def _new_publisher(self, writer: LogWriter, source: _TreeTiles, tiles: Tiles) -> Publisher:
        receipts = self._config.receipts
        clients = [
            WitnessClient(w.url, VerifierKey.parse(w.key), self._transport)
            for w in receipts.witness
        ]

        def prove(size1: int, size2: int) -> list[bytes]:
            with writer.tree_lock:
                return writer.tree.consistency_proof(size1, size2)

        def root_at(size: int) -> bytes:
            with writer.tree_lock:
                return writer.tree.root(size)

        return Publisher(
            latest=lambda: writer.latest_checkpoint,
            prove=prove,
            tiles=tiles,
            source=source,
            root_at=root_at,
            witnesses=clients,
            quorum=receipts.witness_quorum,
            state_path=self._config.proxy.data_dir / WITNESS_STATE_FILE,
            tiles_dir=TilesDirectory(receipts.tiles_dir) if receipts.tiles_dir else None,
            registry=self._registry,
            interval=receipts.checkpoint_interval_seconds,
        )

    def stop(self) -> None:
        with self._lock:
            writer, self._writer = self._writer, None
            store, self._store = self._store, None
            publisher, self._publisher = self._publisher, None
            if writer is not None:
                writer.stop()
            if publisher is not None:
                publisher.stop()
            if self._fetcher is not None:
                self._fetcher.close()
                self._fetcher = None
            if store is not None:
                try:
                    store.close()
                except ReceiptsError as exc:
                    log.warning("closing the receipt store failed: %s", exc)

    def submit(self, record: RequestRecord) -> None:
        if not record.authenticated:
            self._unauthenticated.inc()
            self._unauthenticated_seen += 1
            if self._unauthenticated_seen % 1000 == 1:
                log.warning(
                    "requests without a valid bearer token get no receipt (%d so far)",
                    self._unauthenticated_seen,
                )
            return
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

    def readiness(self) -> tuple[bool, str]:
        """For /readyz: red while the store keeps failing or the pending receipts are full."""
        writer = self._writer
        return writer.readiness() if writer is not None else (False, "receipt log not started")

    @property
    def watermark(self) -> Watermark:
        return self.writer.watermark

    def prune_spans(self, older_than_seconds: float) -> int:
        """Delete spans that ended more than `older_than_seconds` ago; receipts stay."""
        cutoff = time.time_ns() - int(older_than_seconds * 1e9)
        return self.store.prune_spans(cutoff)

    def latest_checkpoint(self) -> CheckpointRow | None:
        return self.writer.latest_checkpoint

    def published_checkpoint(self) -> tuple[CheckpointRow, bytes] | None:
        """The checkpoint the tiles show, with the witness cosignatures collected for it."""
        publisher = self._publisher
        return publisher.published() if publisher else None

    def wait_published(self, size: int, timeout: float) -> bool:
        publisher = self._publisher
        return publisher.wait_published(size, timeout) if publisher else False

    def log_files(self) -> _LogFiles:
        """The tiles for the admin and public log listeners (`telemetry`'s `LogFiles`)."""
        return _LogFiles(self)

    def inclusion_proof(self, seq: int, size: int) -> list[bytes]:
        writer = self.writer
        with writer.tree_lock:
            return writer.tree.inclusion_proof(seq, size)

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        writer = self.writer
        with writer.tree_lock:
            return writer.tree.consistency_proof(size1, size2)

    def announce_admin(self, url: str) -> None:
        """Note the admin API's URL in the data dir, for the CLI while this process holds the
        database; a failure only costs the CLI that hint (it then asks for --admin)."""
        try:
            write_admin_url(self._config.proxy.data_dir, url)
        except OSError as exc:
            log.warning("cannot note the admin URL in the data dir: %s", exc)

    def receipt_lookup(self) -> ReceiptFetcher:
        """What the proxy's receipt fetch route asks (by request ID and salt)."""
        if self._fetcher is None:
            self._fetcher = ReceiptFetcher(self, witnessed=bool(self._config.receipts.witness))
        return self._fetcher

    def admin_routes(self) -> list[web.RouteDef]:
        return routes(self)


class _TreeTiles:
    """Tiles from the writer's tree (under its lock) and the stored receipt bytes."""

    def __init__(self, tree: MerkleTree, lock: threading.Lock, store: ReceiptStore) -> None:
        self._tree, self._lock, self._store = tree, lock, store

    def hashes(self, level: int, start: int, count: int) -> bytes:
        with self._lock:
            return self._tree.hashes(level, start, count)

    def entries(self, start: int, count: int) -> Sequence[bytes]:
        return [row.raw for row in self._store.entries(start, count)]


class _LogFiles:
    def __init__(self, service: ReceiptService) -> None:
        self._service = service

    async def read(self, path: str) -> tuple[bytes, bool] | None:
        tiles = self._service._tiles
        if tiles is None:
            return None
        if path == CHECKPOINT_PATH:
            return tiles.read(path)
        body = tiles.cached(path)  # a popular tile: no thread hop
        if body is not None:
            return body, True
        return await asyncio.to_thread(tiles.read, path)
