"""Read a request body the way Ollama's Go decoder (encoding/json) reads it into its structs.

Go's rules, from src/encoding/json/decode.go (`object`) and fold.go (`foldName`):

- Keys are matched to struct fields by `fields.byExactName[key]`, falling back to
  `fields.byFoldedName[foldName(key)]`: an exact match is preferred, a case-insensitive one is
  accepted. `foldName` upper-cases ASCII and maps every other rune to the smallest rune of its
  `unicode.SimpleFold` orbit, so the long s (U+017F) matches `s` and the Kelvin sign (U+212A)
  matches `k`; no other non-ASCII rune folds to ASCII (the dotted and dotless i fold to
  themselves: `caseOrbit` in unicode/tables.go).
- The object is decoded key by key into the same struct, so the last key that maps to a field
  wins. A map-typed field (Ollama's `options`) is reused, not replaced: duplicate `options`
  objects merge, key by key, exactly (map keys are not folded); `null` resets it.
- Invalid UTF-8 and lone UTF-16 surrogate escapes in strings become U+FFFD.

Every struct tag Ollama's request types use is lower-case ASCII, so a struct's keys normalise to
`foldName(key).lower()`. See docs/decisions/0010-client-text.md.
"""

from __future__ import annotations

import codecs
import json
import re
from typing import Any, Final

REPLACEMENT: Final = "\ufffd"
# Fields whose Go type is a map (merged on duplicates) or a nested struct (merged field-wise).
MAP_FIELDS: Final = frozenset({"options", "files", "parameters"})
STRUCT_FIELDS: Final = frozenset({"stream_options"})

_SURROGATE = re.compile("[\ud800-\udfff]")
_TO_ASCII = str.maketrans({"\u017f": "s", "\u212a": "k"})


def _one_byte_at_a_time(exc: UnicodeError) -> tuple[str, int]:
    # Go's utf8.DecodeRune reports each invalid byte on its own: one U+FFFD per byte.
    assert isinstance(exc, UnicodeDecodeError)
    return REPLACEMENT, exc.start + 1


codecs.register_error("ollama_sidecar.go_utf8", _one_byte_at_a_time)


class GoObject(list[tuple[str, Any]]):
    """A JSON object as its (key, value) pairs in document order, duplicates included.

    A list subclass made by the C decoder itself, so reading a body costs little more than a
    plain `json.loads`; `go_struct` and `go_map` give the views Go's decoder would.
    """

    __slots__ = ()


def go_loads(body: bytes) -> Any:
    """The JSON value of `body` with objects as `GoObject`s; ValueError when it is not JSON."""
    return json.loads(body.decode("utf-8", "ollama_sidecar.go_utf8"), object_pairs_hook=GoObject)


def go_struct(value: object) -> dict[str, Any] | None:
    """What a Go struct decoded from `value` holds, keyed by lower-case field name (None if
    `value` is not an object). Unknown keys are kept under their folded name too: harmless,
    since no field reads them. Nested values stay as decoded."""
    if not isinstance(value, GoObject):
        return None
    fields: dict[str, Any] = {}
    for key, item in value:
        name = field_name(key)
        if name in MAP_FIELDS:
            item = _merged(fields.get(name), item, exact=True)
        elif name in STRUCT_FIELDS:
            item = _merged(fields.get(name), item, exact=False)
        fields[name] = item
    return fields


def go_map(value: object) -> object:
    """`value` with every object turned into a dict as Go decodes a map: exact keys, the last
    duplicate wins (the emulator's view of nested values)."""
    if isinstance(value, GoObject):
        return {key: go_map(item) for key, item in value}
    if isinstance(value, list):
        return [go_map(item) for item in value]
    return value


def _merged(previous: object, item: object, *, exact: bool) -> object:
    if not isinstance(item, GoObject):
        return item
    inner = dict(item) if exact else go_struct(item) or {}
    return {**previous, **inner} if isinstance(previous, dict) else inner


def field_name(key: str) -> str:
    """The lower-case ASCII struct field `key` selects under Go's rule (itself if none can)."""
    if key.isascii():
        return key.lower()
    folded = _SURROGATE.sub(REPLACEMENT, key).translate(_TO_ASCII)
    return folded.lower() if folded.isascii() else key


def go_string(value: object) -> str | None:
    """A decoded JSON string as Go holds it (lone surrogates are U+FFFD); None if not one."""
    if not isinstance(value, str):
        return None
    return _SURROGATE.sub(REPLACEMENT, value) if not value.isascii() else value
