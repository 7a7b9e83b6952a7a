"""Pull each model through Ollama's `/api/pull` (streamed progress), then load it with the
configured keep-alive: an empty `/api/generate`, or an empty `/api/embed` for models that only
embed (Ollama answers 400 to a generate for those). `/api/ps` then says where it landed."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import aiohttp

from exporters._ollama import model_key, parse_ps
from telemetry.app.doctor._ollama_checks import placement

PROGRESS_STEP = 10  # percent between two progress lines of one layer


@dataclass(frozen=True, slots=True)
class WarmResult:
    model: str
    ok: bool
    detail: str


class _Failed(Exception):
    pass


class _Progress:
    """One line per status change, and per PROGRESS_STEP percent of a download."""

    def __init__(self, model: str, out: Callable[[str], None]) -> None:
        self._model, self._out = model, out
        self._last: tuple[str, int] = ("", -PROGRESS_STEP)

    def update(self, event: dict[str, object]) -> None:
        status = str(event.get("status", ""))
        total, done = event.get("total"), event.get("completed")
        if isinstance(total, int) and isinstance(done, int) and total > 0:
            percent = min(100, done * 100 // total)
            if status == self._last[0] and percent - self._last[1] < PROGRESS_STEP:
                return
            self._last = (status, percent)
            self._out(f"{self._model}: {status} {percent}% of {total / 1e9:.1f} GB")
        elif status != self._last[0]:
            self._last = (status, -PROGRESS_STEP)
            self._out(f"{self._model}: {status}")


async def _pull(
    session: aiohttp.ClientSession, base: str, model: str, out: Callable[[str], None]
) -> None:
    progress = _Progress(model, out)
    async with session.post(base + "/api/pull", json={"model": model, "stream": True}) as resp:
        if resp.status != 200:
            raise _Failed(f"pull answered HTTP {resp.status}: {(await resp.text())[:200]}")
        async for raw in resp.content:
            if not raw.strip():
                continue
            event = json.loads(raw)
            if not isinstance(event, dict):
                raise _Failed("pull sent something that is not a progress object")
            if "error" in event:
                raise _Failed(f"pull failed: {event['error']}")
            progress.update(event)
            if event.get("status") == "success":
                return
    raise _Failed("pull ended before Ollama reported success")


async def _load(session: aiohttp.ClientSession, base: str, model: str, keep_alive: str) -> None:
    body = {"model": model, "keep_alive": keep_alive, "stream": False}
    async with session.post(base + "/api/generate", json=body) as resp:
        if resp.status == 200:
            await resp.read()
            return
        refused = (await resp.text())[:200]
    if resp.status != 400:
        raise _Failed(f"load answered HTTP {resp.status}: {refused}")
    embed = {"model": model, "input": [], "keep_alive": keep_alive}
    async with session.post(base + "/api/embed", json=embed) as resp:
        if resp.status != 200:
            raise _Failed(f"load answered HTTP {resp.status}: {(await resp.text())[:200]}")
        await resp.read()


async def _where(session: aiohttp.ClientSession, base: str, model: str) -> str:
    async with session.get(base + "/api/ps") as resp:
        loaded = parse_ps(await resp.json(content_type=None)) if resp.status == 200 else ()
    for residency in loaded:
        if model_key(residency.name) == model_key(model):
            return placement(residency)
    return "not listed by /api/ps"


async def warm(
    base_url: str,
    models: Sequence[str],
    keep_alive: str,
    out: Callable[[str], None],
    *,
    idle_seconds: float = 300.0,
) -> list[WarmResult]:
    """Pull and load each model in turn; one failing does not stop the others."""
    base = base_url.rstrip("/")
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=idle_seconds)
    results = []
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for model in models:
            try:
                await _pull(session, base, model, out)
                await _load(session, base, model, keep_alive)
                where = await _where(session, base, model)
            except (_Failed, aiohttp.ClientError, TimeoutError, ValueError) as exc:
                reason = str(exc) or type(exc).__name__
                results.append(WarmResult(model, False, reason))
                continue
            results.append(WarmResult(model, True, f"loaded ({where}), keep_alive {keep_alive}"))
    return results
