"""The lookup behind the fetch route: the salt picks the receipt among those sharing an ID."""

from __future__ import annotations

import dataclasses
import hashlib

from receipts._fetch import opened_by, salt_digest
from receipts._store import ReceiptRow


def row(seq: int, salt: bytes | None) -> ReceiptRow:
    body = "" if salt is None else f',"salt_sha256":"{hashlib.sha256(salt).hexdigest()}"'
    raw = ('{"receipt":{"request_id":"same"' + body + '},"signature":{}}').encode()
    return ReceiptRow(seq, "same", b"", raw, "", 0, 0, None, "ok", 200, "gpu", None, None, 0)


def test_the_salt_picks_its_receipt_and_nothing_else_opens_one() -> None:
    rows = [row(0, b"a" * 16), row(1, b"b" * 16), row(2, None)]
    assert opened_by(rows, b"b" * 16) == rows[1]
    assert opened_by(rows, b"a" * 16) == rows[0]
    assert opened_by(rows, b"c" * 16) is None
    assert opened_by(rows, b"") is None
    assert salt_digest(b"not json") == "" and salt_digest(rows[2].raw) == ""
    assert opened_by([dataclasses.replace(rows[0], raw=b"{}")], b"a" * 16) is None
