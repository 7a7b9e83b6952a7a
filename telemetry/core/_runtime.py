"""Running a coroutine on the fastest event loop available (uvloop where installed)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop

        found = True
    except ImportError:
        found = False
    # Outside the `except`: errors the loop raises must not carry the ImportError as context.
    if not found:
        return asyncio.run(main)
    return uvloop.run(main)
