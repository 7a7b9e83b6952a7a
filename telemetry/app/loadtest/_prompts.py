"""Synthetic prompts of about the requested number of tokens; no dataset download.

Estimate: English BPE tokenizers (Llama, Qwen, GPT) spend about 4 tokens per 3 words of plain
prose (OpenAI's "100 tokens ~ 75 words"), so a prompt of N tokens is `round(0.75 * N)` common
short words, most of which are one token each. The target's own `prompt_eval_count` is the true
count; the report shows it next to the requested size.

Every prompt starts with its own request number, so no two prompts share a prefix and Ollama's
prompt cache cannot skip the prefill that a real, different prompt would cost.
"""

from __future__ import annotations

import random

WORDS_PER_TOKEN = 0.75
_VOCABULARY = (
    "the of and to in is it that for on was with as be at by this had not are but from or have "
    "an they which one you were all we her she there would their will when who him been has "
    "more if no out so said what up its about than into them can only other new some could "
    "time these two may then do first any my now such like our over man me even most made "
    "after also did many before must through back years where much your way well down should "
    "because each just those people how too little state good very make world still own see "
    "men work long get here between both life being under never day same another know while "
    "last might us great old year off come since against go came right used take three"
).split()


def prompt_text(tokens: int, index: int) -> str:
    """About `tokens` tokens of text, different for every `index`."""
    words = max(round(tokens * WORDS_PER_TOKEN) - 3, 1)
    rng = random.Random(index)
    body = " ".join(rng.choice(_VOCABULARY) for _ in range(words))
    return f"Request {index}: {body}."
