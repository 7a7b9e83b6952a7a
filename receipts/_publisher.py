"""The publisher thread: witnesses cosign each new checkpoint, then the tiles view moves to it.

For each new checkpoint of the log (the writer wakes it; checkpoints come at most once per
checkpoint interval, or when a client asks for a fresh one) it submits `add-checkpoint` to every
configured witness in parallel, keeps the cosignatures that verify against the configured keys,
and publishes the checkpoint with them: the `Tiles` view (`/log/`), `tiles_dir` when configured,
and the tlog-proof files of the API. A witness that failed is retried every interval with
backoff, on the checkpoint published by then. Nothing here ever blocks the writer or a request:
only the published view waits for the witnesses (at most their timeout).

`witnesses.json` in the data directory keeps each witness's last cosigned size and the latest
published checkpoint note (with cosignatures) across restarts; if it is lost, each size is
learned again from the witness's 409 answer to `old 0`.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge

from receipts import metric_names as names
from receipts._cosign import add_signatures, verify_cosignatures
from receipts._errors import ReceiptsError
from receipts._note import Checkpoint, NoteSignature, SignedNote
from receipts._provider import WITNESS_STATE_FILE as STATE_FILE
from receipts._store import CheckpointRow
from receipts._tiles import Tiles, TilesDirectory, TileSource, tiles_between, write_atomically
from receipts._witness_client import Prove, Submission, WitnessClient

log = logging.getLogger("receipts.witness")

_MAX_BACKOFF_SECONDS = 300.0


@dataclass(frozen=True)
class PublisherMetrics:
    submissions: Counter
    lag: Gauge
    quorum_age: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry, since: Callable[[], float]) -> PublisherMetrics:
        quorum_age = Gauge(
            names.WITNESS_QUORUM_AGE,
            "Seconds since the newest checkpoint cosigned by the witness quorum was published "
            "(since the start when none was).",
            registry=registry,
        )
        quorum_age.set_function(since)
        return cls(
            submissions=Counter(
                names.WITNESS_SUBMISSIONS,
                "add-checkpoint submissions to witnesses by witness and result.",
                [names.LABEL_WITNESS, names.LABEL_RESULT],
                registry=registry,
            ),
            lag=Gauge(
                names.WITNESS_LAG,
                "Published log size minus the size the witness last cosigned.",
                [names.LABEL_WITNESS],
                registry=registry,
            ),
            quorum_age=quorum_age,
        )


@dataclass
class _Witness:
    client: WitnessClient
    size: int = 0
    cosigned: NoteSignature | None = None  # on the published checkpoint
    failures: int = 0
    next_try: float = 0.0

    @property
    def state_key(self) -> str:
        return f"{self.client.url} {self.client.key}"


@dataclass
class _Published:
    row: CheckpointRow | None = None
    note: bytes | None = None
    cond: threading.Condition = field(default_factory=threading.Condition)


class Publisher:
    def __init__(
        self,
        *,
        latest: Callable[[], CheckpointRow | None],
        prove: Prove,
        tiles: Tiles,
        source: TileSource,
        root_at: Callable[[int], bytes],
        witnesses: Sequence[WitnessClient],
        quorum: int,
        state_path: Path,
        tiles_dir: TilesDirectory | None,
        registry: CollectorRegistry,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._latest = latest
        self._prove = prove
        self._tiles = tiles
        self._source = source
        self._root_at = root_at
        self._witnesses = [_Witness(c) for c in witnesses]
        self._quorum = quorum
        self._state_path = state_path
        self._tiles_dir = tiles_dir
        self._interval = interval
        self._clock = clock
        self._quorum_at = clock()
        # Only a log with witnesses has these: no witnesses is not an unmet quorum.
        self.metrics = (
            PublisherMetrics.create(registry, lambda: self._clock() - self._quorum_at)
            if witnesses
            else None
        )
        self._published = _Published()
        self._dir_size = 0
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(max(1, len(witnesses)), thread_name_prefix="witness")
        self._load_state()

    def _load_state(self) -> None:
        try:
            data = json.loads(self._state_path.read_bytes())
            sizes = {str(k): int(v) for k, v in data.get("witnesses", {}).items()}
            note = base64.b64decode(data["checkpoint"]) if data.get("checkpoint") else None
        except FileNotFoundError:
            return
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            log.warning("ignoring unreadable %s (sizes are learned again): %s", STATE_FILE, exc)
            return
        for w in self._witnesses:
            w.size = sizes.get(w.state_key, 0)
        latest = self._latest()
        restored = self._cosigned_note(latest, note) if note and latest else None
        if restored is not None:
            self._published.row, self._published.note = latest, restored
            signatures = SignedNote.parse(restored).signatures
            for w in self._witnesses:
                key = w.client.key
                w.cosigned = next(
                    (s for s in signatures if (s.name, s.key_id) == (key.name, key.key_id)), None
                )
        if self._tiles_dir is not None:
            self._dir_size = self._published_dir_size()

    def _cosigned_note(self, row: CheckpointRow, saved: bytes) -> bytes | None:
        """`row`'s own note with the saved cosignatures that verify on it, if `saved` is for the
        same tree; the log signature always comes from the store, never from the state file."""
        keys = [w.client.key for w in self._witnesses]
        try:
            signed = SignedNote.parse(saved)
            if not _same_tree(signed, row):
                return None
            known = {(k.name, k.key_id) for k in keys}
            note = add_signatures(
                row.note, [s for s in signed.signatures if (s.name, s.key_id) in known]
            )
            verify_cosignatures(note, keys, 0)
        except ReceiptsError:
            return None
        return note

    def _published_dir_size(self) -> int:
        assert self._tiles_dir is not None
        note = self._tiles_dir.published_note()
        if note is None:
            return 0
        try:
            checkpoint = Checkpoint.from_text(SignedNote.parse(note).text)
            if self._root_at(checkpoint.size) == checkpoint.root:
                return checkpoint.size
        except (ReceiptsError, ValueError):
            pass
        log.warning("tiles_dir %s holds another history: writing it again", self._tiles_dir.root)
        return 0

    def published(self) -> tuple[CheckpointRow, bytes] | None:
        """The published checkpoint and its note with the cosignatures it got."""
        row, note = self._published.row, self._published.note
        return None if row is None or note is None else (row, note)

    def start(self) -> None:
        latest = self._latest()
        if latest is not None and self._published.row is None:
            self._published.row, self._published.note = latest, latest.note
        if self._published.row is not None and self._published.note is not None:
            self._tiles.publish(self._published.row.size, self._published.note)
        self._thread = threading.Thread(target=self._run, name="receipts-publisher", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def wait_published(self, size: int, timeout: float) -> bool:
        """Wait until a checkpoint of at least `size` is published (cosigned as far as it got)."""
        deadline = time.monotonic() + timeout
        with self._published.cond:
            while (row := self._published.row) is None or row.size < size:
                left = deadline - time.monotonic()
                if left <= 0 or self._thread is None:
                    return False
                self._wake.set()
                self._published.cond.wait(left)
        return True

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping = True
        self._wake.set()
        thread.join(30)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        while not self._stopping:
            try:
                self._round()
            except Exception:  # the thread must survive anything one round throws
                log.exception("publishing the receipt log failed")
            self._wake.wait(self._interval)
            self._wake.clear()

    def _round(self) -> None:
        current = self._published.row
        if current is not None and self._published.note and self._dir_size < current.size:
            self._write_dir(current, self._published.note)
        latest = self._latest()
        if latest is None:
            return
        new = current is None or latest.size > current.size
        row = latest if new else current
        assert row is not None
        now = self._clock()
        due = [
            w for w in self._witnesses if (new or w.cosigned is None) and (new or now >= w.next_try)
        ]
        if not new and not due:
            return
        answers = list(
            self._pool.map(lambda w: w.client.submit(row.note, row.size, w.size, self._prove), due)
        )
        if new:
            for w in self._witnesses:
                w.cosigned = None
        for w, submissions in zip(due, answers, strict=True):
            self._record(w, row, submissions, now)
        cosignatures = [w.cosigned for w in self._witnesses if w.cosigned is not None]
        note = add_signatures(row.note, cosignatures)
        if self._witnesses and self._has_quorum(note):
            self._quorum_at = self._clock()
        self._publish(row, note)
        self._save_state(note)

    def _record(
        self, w: _Witness, row: CheckpointRow, submissions: list[Submission], now: float
    ) -> None:
        metrics = self.metrics
        assert metrics is not None  # submissions only happen with witnesses
        for s in submissions:
            metrics.submissions.labels(w.client.name, s.result).inc()
            if s.cosigned_size is not None:
                w.size = s.cosigned_size
        last = submissions[-1]
        if last.result == "ok":
            w.cosigned, w.failures, w.next_try = last.signature, 0, 0.0
        else:
            w.failures += 1
            w.next_try = now + min(self._interval * 2**w.failures, _MAX_BACKOFF_SECONDS)
            log.error(
                "witness %s did not cosign the checkpoint of size %d: %s (%s)",
                w.client.name,
                row.size,
                last.result,
                last.detail,
            )
        metrics.lag.labels(w.client.name).set(max(0, row.size - w.size))

    def _has_quorum(self, note: bytes) -> bool:
        try:
            verify_cosignatures(note, [w.client.key for w in self._witnesses], self._quorum)
        except ReceiptsError:
            return False
        return True

    def _write_dir(self, row: CheckpointRow, note: bytes) -> None:
        if self._tiles_dir is None:
            return
        try:
            self._tiles_dir.write(tiles_between(self._dir_size, row.size), self._source, note)
            self._dir_size = row.size
        except (OSError, ReceiptsError) as exc:
            log.error("cannot write tiles_dir %s: %s", self._tiles_dir.root, exc)

    def _publish(self, row: CheckpointRow, note: bytes) -> None:
        self._write_dir(row, note)
        self._tiles.publish(row.size, note)
        with self._published.cond:
            self._published.row, self._published.note = row, note
            self._published.cond.notify_all()

    def _save_state(self, note: bytes) -> None:
        data = {
            "witnesses": {w.state_key: w.size for w in self._witnesses},
            "checkpoint": base64.b64encode(note).decode(),
        }
        try:
            write_atomically(self._state_path, json.dumps(data, indent=1).encode())
        except OSError as exc:
            log.warning("cannot save %s: %s", self._state_path, exc)


def _same_tree(signed: SignedNote, row: CheckpointRow) -> bool:
    checkpoint = Checkpoint.from_text(signed.text)
    return (checkpoint.size, checkpoint.root) == (row.size, row.root)
