"""Ollama's own view: the API client seam, and `/api/ps`, `/api/tags`, `/api/version` parsing.

`OllamaClient` is the seam; `AiohttpOllamaClient` talks HTTP (`exporters.testing` has a fake).
Parsing is strict about types and lenient about missing fields (Ollama omits empty ones,
ollama-api.md §5).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import aiohttp

from exporters._errors import ExporterError
from telemetry.core._record import remote_host_of


class OllamaUnavailable(ExporterError):
    """Ollama did not answer, or answered with something that is not its API."""


class OllamaClient(Protocol):
    async def get_json(self, path: str) -> object:
        """GET `path` and return the decoded JSON; raises `OllamaUnavailable`."""
        ...


@dataclass(frozen=True, slots=True)
class ModelResidency:
    """One `/api/ps` entry: a loaded model and how much of it is in GPU memory."""

    name: str
    model: str
    size_bytes: int
    size_vram_bytes: int
    digest: str | None = None
    # When Ollama will unload it (keep-alive), as Unix seconds; None when not given.
    expires_at: float | None = None


@dataclass(frozen=True, slots=True)
class OllamaView:
    """The last poll: whether Ollama answered, its version, and its loaded models."""

    up: bool
    version: str | None = None
    loaded: tuple[ModelResidency, ...] = ()


def model_key(name: str) -> str:
    """`llama3` and `llama3:latest` name the same model."""
    name = name.strip().lower()
    return name if ":" in name.rsplit("/", 1)[-1] else name + ":latest"


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _unix_seconds(value: Any) -> float | None:
    """Ollama's RFC 3339 time (Go writes up to 9 fractional digits) → Unix seconds."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def parse_ps(body: object) -> tuple[ModelResidency, ...]:
    """`/api/ps` → residencies; entries without a name or sizes are skipped."""
    if not isinstance(body, Mapping) or not isinstance(body.get("models", []), list):
        raise OllamaUnavailable("bad_response", '/api/ps: expected {"models": [...]}')
    out = []
    for item in body.get("models") or []:
        if not isinstance(item, Mapping):
            continue
        name = item.get("name") or item.get("model")
        size, vram = _int(item.get("size")), _int(item.get("size_vram", 0))
        if not isinstance(name, str) or size is None or vram is None:
            continue
        digest = item.get("digest")
        out.append(
            ModelResidency(
                name=name,
                model=str(item.get("model") or name),
                size_bytes=size,
                size_vram_bytes=vram,
                digest=digest if isinstance(digest, str) and digest else None,
                expires_at=_unix_seconds(item.get("expires_at")),
            )
        )
    return tuple(out)


def parse_tags(body: object) -> dict[str, str]:
    """`/api/tags` → {model key: digest}."""
    if not isinstance(body, Mapping) or not isinstance(body.get("models", []), list):
        raise OllamaUnavailable("bad_response", '/api/tags: expected {"models": [...]}')
    digests = {}
    for item in body.get("models") or []:
        if isinstance(item, Mapping):
            name, digest = item.get("name") or item.get("model"), item.get("digest")
            if isinstance(name, str) and isinstance(digest, str) and digest:
                digests[model_key(name)] = digest
    return digests


def parse_remote_hosts(body: object) -> dict[str, str]:
    """`/api/tags` → {model key: remote_host} for cloud models (served by another host)."""
    hosts = {}
    models = body.get("models") if isinstance(body, Mapping) else None
    for item in models if isinstance(models, list) else ():
        if isinstance(item, Mapping) and isinstance(name := item.get("name"), str):
            if (host := remote_host_of(item.get("remote_host"))) is not None:
                hosts[model_key(name)] = host
    return hosts


def parse_version(body: object) -> str | None:
    version = body.get("version") if isinstance(body, Mapping) else None
    return version if isinstance(version, str) and version else None


class AiohttpOllamaClient:
    """`OllamaClient` over one long-lived aiohttp session, created lazily on the loop."""

    def __init__(
        self, base_url: str, *, timeout: float = 2.0, headers: Mapping[str, str] | None = None
    ) -> None:
        self._base = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._headers = dict(headers or {})
        self._session: aiohttp.ClientSession | None = None

    async def get_json(self, path: str) -> object:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout, headers=self._headers)
        try:
            async with self._session.get(self._base + path) as response:
                if response.status != 200:
                    raise OllamaUnavailable("http_error", f"GET {path}: HTTP {response.status}")
                return await response.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise OllamaUnavailable("unreachable", f"GET {path}: {exc!r}") from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
