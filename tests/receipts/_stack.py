"""A real sidecar with the real receipt service in front of the emulator, for requestor tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from receipts import ReceiptService, ReceiptStore
from telemetry import load_config
from telemetry.app._sidecar import Components, Sidecar
from telemetry.emulator import EmulatorConfig, EmulatorServer


@dataclass
class Stack:
    sidecar: Sidecar
    receipts: ReceiptService
    emulator: EmulatorServer

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sidecar.listen_port}"

    @property
    def key(self) -> str:
        return self.receipts.verifier_key


@asynccontextmanager
async def requestor_stack(
    data_dir: Path,
    *,
    checkpoint_interval: float = 0.2,
    store: ReceiptStore | None = None,
    emulator: EmulatorConfig | None = None,
    receipts: dict[str, Any] | None = None,
    **proxy: Any,
) -> AsyncIterator[Stack]:
    async with EmulatorServer(
        emulator or EmulatorConfig(ttft_seconds=0.0, tokens_per_second=0.0, output_tokens=8)
    ) as emu:
        config = load_config(
            env={},
            overrides={
                "proxy": {
                    "listen": "127.0.0.1:0",
                    "admin_listen": "127.0.0.1:0",
                    "upstream": emu.url,
                    "data_dir": data_dir,
                    "log_requests": False,
                    **proxy,
                },
                "gpu": {"enabled": False},
                "receipts": {
                    "flush_interval_seconds": 0.02,
                    "checkpoint_interval_seconds": checkpoint_interval,
                    **(receipts or {}),
                },
            },
        )
        registry = CollectorRegistry()
        service = ReceiptService(config, store=store, registry=registry)
        sidecar = Sidecar(
            config, env={}, registry=registry, components=Components(receipts=service)
        )
        await sidecar.start()
        try:
            yield Stack(sidecar, service, emu)
        finally:
            await sidecar.stop()
