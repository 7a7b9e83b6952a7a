"""Request IDs: keep a well-formed incoming X-Request-ID, otherwise mint a UUIDv7 (RFC 9562)."""

from __future__ import annotations

import os
import re
import time

_VALID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+=~-]{0,127}")


def uuid7() -> str:
    """A time-ordered UUIDv7: 48-bit Unix milliseconds, version 7, variant 10, 74 random bits."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def valid_id(value: str) -> bool:
    return _VALID.fullmatch(value) is not None


def request_id_from(header: str | None) -> str:
    """The client's ID when it is safe to log and store, else a fresh UUIDv7."""
    if header is not None and _VALID.fullmatch(header):
        return header
    return uuid7()
