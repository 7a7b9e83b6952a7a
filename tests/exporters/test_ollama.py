"""Ollama's API as the exporters read it: parsing, the aiohttp client against the emulator."""

import socket

import pytest

from exporters import AiohttpOllamaClient, ModelResidency, OllamaUnavailable
from exporters._ollama import (
    model_key,
    parse_ps,
    parse_remote_hosts,
    parse_tags,
    parse_version,
)
from exporters.testing import FakeOllamaClient
from telemetry.emulator import EmulatorConfig, EmulatorServer


def test_cloud_models_are_known_by_their_remote_host() -> None:
    tags = {
        "models": [
            {"name": "gpt-oss:120b-cloud", "remote_model": "gpt-oss:120b",
             "remote_host": "https://ollama.com:443"},
            {"name": "llama3.1:8b", "digest": "a" * 64},
            {"name": "odd-cloud", "remote_host": "not a host"},
            "garbage",
        ]
    }  # fmt: skip
    assert parse_remote_hosts(tags) == {"gpt-oss:120b-cloud": "https://ollama.com:443"}
    assert parse_remote_hosts({"models": None}) == parse_remote_hosts([]) == {}


def test_model_key_names_latest_explicitly() -> None:
    assert model_key("Llama3") == model_key("llama3:latest") == "llama3:latest"
    assert model_key("qwen3:8b") == "qwen3:8b"
    assert model_key("hf.co/org/model") == "hf.co/org/model:latest"
    assert model_key("registry:5000/org/model") == "registry:5000/org/model:latest"


def test_parse_ps_omitted_size_vram_means_cpu_and_bad_entries_are_skipped() -> None:
    body = {
        "models": [
            {"name": "a:1b", "model": "a:1b", "size": 10, "size_vram": 10, "digest": "d1"},
            {"name": "cpu:1b", "size": 10},  # Ollama omits size_vram when it is 0
            {"name": "bad:1b", "size": True},
            {"name": "neg:1b", "size": 10, "size_vram": -1},
            {"size": 10},
            "junk",
        ]
    }
    assert parse_ps(body) == (
        ModelResidency("a:1b", "a:1b", 10, 10, "d1"),
        ModelResidency("cpu:1b", "cpu:1b", 10, 0, None),
    )
    assert parse_ps({}) == ()
    bad: object
    for bad in ([], {"models": {}}, "x"):
        with pytest.raises(OllamaUnavailable) as raised:
            parse_ps(bad)
        assert raised.value.reason == "bad_response"


def test_parse_tags_and_version() -> None:
    tags = {
        "models": [
            {"name": "Qwen3", "digest": "abc"},
            {"name": "x:1b"},
            {"model": "y:2b", "digest": "d"},
        ]
    }
    assert parse_tags(tags) == {"qwen3:latest": "abc", "y:2b": "d"}
    assert parse_version({"version": "0.12.3"}) == "0.12.3"
    assert parse_version({"version": ""}) is None and parse_version([]) is None


async def test_fake_client_answers_and_records() -> None:
    fake = FakeOllamaClient({"/api/version": {"version": "1"}})
    assert await fake.get_json("/api/version") == {"version": "1"}
    fake.set_ps(("m:1b", 4, 2))
    assert parse_ps(await fake.get_json("/api/ps"))[0].size_vram_bytes == 2
    with pytest.raises(OllamaUnavailable):
        await fake.get_json("/api/tags")
    assert fake.requests == ["/api/version", "/api/ps", "/api/tags"]


async def test_aiohttp_client_against_the_emulator() -> None:
    config = EmulatorConfig(ttft_seconds=0, tokens_per_second=0)
    async with EmulatorServer(config) as emu:
        client = AiohttpOllamaClient(emu.url + "/")
        try:
            assert parse_version(await client.get_json("/api/version")) == config.version
            assert parse_ps(await client.get_json("/api/ps")) == ()
            digests = parse_tags(await client.get_json("/api/tags"))
            assert {model_key(m.name) for m in config.models} == set(digests)
            with pytest.raises(OllamaUnavailable) as missing:
                await client.get_json("/api/nothing-here")
            assert missing.value.reason == "http_error"
        finally:
            await client.close()
            await client.close()


async def test_aiohttp_client_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: the connection is refused
        client = AiohttpOllamaClient(f"http://127.0.0.1:{port}", timeout=2.0)
        try:
            with pytest.raises(OllamaUnavailable) as refused:
                await client.get_json("/api/ps")
        finally:
            await client.close()
    assert refused.value.reason == "unreachable"
