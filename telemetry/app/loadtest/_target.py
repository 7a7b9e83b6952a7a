"""The target: any Ollama-compatible URL, or the built-in emulator when none is given."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from yarl import URL

from telemetry.app._sidecar import read_auth_token
from telemetry.app.loadtest._errors import LoadtestError
from telemetry.emulator import EmulatorConfig

# The emulator a target-less load test runs against: quick enough for a full default matrix in
# about half a minute; `num_predict` caps the long default reply to each run's output size.
REHEARSAL = EmulatorConfig(ttft_seconds=0.05, tokens_per_second=400.0, output_tokens=4096)


@dataclass(frozen=True, slots=True)
class TargetInfo:
    url: str
    version: str | None
    models: tuple[str, ...]
    emulated: bool


def check_url(url: str, flag: str = "--target") -> str:
    if not url.startswith(("http://", "https://")):
        raise LoadtestError(f"{flag}: expected an http:// or https:// URL, got {url!r}")
    if "@" in url.split("://", 1)[1].split("/", 1)[0]:
        raise LoadtestError(f"{flag}: credentials in the URL are not supported")
    return url.rstrip("/")


def bearer_headers(path: Path | None) -> dict[str, str]:
    """`Authorization: Bearer` from a token file with the mode rules of `serve`'s own."""
    token = read_auth_token(path, "--auth-token-file")
    if token is None:
        return {}
    text = token.decode("ascii", "replace")
    if not text.isprintable():
        raise LoadtestError("--auth-token-file: the token must be printable ASCII")
    return {"Authorization": f"Bearer {text}"}


def same_origin(url: str, other: str) -> bool:
    """Whether two URLs share scheme, host and port: the token goes to the target's origin only."""
    a, b = URL(url), URL(other)
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


async def _get(session: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> Any:
    async with session.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=10)) as r:
        r.raise_for_status()
        return await r.json(content_type=None)


async def probe(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], *, emulated: bool
) -> TargetInfo:
    """Ask the target its version and models; a target that does not answer is an input error."""
    try:
        version = (await _get(session, url + "/api/version", headers)).get("version")
        tags = await _get(session, url + "/api/tags", headers)
    except (aiohttp.ClientError, TimeoutError, ValueError, AttributeError) as exc:
        if isinstance(exc, aiohttp.ClientResponseError) and exc.status in (401, 403):
            hint = (
                "refused the token of --auth-token-file"
                if headers
                else "needs a bearer token: pass --auth-token-file FILE (the sidecar's token file)"
            )
            raise LoadtestError(f"target {url} answered {exc.status}: it {hint}") from exc
        raise LoadtestError(
            f"target {url} does not answer like Ollama: {exc or type(exc).__name__}"
        ) from exc
    models = tuple(
        m["name"] for m in tags.get("models") or () if isinstance(m, dict) and "name" in m
    )
    return TargetInfo(url, version if isinstance(version, str) else None, models, emulated)


async def residency(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str]
) -> tuple[int, int]:
    """(models loaded, their bytes in VRAM) from `/api/ps`."""
    ps = await _get(session, url + "/api/ps", headers)
    models = [m for m in ps.get("models") or () if isinstance(m, dict)]
    return len(models), sum(int(m.get("size_vram") or 0) for m in models)
