"""The fast canonical encoder agrees with the reference RFC 8785 implementation on its domain."""

from __future__ import annotations

from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from receipts._errors import FormatError
from receipts._jcs import MAX_SAFE_INT, canonical, check_domain

ascii_keys = st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=8)
texts = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=12)
scalars = st.none() | st.booleans() | st.integers(-MAX_SAFE_INT, MAX_SAFE_INT) | texts
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ascii_keys, inner, max_size=5),
    max_leaves=10,
)


@settings(max_examples=100, deadline=None)
@given(value=st.dictionaries(ascii_keys, values, max_size=6))
def test_matches_rfc8785(value: dict[str, Any]) -> None:
    assert canonical(value) == rfc8785.dumps(value)


@pytest.mark.parametrize(
    "text",
    ["\u2028\u2029", "\x7f", "\x00\x1f\x08\x0c", 'quote " and \\ back', "é😀", "</script>"],
)
def test_escapes_match_rfc8785(text: str) -> None:
    value: Any = {"s": text, "n": [0, -1, MAX_SAFE_INT, -MAX_SAFE_INT], "b": [True, False, None]}
    assert canonical(value) == rfc8785.dumps(value)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({"f": 1.0}, r"float at \$\.f"),
        ({"n": [1, 2**53]}, r"integer at \$\.n\[1\]"),
        ({"n": -(2**53)}, "integer"),
        ({"clé": 1}, "non-ASCII"),
        ({1: 1}, "non-string key"),
        ({"b": b"bytes"}, "type bytes"),
        ({"s": "\ud800"}, "surrogate"),
    ],
)
def test_values_outside_the_domain_are_refused(value: dict[Any, Any], reason: str) -> None:
    with pytest.raises(FormatError, match=reason):
        canonical(value)


def test_tuples_and_str_subclasses_encode_like_lists_and_strings() -> None:
    from telemetry import Outcome

    check_domain({"t": (1, "a")})
    assert canonical({"t": (1, "a"), "o": Outcome.OK}) == b'{"o":"ok","t":[1,"a"]}'
