"""Client text, bounded and escaped: clean names unchanged, everything else valid UTF-8 within the
limit, and distinct inputs stay distinct."""

from __future__ import annotations

import random

import pytest

from telemetry.core._text import ELLIPSIS, MAX_MODEL_CHARS, bounded_text


@pytest.mark.parametrize("name", ["llama3.2:1b", "hf.co/org/Model-GGUF:Q4_K_M", "модель:7b", "😀"])
def test_clean_names_are_kept(name: str) -> None:
    assert bounded_text(name, MAX_MODEL_CHARS) is name


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("fake\ud800", "fake\\ud800"),
        ("a\x00b\n", "a\\x00b\\x0a"),
        ("back\\slash", "back\\x5cslash"),
        ("rtl\u202eoverride", "rtl\\u202eoverride"),
        ("tag\U000e0041", "tag\\U000e0041"),
    ],
)
def test_unprintable_characters_and_backslash_are_escaped(raw: str, shown: str) -> None:
    assert bounded_text(raw, MAX_MODEL_CHARS) == shown


def test_long_values_are_cut_with_an_ellipsis() -> None:
    assert bounded_text("x" * 300, 10) == "x" * 9 + ELLIPSIS
    assert bounded_text("x" * 10, 10) == "x" * 10
    assert bounded_text("\x00" * 300, 10) == "\\x00\\x00" + ELLIPSIS  # no escape is split
    assert len(bounded_text("y" * (16 << 20) + "\x00", MAX_MODEL_CHARS)) == MAX_MODEL_CHARS


def test_random_text_is_always_bounded_valid_utf8_and_injective_when_short() -> None:
    rng = random.Random(8)
    seen: dict[str, str] = {}
    for _ in range(3000):
        raw = "".join(
            chr(rng.choice([rng.randrange(0x110000), rng.randrange(128)]))
            for _ in range(rng.randrange(12))
        )
        shown = bounded_text(raw, 128)  # 12 escapes of 10 fit: never cut
        assert len(shown) <= 128
        shown.encode("utf-8")  # no lone surrogate survives
        assert shown.isprintable()
        assert seen.setdefault(shown, raw) == raw
