from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telemetry.tap._lines import LineSplitter


def test_lines_cut_anywhere_are_reassembled() -> None:
    splitter = LineSplitter(100)
    assert splitter.split(b'{"a":') == []
    assert splitter.split(b'1}\n{"b"') == [b'{"a":1}']
    assert splitter.split(b":2}\n\n{}\n") == [b'{"b":2}', b"", b"{}"]
    assert splitter.tail() is None


def test_tail_returns_the_unterminated_rest_once() -> None:
    splitter = LineSplitter(100)
    assert splitter.split(b"one\ntwo") == [b"one"]
    assert splitter.tail() == b"two"
    assert splitter.tail() is None


def test_overlong_lines_are_dropped_in_one_piece_or_many() -> None:
    splitter = LineSplitter(4)
    assert splitter.split(b"12345\nok\n") == [b"ok"]
    assert splitter.split(b"123") == []
    assert splitter.split(b"45") == []
    assert splitter.split(b"678\nfine\n") == [b"fine"]
    assert splitter.split(b"12") == []
    assert splitter.split(b"345\n") == []
    assert splitter.split(b"toolong") == []
    assert splitter.tail() is None
    assert splitter.skipped == 4


def test_line_of_exactly_the_cap_is_kept() -> None:
    splitter = LineSplitter(4)
    assert splitter.split(b"12") == []
    assert splitter.split(b"34\n1234\n") == [b"1234", b"1234"]


def test_cap_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_line_bytes"):
        LineSplitter(0)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"")), max_size=10),
    st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"")),
    st.integers(1, 10),
    st.data(),
)
def test_any_chunking_yields_the_same_lines(
    lines: list[bytes], rest: bytes, cap: int, data: st.DataObject
) -> None:
    body = b"".join(line + b"\n" for line in lines) + rest
    points = sorted(set(data.draw(st.lists(st.integers(0, len(body)), max_size=15))))
    bounds = [0, *points, len(body)]
    splitter = LineSplitter(cap)
    got: list[bytes] = []
    for a, b in pairwise(bounds):
        got.extend(splitter.split(body[a:b]))
    assert got == [line for line in lines if len(line) <= cap]
    assert splitter.tail() == (rest if rest and len(rest) <= cap else None)
    dropped = sum(len(line) > cap for line in lines) + (len(rest) > cap)
    assert splitter.skipped == dropped
