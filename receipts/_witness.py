"""A C2SP tlog-witness v1.0.0 witness: `add-checkpoint` checks, the crash-safe state, cosigning.

    POST <prefix>add-checkpoint      body: `old <size>`, up to 63 base64 proof lines, a blank
                                     line, the signed checkpoint
    GET  <prefix><sha256(origin) hex>/checkpoint   the latest checkpoint it cosigned

Answers, in the order the spec checks them: 400 for a malformed body, 404 for an origin it does
not follow, 403 when no trusted log key signed the checkpoint (or a trusted key's signature is
bad), 400 when `old` exceeds the checkpoint size, 409 with its own size (`text/x.tlog.size`) when
`old` is not the size it last cosigned, 422 for a size-0 checkpoint without the empty root, a
non-empty proof from 0, a proof that does not verify or a different root at the same size; else
it persists the new size and root (and the note) before it answers 200 with its cosignature.
Checking and persisting happen under one lock, so two racing submissions cannot roll it back.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from receipts._cosign import cosign
from receipts._errors import ConsistencyError, FormatError, SignatureError, StoreError
from receipts._keys import ED25519, Cosigner, VerifierKey, b64decode
from receipts._merkle import EMPTY_ROOT, HASH_SIZE, verify_consistency
from receipts._note import Checkpoint, SignedNote, verify_note
from receipts._tiles import write_atomically

log = logging.getLogger("receipts.witness")

SIZE_CONTENT_TYPE = "text/x.tlog.size"
MAX_PROOF_LINES = 63
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


@dataclass(frozen=True)
class AddCheckpoint:
    """An add-checkpoint request body."""

    old_size: int
    proof: tuple[bytes, ...]
    checkpoint: bytes

    def to_bytes(self) -> bytes:
        lines = [f"old {self.old_size}", *(base64.b64encode(h).decode() for h in self.proof)]
        return ("".join(line + "\n" for line in lines) + "\n").encode() + self.checkpoint

    @classmethod
    def parse(cls, data: bytes) -> AddCheckpoint:
        """FormatError names what is malformed."""
        split = data.find(b"\n\n")
        if split < 0:
            raise FormatError("add-checkpoint body has no blank line before the checkpoint")
        try:
            head = data[:split].decode("ascii").split("\n")
        except UnicodeDecodeError:
            raise FormatError("add-checkpoint header is not ASCII") from None
        old = head[0]
        if not old.startswith("old ") or not _DECIMAL.fullmatch(old[4:]):
            raise FormatError("add-checkpoint body must start with `old <size>`")
        if len(head) - 1 > MAX_PROOF_LINES:
            raise FormatError(f"more than {MAX_PROOF_LINES} consistency proof lines")
        proof = tuple(b64decode(line, "consistency proof") for line in head[1:])
        if any(len(h) != HASH_SIZE for h in proof):
            raise FormatError(f"consistency proof hashes must be {HASH_SIZE} bytes")
        return cls(int(old[4:]), proof, data[split + 2 :])


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class Cosigned:
    """What a witness remembers of one log: the latest checkpoint it cosigned."""

    size: int
    root: bytes
    note: bytes


class WitnessState(Protocol):
    """Durable per-origin state; `save` returns only once the state survives a crash."""

    def load(self, origin: str) -> Cosigned | None: ...

    def save(self, origin: str, state: Cosigned) -> None: ...


def origin_hash(origin: str) -> str:
    return hashlib.sha256(origin.encode()).hexdigest()


class DirectoryState:
    """One JSON file per origin in `root` (named by the origin's SHA-256), replaced atomically:
    written to a temporary file, fsynced, renamed over the old one, and the directory fsynced."""

    def __init__(self, root: Path) -> None:
        self.root = root
        try:
            root.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the witness state directory {root}: {exc}") from None

    def _path(self, origin: str) -> Path:
        return self.root / f"{origin_hash(origin)}.json"

    def load(self, origin: str) -> Cosigned | None:
        path = self._path(origin)
        try:
            data = json.loads(path.read_bytes())
            state = Cosigned(
                int(data["size"]),
                base64.b64decode(data["root"], validate=True),
                base64.b64decode(data["checkpoint"], validate=True),
            )
        except FileNotFoundError:
            return None
        except KeyError as exc:
            raise StoreError(f"witness state {path} is unreadable: no {exc} field") from None
        except (OSError, ValueError, TypeError) as exc:
            raise StoreError(f"witness state {path} is unreadable: {exc}") from None
        if state.size < 0 or len(state.root) != HASH_SIZE:
            raise StoreError(f"witness state {path} is damaged: a negative size or a bad root")
        return state

    def save(self, origin: str, state: Cosigned) -> None:
        data = {
            "origin": origin,
            "size": state.size,
            "root": base64.b64encode(state.root).decode(),
            "checkpoint": base64.b64encode(state.note).decode(),
        }
        try:
            write_atomically(self._path(origin), json.dumps(data).encode(), sync_dir=True)
        except OSError as exc:
            raise StoreError(f"cannot persist the witness state of {origin}: {exc}") from None


def _text(status: int, message: str) -> Answer:
    return Answer(status, (message + "\n").encode())


class Witness:
    """Checks add-checkpoint requests for the logs it follows and cosigns consistent ones."""

    def __init__(
        self,
        cosigner: Cosigner,
        logs: Sequence[VerifierKey],
        state: WitnessState,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cosigner = cosigner
        self._logs: dict[str, list[VerifierKey]] = {}
        for key in logs:
            if key.type_byte != ED25519:
                raise FormatError(f"log key {key.name} is a {key.kind} key, not ed25519")
            self._logs.setdefault(key.name, []).append(key)
        self._state = state
        self._clock = clock
        self._lock = threading.Lock()
        for origin in self._logs:  # a damaged state stops the start, not every later request
            state.load(origin)

    def add_checkpoint(self, body: bytes) -> Answer:
        try:
            request = AddCheckpoint.parse(body)
            signed = SignedNote.parse(request.checkpoint)
            checkpoint = Checkpoint.from_text(signed.text)
        except FormatError as exc:
            return _text(400, f"malformed request: {exc}")
        keys = self._logs.get(checkpoint.origin)
        if keys is None:
            return _text(404, f"unknown log {checkpoint.origin}")
        try:
            verify_note(signed, keys)
        except SignatureError as exc:
            return _text(403, str(exc))
        if request.old_size > checkpoint.size:
            return _text(400, f"old size {request.old_size} exceeds {checkpoint.size}")
        try:
            with self._lock:
                return self._check_and_cosign(request, signed, checkpoint)
        except StoreError as exc:  # nothing is cosigned without a state read and persisted
            log.error("%s", exc)
            return _text(500, "the witness cannot read or persist its state")

    def _check_and_cosign(
        self, request: AddCheckpoint, signed: SignedNote, checkpoint: Checkpoint
    ) -> Answer:
        latest = self._state.load(checkpoint.origin)
        size = latest.size if latest else 0
        if request.old_size != size:
            return Answer(409, f"{size}\n".encode(), SIZE_CONTENT_TYPE)
        if checkpoint.size == 0 and checkpoint.root != EMPTY_ROOT:
            return _text(422, "a checkpoint of size 0 must have the empty root")
        try:
            verify_consistency(
                size,
                checkpoint.size,
                latest.root if latest else EMPTY_ROOT,
                checkpoint.root,
                request.proof,
            )
        except ConsistencyError as exc:
            log.warning(
                "refused a checkpoint of %s that is not consistent with size %d: %s",
                checkpoint.origin,
                size,
                exc,
            )
            return _text(422, str(exc))
        self._state.save(
            checkpoint.origin, Cosigned(checkpoint.size, checkpoint.root, request.checkpoint)
        )
        timestamp = max(1, int(self._clock()))
        return Answer(200, cosign(signed.text, self.cosigner, timestamp).to_line().encode())

    def latest(self, hashed_origin: str) -> bytes | None:
        """The checkpoint last cosigned for the origin whose SHA-256 is `hashed_origin`, with the
        witness's cosignature (the monitoring endpoint)."""
        for origin in self._logs:
            if origin_hash(origin) == hashed_origin:
                state = self._state.load(origin)
                if state is None:
                    return None
                signed = SignedNote.parse(state.note)
                line = cosign(signed.text, self.cosigner, max(1, int(self._clock())))
                return SignedNote(signed.text, (*signed.signatures, line)).to_bytes()
        return None
