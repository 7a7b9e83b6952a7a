"""The writer's own durable count of what it stored, next to the database (0006).

`DATA_DIR/receipts.watermark` holds one JSON object: `stored` (the log size after the last
commit: the high-water mark), `refused` (receipts the database refused for their content) and
`dropped` (records that never became a stored receipt: queue full, unsignable). The writer
replaces it after every commit that changed a count (temporary file, fsync, rename, fsync of the
directory), so it is never ahead of the database. A database or WAL that lost committed receipts
is then shorter than `stored`: the sidecar refuses to start on it and `receipts audit` fails.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from receipts._errors import StoreError
from receipts._tiles import write_atomically

WATERMARK_FILE = "receipts.watermark"


@dataclass(frozen=True, slots=True)
class Watermark:
    stored: int = 0
    refused: int = 0
    dropped: int = 0

    def to_json(self) -> dict[str, int]:
        return {"stored": self.stored, "refused": self.refused, "dropped": self.dropped}

    @classmethod
    def from_json(cls, data: object, where: str) -> Watermark:
        if not isinstance(data, dict):
            raise StoreError(f"{where}: not a receipts watermark")
        values = [data.get(name) for name in ("stored", "refused", "dropped")]
        counts = [v for v in values if type(v) is int and v >= 0]
        if len(counts) != len(values):
            raise StoreError(f"{where}: not a receipts watermark")
        return cls(*counts)


def read_watermark(data_dir: Path) -> Watermark | None:
    """The stored watermark, None when there is none (a log older than the watermark)."""
    path = data_dir / WATERMARK_FILE
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"{path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise StoreError(f"{path}: not a receipts watermark") from None
    return Watermark.from_json(data, str(path))


def write_watermark(data_dir: Path, mark: Watermark) -> None:
    """Replace the watermark durably; raises OSError (the caller counts and logs it)."""
    data = json.dumps(mark.to_json()).encode() + b"\n"
    write_atomically(data_dir / WATERMARK_FILE, data, mode=0o600, sync_dir=True)
