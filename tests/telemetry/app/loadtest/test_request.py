"""One request of each API against the real emulator, directly and through the real sidecar:
what counts as a timeout (client-enforced, 504, the sidecar's mid-stream line) and as an error."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp
import pytest

from telemetry import Config
from telemetry.app.loadtest._request import Sample, request_body, send
from telemetry.emulator import EmulatorServer
from tests.telemetry.app.loadtest.conftest import FAST_TIERS, fast_config, spec
from tests.telemetry.conftest import StartSidecar


async def _send(
    session: aiohttp.ClientSession, url: str, config: Config, **fields: object
) -> Sample:
    return await send(session, url, spec(config, **fields), 0, time.perf_counter())


@pytest.mark.parametrize("api", ["generate", "chat", "openai"])
async def test_streamed_answer_has_ttft_tokens_and_speed(
    session: aiohttp.ClientSession, emu: EmulatorServer, config: Config, api: str
) -> None:
    sample = await _send(session, emu.url, config, api=api)
    assert (sample.outcome, sample.kind) == ("ok", "")
    assert sample.ttft is not None and 0.05 <= sample.ttft < sample.elapsed
    assert sample.output_tokens == 5
    assert sample.prompt_tokens is not None and sample.prompt_tokens > 10
    if api != "openai":  # Ollama's own clock: load_duration + prompt_eval_duration
        assert sample.server_ttft is not None and 0.05 <= sample.server_ttft <= sample.ttft
    # 100 tokens/s in the emulator: Ollama's eval counts say so (openai: measured after TTFT).
    assert sample.tokens_per_second is not None and 60 < sample.tokens_per_second < 130


@pytest.mark.parametrize("api", ["generate", "openai"])
async def test_unstreamed_answer_has_no_ttft(
    session: aiohttp.ClientSession, emu: EmulatorServer, config: Config, api: str
) -> None:
    sample = await _send(session, emu.url, config, api=api, stream=False)
    assert sample.outcome == "ok" and sample.ttft is None and sample.output_tokens == 5


def test_output_size_is_sent_as_num_predict_or_max_tokens(config: Config) -> None:
    assert request_body(spec(config), 1)["options"] == {"num_predict": 5}
    body = request_body(spec(config, api="openai"), 1)
    assert body["max_tokens"] == 5 and body["stream_options"] == {"include_usage": True}
    assert request_body(spec(config), 1)["prompt"] != request_body(spec(config), 2)["prompt"]


async def test_no_first_token_within_the_tier_ttft_timeout_is_a_timeout(
    session: aiohttp.ClientSession, emu: EmulatorServer, config: Config
) -> None:
    emu.config.fault = "stall_before"
    sample = await _send(session, emu.url, config)
    assert (sample.outcome, sample.kind) == ("timeout", "ttft_timeout")
    assert 0.4 <= sample.elapsed < 1.0  # the tier's 0.4 s, enforced by the client


async def test_stall_after_the_first_token_hits_the_total_timeout(
    session: aiohttp.ClientSession, emu: EmulatorServer, config: Config
) -> None:
    emu.config.fault = "stall_midstream"
    sample = await _send(session, emu.url, config)
    assert (sample.outcome, sample.kind) == ("timeout", "total_timeout")
    assert sample.ttft is not None and 2.0 <= sample.elapsed < 2.6


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        ("busy", "http_503"),
        ("error_midstream", "stream_error"),
        ("garbage", "malformed"),
        ("disconnect", "connection"),
    ],
)
async def test_failures_are_errors_not_timeouts(
    session: aiohttp.ClientSession, emu: EmulatorServer, config: Config, fault: str, kind: str
) -> None:
    emu.config.fault = fault
    sample = await _send(session, emu.url, config)
    assert (sample.outcome, sample.kind) == ("error", kind)
    assert sample.tokens_per_second is None


async def test_unknown_model_is_an_error(
    session: aiohttp.ClientSession, emu: EmulatorServer, config: Config
) -> None:
    sample = await _send(session, emu.url, config, model="nope:1b")
    assert (sample.outcome, sample.kind) == ("error", "http_404")


async def test_sidecar_timeouts_count_as_timeouts(
    session: aiohttp.ClientSession,
    emu: EmulatorServer,
    start_sidecar: StartSidecar,
    tmp_path: Path,
) -> None:
    # The sidecar's tier times out sooner than the load test's: its 504 and its mid-stream
    # timeout line are what the load test sees.
    sidecar_tier = FAST_TIERS.replace("ttft_timeout_seconds = 0.4", "ttft_timeout_seconds = 0.2")
    sidecar = await start_sidecar(emu.url, sidecar_tier + "idle_timeout_seconds = 0.3\n")
    patient = fast_config(tmp_path, FAST_TIERS.replace("= 0.4", "= 1.5"))
    emu.config.fault = "stall_before"
    before = await _send(session, sidecar.url, patient)
    assert (before.outcome, before.kind) == ("timeout", "gateway_timeout")
    emu.config.fault = "stall_midstream"
    midstream = await _send(session, sidecar.url, patient)
    assert (midstream.outcome, midstream.kind) == ("timeout", "sidecar_timeout")
