"""`receipts monitor`: follow a receipt log through its tiles and check everything it publishes.

Each check reads `<log>checkpoint`, verifies the log signature (origin = the key's name) and the
witness policy, then reads the entry bundles after the size it last saw, checks every new
receipt's signature (in a process pool for large catch-ups) and appends their leaf hashes to its
compact range of the tree. The new root must equal the checkpoint's: that proves the new
checkpoint extends the one seen before, with no proof from the log needed. The state (the last
checkpoint and the compact range, a few hundred bytes) lives in `--state DIR/<origin hash>.json`,
replaced atomically after each good check.

What fails a check (raised as `VerificationError` subclasses, the message names it):
a shrinking log, a fork (another root for a size already seen, or new entries that do not lead
to the checkpoint's root), a bad log signature, a receipt whose signature does not verify, and
a checkpoint without the witness quorum.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from receipts._audit import ChunkChecker, Problem, cached_checker
from receipts._cosign import WitnessPolicy
from receipts._errors import (
    ConsistencyError,
    FormatError,
    ReceiptsError,
    SignatureError,
    StoreError,
)
from receipts._keys import VerifierKey
from receipts._merkle import CompactRange, leaf_hash
from receipts._note import Checkpoint, open_checkpoint
from receipts._tiles import CHECKPOINT_PATH, TILE_WIDTH, TileRef, decode_bundle, write_atomically
from receipts._witness import origin_hash

_CHUNK = 10_000
_POOL_THRESHOLD = 20_000


class TileFetcher(Protocol):
    def get(self, path: str) -> bytes | None:
        """The file at `path` below the log prefix; None when the log answers 404."""
        ...


class HttpFetcher:
    """GETs below the log prefix over one kept-alive connection (reopened when it drops)."""

    def __init__(self, prefix: str, timeout: float = 30.0) -> None:
        self.prefix = prefix if prefix.endswith("/") else prefix + "/"
        url = urllib.parse.urlsplit(self.prefix)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise FormatError(f"--log must be an http:// or https:// URL, not {prefix!r}")
        self._url = url
        self._timeout = timeout
        self._connection: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        url = self._url
        kind = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        return kind(url.hostname or "", url.port, timeout=self._timeout)

    def get(self, path: str) -> bytes | None:
        try:
            return self._get(path)
        except (http.client.HTTPException, OSError):
            self._close()  # a kept-alive connection the server closed: reopen once
        try:
            return self._get(path)
        except (http.client.HTTPException, OSError) as exc:
            self._close()
            raise StoreError(f"cannot read {self.prefix}{path}: {exc}") from None

    def _get(self, path: str) -> bytes | None:
        if self._connection is None:
            self._connection = self._connect()
        self._connection.request("GET", self._url.path + path)
        response = self._connection.getresponse()
        body = response.read()
        if response.status == 404:
            return None
        if response.status != 200:
            raise StoreError(f"{self.prefix}{path}: HTTP {response.status}")
        return body

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


@dataclass(frozen=True)
class Seen:
    """What the monitor holds of a log: its last good checkpoint and the tree's compact range."""

    note: bytes
    checkpoint: Checkpoint
    compact: CompactRange


@dataclass(frozen=True)
class Update:
    old_size: int
    new_size: int
    witnesses: tuple[str, ...]


def check_signatures(key_text: str, chunk: Sequence[tuple[int, bytes]]) -> Problem | None:
    """The first receipt of `chunk` ((index, bytes) pairs) not signed by the key. Pool workers."""
    check = cached_checker(key_text).check
    for index, raw in chunk:
        try:
            check(raw)
        except ReceiptsError as exc:
            return index, str(exc)
    return None


class StateFile:
    def __init__(self, directory: Path, origin: str) -> None:
        self.path = directory / f"{origin_hash(origin)}.json"

    def load(self, key: VerifierKey) -> Seen | None:
        try:
            data = json.loads(self.path.read_bytes())
            note = base64.b64decode(data["checkpoint"], validate=True)
            hashes = [base64.b64decode(h, validate=True) for h in data["compact"]]
        except FileNotFoundError:
            return None
        except KeyError as exc:
            raise StoreError(f"monitor state {self.path} is unreadable: no {exc} field") from None
        except (OSError, ValueError, TypeError) as exc:
            raise StoreError(f"monitor state {self.path} is unreadable: {exc}") from None
        try:  # a checkpoint the log never signed here is the state's fault, not the log's
            checkpoint, _ = open_checkpoint(note, [key], origin=key.name)
            compact = CompactRange(checkpoint.size, hashes)
        except (ReceiptsError, ValueError) as exc:
            raise StoreError(f"monitor state {self.path} is damaged: {exc}") from None
        if compact.root() != checkpoint.root:
            raise StoreError(f"monitor state {self.path} is damaged: root mismatch")
        return Seen(note, checkpoint, compact)

    def save(self, seen: Seen) -> None:
        data = {
            "origin": seen.checkpoint.origin,
            "size": seen.checkpoint.size,
            "checkpoint": base64.b64encode(seen.note).decode(),
            "compact": [base64.b64encode(h).decode() for h in seen.compact.hashes],
        }
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomically(self.path, json.dumps(data).encode())


class Monitor:
    def __init__(
        self,
        fetch: TileFetcher,
        key: VerifierKey,
        policy: WitnessPolicy,
        state: StateFile | None,
        *,
        workers: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self._fetch = fetch
        self._key = key
        self._policy = policy
        self._state = state
        self._seen = state.load(key) if state else None
        self._workers = workers or os.cpu_count() or 1
        self._progress = progress

    @property
    def size(self) -> int:
        return self._seen.checkpoint.size if self._seen else 0

    def check(self) -> Update:
        """Check the log's current checkpoint and every entry new since the last one."""
        note = self._fetch.get(CHECKPOINT_PATH)
        if note is None:
            raise StoreError("the log has no checkpoint (404)")
        checkpoint, _ = open_checkpoint(note, [self._key], origin=self._key.name)
        witnesses = tuple(k.name for k in self._policy.check(note))
        seen = self._seen
        old = seen.checkpoint if seen else Checkpoint(self._key.name, 0, CompactRange().root())
        if checkpoint.size < old.size:
            raise ConsistencyError(
                f"the log shrank: its checkpoint has size {checkpoint.size}, "
                f"a checkpoint of size {old.size} was seen before"
            )
        if checkpoint.size == old.size:
            if checkpoint.root != old.root:
                raise ConsistencyError(
                    f"fork (split view): two checkpoints of size {old.size} signed by the log "
                    f"with different roots ({_b64(old.root)} seen before, now "
                    f"{_b64(checkpoint.root)})"
                )
            return Update(old.size, old.size, witnesses)
        compact = CompactRange(seen.compact.size, seen.compact.hashes) if seen else CompactRange()
        self._catch_up(compact, checkpoint.size)
        if compact.root() != checkpoint.root:
            raise ConsistencyError(
                f"fork: the checkpoint of size {checkpoint.size} is not consistent with the "
                f"checkpoint of size {old.size} seen before (its entries do not lead to its root)"
                if old.size
                else f"the entries of the log do not lead to the root of its checkpoint of "
                f"size {checkpoint.size}"
            )
        self._seen = Seen(note, checkpoint, compact)
        if self._state is not None:
            self._state.save(self._seen)
        return Update(old.size, checkpoint.size, witnesses)

    def _catch_up(self, compact: CompactRange, size: int) -> None:
        checker = ChunkChecker(self._key, self._workers, _POOL_THRESHOLD, check_signatures)
        chunk: list[tuple[int, bytes]] = []
        problem: Problem | None = None
        try:
            for index, raw in self._entries(compact.size, size):
                compact.append(leaf_hash(raw))
                chunk.append((index, raw))
                if len(chunk) >= _CHUNK:
                    problem = checker.submit(chunk, compact.size)
                    chunk = []
                    if self._progress:
                        self._progress(compact.size)
                    if problem:
                        break
            if problem is None and chunk:
                problem = checker.submit(chunk, compact.size)
            problem = problem or checker.drain()
        finally:
            checker.close()
        if problem:
            raise SignatureError(f"receipt {problem[0]}: {problem[1]}")

    def _entries(self, start: int, end: int) -> Iterator[tuple[int, bytes]]:
        """(index, entry bytes) of every entry in [start, end), from the entry bundles."""
        for bundle in range(start // TILE_WIDTH, -(-end // TILE_WIDTH)):
            first = bundle * TILE_WIDTH
            width = min(TILE_WIDTH, end - first)
            entries = self._bundle(bundle, width)
            for offset in range(max(start - first, 0), width):
                yield first + offset, entries[offset]

    def _bundle(self, index: int, width: int) -> list[bytes]:
        refs = [TileRef(None, index, width)]
        if width < TILE_WIDTH:  # a log may drop a partial bundle once the full one exists
            refs.append(TileRef(None, index))
        for ref in refs:
            data = self._fetch.get(ref.path())
            if data is None:
                continue
            entries = decode_bundle(data)
            if len(entries) != ref.width:
                raise FormatError(f"{ref.path()} holds {len(entries)} entries, not {ref.width}")
            return entries[:width]
        raise StoreError(f"the log does not serve {refs[0].path()} (404)")


def _b64(root: bytes) -> str:
    return base64.b64encode(root).decode()
