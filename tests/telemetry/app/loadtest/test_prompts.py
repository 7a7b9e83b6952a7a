"""Synthetic prompts: the stated estimate (3 words per 4 tokens), a different text per request,
and what the emulator counts for them."""

from __future__ import annotations

import pytest

from telemetry.app.loadtest._prompts import WORDS_PER_TOKEN, prompt_text


@pytest.mark.parametrize("tokens", [8, 64, 1024])
def test_prompt_has_three_words_per_four_tokens(tokens: int) -> None:
    words = len(prompt_text(tokens, 1).split())
    assert abs(words - tokens * WORDS_PER_TOKEN) <= 1


def test_no_two_prompts_share_a_prefix() -> None:
    first, second = prompt_text(64, 1), prompt_text(64, 2)
    assert first.split()[:2] != second.split()[:2] and first == prompt_text(64, 1)
    assert prompt_text(64, 1).isascii()
