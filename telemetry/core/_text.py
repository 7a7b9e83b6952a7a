"""Client-chosen text made safe for every sink: metric labels, span names, log lines, receipts.

`bounded_text` keeps a clean value as it is and otherwise returns an escaped, bounded form:
characters that are not printable (controls, lone surrogates, format characters) and the
backslash become `\\xNN` / `\\uNNNN` / `\\UNNNNNNNN` escapes, and a value longer than the limit
is cut to it and ends with `…` (U+2026, which no Ollama model name contains). The result is
always valid UTF-8 of at most `limit` characters, and the work is bounded by `limit`, not by the
input's length. See docs/decisions/0010-client-text.md.
"""

from __future__ import annotations

from typing import Final

MAX_MODEL_CHARS: Final = 256
MAX_PATH_CHARS: Final = 512
ELLIPSIS: Final = "\u2026"


def bounded_text(value: str, limit: int) -> str:
    """`value` if it is printable, backslash-free and at most `limit` characters; else escaped."""
    if len(value) <= limit and value.isprintable() and "\\" not in value:
        return value
    pieces = [_escape(char) for char in value[:limit]]
    if len(value) <= limit and sum(map(len, pieces)) <= limit:
        return "".join(pieces)
    kept: list[str] = []
    size = 0
    for piece in pieces:
        if size + len(piece) > limit - 1:
            break
        kept.append(piece)
        size += len(piece)
    return "".join(kept) + ELLIPSIS


def _escape(char: str) -> str:
    if char.isprintable() and char != "\\":
        return char
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"
