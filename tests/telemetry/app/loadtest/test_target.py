"""The target: URL checks, and a target that does not answer like Ollama is an input error."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from telemetry import ConfigError
from telemetry.app.loadtest._errors import LoadtestError
from telemetry.app.loadtest._target import (
    bearer_headers,
    check_url,
    probe,
    residency,
    same_origin,
)
from telemetry.emulator import EmulatorServer


def test_check_url() -> None:
    assert check_url("http://127.0.0.1:11435/") == "http://127.0.0.1:11435"
    assert check_url("https://gpu.example/ollama") == "https://gpu.example/ollama"
    with pytest.raises(LoadtestError, match="expected an http"):
        check_url("127.0.0.1:11434")
    with pytest.raises(LoadtestError, match="--target: credentials"):
        check_url("http://user:pw@host:11434")
    with pytest.raises(LoadtestError, match="--metrics: expected an http"):
        check_url("127.0.0.1:11436/metrics", "--metrics")


async def test_probe_reads_version_and_models(
    session: aiohttp.ClientSession, emu: EmulatorServer
) -> None:
    info = await probe(session, emu.url, {}, emulated=True)
    assert info.version == "0.32.15" and "llama3.1:8b" in info.models and info.emulated
    assert await residency(session, emu.url, {}) == (0, 0)


async def test_a_target_that_is_not_ollama_is_an_input_error(
    session: aiohttp.ClientSession,
) -> None:
    with pytest.raises(LoadtestError, match="does not answer like Ollama"):
        await probe(session, "http://127.0.0.1:9", {}, emulated=False)


def test_bearer_headers_follow_the_token_file_rules_of_serve(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret-token\n")
    token.chmod(0o600)
    assert bearer_headers(token) == {"Authorization": "Bearer s3cret-token"}
    assert bearer_headers(None) == {}
    token.chmod(0o640)
    with pytest.raises(ConfigError, match=r"^--auth-token-file: .* mode 0640 .*chmod 600"):
        bearer_headers(token)
    token.write_bytes(b"tok\x01en")
    token.chmod(0o600)
    with pytest.raises(LoadtestError, match="printable ASCII"):
        bearer_headers(token)


def test_same_origin_is_scheme_host_and_port() -> None:
    assert same_origin("http://127.0.0.1:11435/metrics", "http://127.0.0.1:11435")
    assert same_origin("http://host/metrics", "http://host:80/ollama")
    assert not same_origin("http://127.0.0.1:11436/metrics", "http://127.0.0.1:11435")
    assert not same_origin("https://host/metrics", "http://host")
    assert not same_origin("http://other/metrics", "http://host")
