"""Fixtures: the real emulator as upstream and a real sidecar in front of it, both on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from telemetry import RequestRecord, load_config
from telemetry.app._sidecar import Components, Sidecar
from telemetry.core._config import Config
from telemetry.emulator import EmulatorConfig, EmulatorServer


class RecordingSink:
    """Collects finished records so tests can wait for them."""

    def __init__(self) -> None:
        self.records: list[RequestRecord] = []
        self._event = asyncio.Event()

    def submit(self, record: RequestRecord) -> None:
        self.records.append(record)
        self._event.set()

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[RequestRecord]:
        async with asyncio.timeout(timeout):
            while len(self.records) < count:
                self._event.clear()
                await self._event.wait()
        return self.records


@dataclass
class Running:
    sidecar: Sidecar
    upstream: str
    sink: RecordSink
    spans: InMemorySpanExporter
    registry: CollectorRegistry
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sidecar.listen_port}"

    @property
    def admin(self) -> str:
        return f"http://127.0.0.1:{self.sidecar.admin_port}"

    def sample(self, name: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(name, labels)

    async def scraped(self, name: str, **labels: str) -> float | None:
        """One sample of a real scrape of the admin listener's `/metrics`."""
        async with aiohttp.ClientSession() as session:
            async with session.get(self.admin + "/metrics") as response:
                assert response.status == 200
                text = await response.text()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and sample.labels == labels:
                    return sample.value
        return None


RecordSink = RecordingSink

FAST = EmulatorConfig(ttft_seconds=0.0, tokens_per_second=0.0, output_tokens=8)


def sidecar_config(upstream: str, toml: str = "", tmp_path: Any = None, **proxy: Any) -> Config:
    path = None
    if toml:
        path = tmp_path / "sidecar.toml"
        path.write_text(toml)
    overrides = {
        "proxy": {
            "listen": "127.0.0.1:0",
            "admin_listen": "127.0.0.1:0",
            "upstream": upstream,
            "data_dir": tmp_path,
            **proxy,
        }
    }
    return load_config(path, env={}, overrides=overrides)


@pytest.fixture
async def emulator() -> AsyncIterator[EmulatorServer]:
    async with EmulatorServer(
        EmulatorConfig(ttft_seconds=0.0, tokens_per_second=0.0, output_tokens=8)
    ) as emu:
        yield emu


StartSidecar = Callable[..., Any]


@pytest.fixture
async def start_sidecar(tmp_path: Any) -> AsyncIterator[StartSidecar]:
    started: list[Sidecar] = []

    async def start(
        upstream: str, toml: str = "", components: Components | None = None, **proxy: Any
    ) -> Running:
        config = sidecar_config(upstream, toml, tmp_path, **proxy)
        registry = CollectorRegistry()
        spans = InMemorySpanExporter()
        sink = RecordingSink()
        sidecar = Sidecar(
            config,
            env={},
            registry=registry,
            components=components or Components(),
            extra_sinks=[("test", sink)],
            span_processors=[SimpleSpanProcessor(spans)],
        )
        await sidecar.start()
        started.append(sidecar)
        return Running(sidecar, upstream, sink, spans, registry)

    yield start
    for sidecar in started:
        await sidecar.stop()


@pytest.fixture
async def proxied(emulator: EmulatorServer, start_sidecar: StartSidecar) -> Running:
    running: Running = await start_sidecar(emulator.url)
    running.extra["emulator"] = emulator
    return running


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        yield session


class _NoLog:
    async def read(self, path: str) -> tuple[bytes, bool] | None:
        return None


class FakeReceipts:
    """Stands in for the receipt service: the proxy then commits to content (salt, hashes)."""

    verifier_key = "fake+00000000+AA"

    def __init__(self) -> None:
        self.submitted: list[RequestRecord] = []

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def submit(self, record: RequestRecord) -> None:
        self.submitted.append(record)

    def span_exporter(self) -> Any:
        return InMemorySpanExporter()

    def admin_routes(self) -> list[Any]:
        return []

    def readiness(self) -> tuple[bool, str]:
        return True, "fake receipts"

    def announce_admin(self, url: str) -> None: ...

    def log_files(self) -> Any:
        return _NoLog()

    def flush(self, timeout: float = 5.0, *, checkpoint: bool = False) -> bool:
        return True

    def receipt_lookup(self) -> FakeLookup:
        return FakeLookup()


class FakeLookup:
    """A receipt store that knows no receipt."""

    async def lookup(
        self, request_id: str, salt: bytes, wait: float
    ) -> tuple[bytes, bytes | None] | None:
        return None
