"""The public surface the lead wires: names pinned, server usable as documented."""

from __future__ import annotations

import aiohttp
from aiohttp import web

import telemetry.emulator as emulator
from telemetry.emulator import EmulatorConfig, EmulatorServer, build_emulator_app


def test_exported_names() -> None:
    assert sorted(emulator.__all__) == sorted(
        [
            "DEFAULT_MODELS",
            "FAULTS",
            "EmulatedModel",
            "EmulatorConfig",
            "EmulatorServer",
            "EmulatorStats",
            "build_emulator_app",
        ]
    )
    for name in emulator.__all__:
        assert getattr(emulator, name) is not None


def test_build_emulator_app_returns_application() -> None:
    assert isinstance(build_emulator_app(EmulatorConfig()), web.Application)


async def test_config_changes_apply_to_next_request() -> None:
    async with EmulatorServer(EmulatorConfig(ttft_seconds=0, tokens_per_second=0)) as emu:
        async with aiohttp.ClientSession() as session:
            body = {"model": "llama3.2:3b", "prompt": "x", "stream": False}
            emu.config.output_tokens = 2
            async with session.post(emu.url + "/api/generate", json=body) as resp:
                assert (await resp.json())["eval_count"] == 2
            emu.config.version = "9.9.9"
            async with session.get(emu.url + "/api/version") as resp:
                assert await resp.json() == {"version": "9.9.9"}
        assert emu.stats.completed == 2 and emu.stats.requests == 2
