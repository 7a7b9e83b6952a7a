"""Where the CLI reads the log from: the database file, or the admin API while the sidecar runs.

`open_source` opens `DATA_DIR/receipts.duckdb` read-only; when a running sidecar holds it, it
asks the admin API that this sidecar noted in `DATA_DIR/admin.url` (never a default address, which
could be another sidecar's). An explicit `--admin URL` always means the API. The user does not
have to care which: both sources answer the same questions. The verifier key is `--key`, else the
data dir's own `provider.key`, never what an API says: a log is checked against the key the
user trusts. An API answer that is not what a sidecar sends is a `StoreError` (exit 2). Request
IDs are not unique (a client may send one `X-Request-ID` twice): `receipts_for` answers every
receipt with an ID, in log order.
"""

from __future__ import annotations

import base64
import binascii
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from receipts._cosign import add_signatures
from receipts._errors import FormatError, StoreError, StoreLockedError, VerificationError
from receipts._keys import VerifierKey
from receipts._merkle import MerkleTree
from receipts._note import Checkpoint, SignedNote
from receipts._proof import TlogProof
from receipts._provider import (
    DATABASE_FILE,
    KEY_FILE,
    WITNESS_STATE_FILE,
    default_origin,
    open_signer,
    read_admin_url,
)
from receipts._store import (
    AuditEntry,
    CheckpointRow,
    ReceiptQuery,
    ReceiptRow,
    SpanRow,
    audit_entry,
    request_spans,
)
from receipts._watermark import Watermark, read_watermark
from receipts._wire import checkpoint_from_json, row_from_json, span_from_json

if TYPE_CHECKING:
    from receipts._store_duckdb import DuckDBStore

DEFAULT_ADMIN = "http://127.0.0.1:11436"
_T = TypeVar("_T")


class NotCovered(VerificationError):
    """The receipt is stored but no checkpoint covers it yet."""


class LogSource(Protocol):
    description: str

    def verifier_key(self) -> VerifierKey: ...

    def latest_checkpoint(self) -> bytes | None: ...

    def checkpoints(self) -> list[CheckpointRow]: ...

    def receipts_for(self, request_id: str) -> list[ReceiptRow]: ...

    def spans(self, row: ReceiptRow) -> list[SpanRow]: ...

    def proof(self, row: ReceiptRow) -> TlogProof: ...

    def entries(self, start: int, limit: int) -> list[ReceiptRow]: ...

    def watermark(self) -> Watermark | None: ...

    def audit_entries(self, start: int, limit: int) -> list[AuditEntry]: ...

    def receipts(self, query: ReceiptQuery) -> list[ReceiptRow]: ...

    def close(self) -> None: ...


class FileSource:
    """The database file of a stopped sidecar, opened read-only."""

    def __init__(self, data_dir: Path) -> None:
        from receipts._store_duckdb import DuckDBStore  # duckdb only for commands that read it

        self.data_dir = data_dir
        self.store: DuckDBStore = DuckDBStore(data_dir / DATABASE_FILE, read_only=True)
        self.description = str(self.store.path)
        self._tree: MerkleTree | None = None

    def verifier_key(self) -> VerifierKey:
        # The public key comes from the provider's key file, never from the database; the origin
        # is the one the latest checkpoint names (the signature binds it to the key).
        latest = self.latest_checkpoint()
        origin = _origin_of(latest) if latest else ""
        signer = open_signer(self.data_dir, origin, create=False)
        if not origin:
            signer = open_signer(
                self.data_dir, default_origin(signer.verifier().public_key), create=False
            )
        return signer.verifier()

    def latest_checkpoint(self) -> bytes | None:
        latest = self.store.latest_checkpoint()
        return self._cosigned(latest.note) if latest else None

    def _cosigned(self, note: bytes) -> bytes:
        """`note` with the witness cosignatures the sidecar saved for the same checkpoint."""
        try:
            data = json.loads((self.data_dir / WITNESS_STATE_FILE).read_bytes())
            saved = SignedNote.parse(base64.b64decode(data["checkpoint"]))
        except (OSError, ValueError, KeyError, TypeError, FormatError):
            return note
        if saved.text != SignedNote.parse(note).text:
            return note
        return add_signatures(note, saved.signatures)

    def checkpoints(self) -> list[CheckpointRow]:
        return self.store.checkpoints()

    def receipts_for(self, request_id: str) -> list[ReceiptRow]:
        return self.store.receipts_for(request_id)

    def spans(self, row: ReceiptRow) -> list[SpanRow]:
        return request_spans(row, self.store.spans(row.trace_id))

    def watermark(self) -> Watermark | None:
        return read_watermark(self.data_dir)

    def proof(self, row: ReceiptRow) -> TlogProof:
        latest = self.store.latest_checkpoint()
        if latest is None or latest.size <= row.seq:
            raise NotCovered("not covered by a signed checkpoint yet (start the sidecar again)")
        if self._tree is None:
            self._tree = MerkleTree(self.store.leaf_hashes())
        if self._tree.size < latest.size:
            raise StoreError(f"log truncated: only {self._tree.size} of {latest.size} stored")
        path = self._tree.inclusion_proof(row.seq, latest.size)
        return TlogProof(index=row.seq, path=tuple(path), checkpoint=self._cosigned(latest.note))

    def entries(self, start: int, limit: int) -> list[ReceiptRow]:
        return self.store.entries(start, limit)

    def audit_entries(self, start: int, limit: int) -> list[AuditEntry]:
        return self.store.audit_entries(start, limit)

    def receipts(self, query: ReceiptQuery) -> list[ReceiptRow]:
        return self.store.receipts(query)

    def close(self) -> None:
        self.store.close()


class ApiSource:
    """The admin API of a running sidecar."""

    def __init__(self, base_url: str, data_dir: Path | None, timeout: float = 30.0) -> None:
        self.base = base_url.rstrip("/")
        self.description = self.base
        self._data_dir = data_dir
        self._timeout = timeout
        self._key: dict[str, Any] = self._json("/receipts/pubkey")

    def _decode(self, path: str, convert: Callable[[], _T]) -> _T:
        """`convert()` of an answer; what a sidecar never sends is a StoreError, not a crash."""
        try:
            return convert()
        except (KeyError, TypeError, ValueError, AttributeError, binascii.Error) as exc:
            raise StoreError(
                f"{self.base}{path}: malformed receipts API answer ({type(exc).__name__}: {exc})"
            ) from None

    def _get(self, path: str, params: dict[str, Any] | None = None) -> bytes | None:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        url = self.base + path + ("?" + urllib.parse.urlencode(query) if query else "")
        try:
            with urllib.request.urlopen(url, timeout=self._timeout) as response:
                body: bytes = response.read()
                return body
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise StoreError(f"{self.base}: {_error_text(exc)}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise StoreError(
                f"cannot reach the sidecar admin API at {self.base}: {reason}"
            ) from None

    def _json(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        data = self._json_or_none(path, params)
        if data is None:
            raise StoreError(f"{self.base}{path}: not found (is this a sidecar with receipts?)")
        return data

    def _json_or_none(
        self, path: str, params: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        body = self._get(path, params)
        if body is None:
            return None
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            raise StoreError(f"{self.base}{path}: not a receipts API answer") from None
        if not isinstance(data, dict):
            raise StoreError(f"{self.base}{path}: not a receipts API answer")
        return data

    def announced_key(self) -> VerifierKey:
        """The key the sidecar says it signs with: to print and pin, never to verify with."""
        text = self._decode("/receipts/pubkey", lambda: str(self._key["verifier_key"]))
        return VerifierKey.parse(text)

    def verifier_key(self) -> VerifierKey:
        if self._data_dir is None or not (self._data_dir / KEY_FILE).is_file():
            raise FormatError(
                f"--key VKEY is required: no provider key in {self._data_dir} to check the log "
                f"of {self.base} against"
            )
        origin = self._decode("/receipts/pubkey", lambda: str(self._key["origin"]))
        return open_signer(self._data_dir, origin, create=False).verifier()

    def latest_checkpoint(self) -> bytes | None:
        return self._get("/receipts/checkpoint", {"fresh": "1"})

    def checkpoints(self) -> list[CheckpointRow]:
        data = self._json("/receipts/checkpoints")
        return self._decode(
            "/receipts/checkpoints", lambda: [checkpoint_from_json(c) for c in data["checkpoints"]]
        )

    def receipts_for(self, request_id: str) -> list[ReceiptRow]:
        path = f"/receipts/receipt/{urllib.parse.quote(request_id, safe='')}"
        data = self._json_or_none(path)
        if data is None:
            return []
        return self._decode(path, lambda: [row_from_json(r) for r in data["receipts"]])

    def spans(self, row: ReceiptRow) -> list[SpanRow]:
        path = f"/receipts/receipt/{urllib.parse.quote(row.request_id, safe='')}"
        data = self._json(path, {"index": row.seq})
        spans = self._decode(path, lambda: [span_from_json(s) for s in data["spans"]])
        return request_spans(row, spans)

    def watermark(self) -> Watermark | None:
        return self._decode(
            "/receipts/pubkey",
            lambda: Watermark.from_json(self._key["watermark"], self.base + "/receipts/pubkey"),
        )

    def proof(self, row: ReceiptRow) -> TlogProof:
        body = self._get(
            f"/receipts/receipt/{urllib.parse.quote(row.request_id, safe='')}/proof",
            {"index": row.seq},
        )
        if body is None:
            raise NotCovered("the sidecar does not know this receipt")
        return TlogProof.parse(body)

    def entries(self, start: int, limit: int) -> list[ReceiptRow]:
        data = self._json("/receipts/entries", {"start": start, "limit": limit})
        return self._decode(
            "/receipts/entries", lambda: [row_from_json(e) for e in data["entries"]]
        )

    def audit_entries(self, start: int, limit: int) -> list[AuditEntry]:
        return [audit_entry(row) for row in self.entries(start, limit)]

    def receipts(self, query: ReceiptQuery) -> list[ReceiptRow]:
        params = {
            "since_ns": query.since_ns,
            "until_ns": query.until_ns,
            "model": query.model,
            "outcome": query.outcome,
            "limit": query.limit,
        }
        data = self._json("/receipts/list", params)
        return self._decode("/receipts/list", lambda: [row_from_json(e) for e in data["receipts"]])

    def close(self) -> None:
        pass


def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(exc.read())["error"])
    except (ValueError, KeyError, TypeError, OSError):
        return f"HTTP {exc.code}"


def _origin_of(note: bytes) -> str:
    try:
        return Checkpoint.from_text(SignedNote.parse(note).text).origin
    except FormatError:
        return ""


def open_source(data_dir: Path, admin: str | None) -> LogSource:
    """The database file when it can be opened, else the data dir's sidecar's admin API (`admin`
    forces the API at that URL)."""
    if admin:
        return ApiSource(admin, data_dir)
    try:
        return FileSource(data_dir)
    except StoreLockedError as exc:
        noted = read_admin_url(data_dir)
        if noted is None:
            raise StoreError(
                f"{exc}; {data_dir} names no admin API of its sidecar: pass --admin URL"
            ) from None
        return ApiSource(noted, data_dir)


def resolve_key(keys: list[str] | None, source: LogSource | None) -> VerifierKey:
    """`--key` when given (FormatError if malformed), else the provider's own key."""
    if keys:
        return VerifierKey.parse(keys[0])
    if source is None:
        raise FormatError("--key VKEY is required")
    return source.verifier_key()
