"""The Ollama lines against a fake Ollama API and fake or real socket tables."""

from __future__ import annotations

import re
import socket
from pathlib import Path

from exporters.testing import FakeOllamaClient
from telemetry.app.doctor import Host, Status
from telemetry.app.doctor import _ollama_checks as oc
from telemetry.core import Config, load_config

URL = "http://127.0.0.1:11434"
TAGS = {"models": [{"name": "llama3.1:8b", "digest": "a"}, {"name": "qwen3:0.6b", "digest": "b"}]}


def config(tmp_path: Path, toml: str) -> Config:
    path = tmp_path / "sidecar.toml"
    tiers = re.findall(r"^\[tiers\.([\w-]+)\]", toml, re.M)
    path.write_text((f'default_tier = "{tiers[0]}"\n' if tiers else "") + toml)
    return load_config(path, env={})


async def facts(ps: list[tuple[str, int, int]] | None = None) -> oc.OllamaFacts:
    client = FakeOllamaClient({"/api/version": {"version": "0.12.3"}, "/api/tags": TAGS})
    client.set_ps(*(ps or []))
    return await oc.ollama_facts(client, URL)


async def test_unreachable_fails_and_the_dependent_checks_say_not_checked(tmp_path: Path) -> None:
    down = await oc.ollama_facts(FakeOllamaClient(), URL)
    cfg = config(tmp_path, '[tiers.cpu]\npull = ["qwen3:0.6b"]\n')
    assert oc.reachable(down).status is Status.FAIL
    assert "--upstream" in oc.reachable(down).fix
    for check in (oc.version(down, cfg), oc.models_pulled(down, cfg)):
        assert check.status is Status.WARN and "not checked" in check.detail


async def test_version_against_the_pin(tmp_path: Path) -> None:
    up = await facts()
    assert oc.reachable(up).status is Status.PASS
    unpinned = oc.version(up, config(tmp_path, ""))
    assert unpinned.status is Status.WARN and 'version = "0.12.3"' in unpinned.fix
    assert oc.version(up, config(tmp_path, '[ollama]\nversion = "v0.12.3"\n')).status is Status.PASS
    other = oc.version(up, config(tmp_path, '[ollama]\nversion = "0.11.0"\n'))
    assert other.status is Status.FAIL and "0.12.3 runs" in other.detail


async def test_models_pulled_warm_and_on_which_processor(tmp_path: Path) -> None:
    toml = (
        '[tiers.cpu]\npull = ["qwen3:0.6b"]\nwarm = true\n[tiers.gpu-8gb]\npull = ["llama3.1:8b"]\n'
    )
    cfg = config(tmp_path, toml)
    assert oc.models_pulled(await facts(), cfg).status is Status.WARN  # warm, not loaded
    ok = oc.models_pulled(await facts([("qwen3:0.6b", 100, 40)]), cfg)
    assert ok.status is Status.PASS
    assert ok.detail == "qwen3:0.6b loaded (60%/40% CPU/GPU); llama3.1:8b pulled"
    gpu = oc.models_pulled(await facts([("llama3.1:8b", 100, 100), ("qwen3:0.6b", 9, 0)]), cfg)
    assert gpu.detail == "qwen3:0.6b loaded (100% CPU); llama3.1:8b loaded (100% GPU)"
    missing = oc.models_pulled(
        await facts(), config(tmp_path, '[tiers.gpu-24gb]\npull = ["qwen3:32b"]\n')
    )
    assert missing.status is Status.FAIL
    assert missing.fix == "ollama-sidecar models warm --tier gpu-24gb"
    assert oc.models_pulled(await facts(), config(tmp_path, "")).status is Status.WARN


async def test_loopback_only_reads_the_socket_table(tmp_path: Path) -> None:
    with socket.socket() as exposed:
        exposed.bind(("0.0.0.0", 0))
        exposed.listen()
        port = exposed.getsockname()[1]
        check = oc.loopback_only(oc.OllamaFacts(f"http://127.0.0.1:{port}"), Host())
        assert check.status is Status.FAIL
        assert f"port {port} listens on 0.0.0.0" in check.detail
        assert "OLLAMA_HOST=127.0.0.1:11434" in check.fix
    with socket.socket() as private:
        private.bind(("127.0.0.1", 0))
        private.listen()
        port = private.getsockname()[1]
        check = oc.loopback_only(oc.OllamaFacts(f"http://127.0.0.1:{port}"), Host())
        assert check.status is Status.PASS, check
    blind = oc.loopback_only(oc.OllamaFacts(URL), Host(root=tmp_path, path=str(tmp_path)))
    assert blind.status is Status.WARN and "cannot read listening sockets" in blind.detail
    remote = oc.loopback_only(oc.OllamaFacts("http://10.1.2.3:11434"), Host())
    assert remote.status is Status.WARN and "not on this host" in remote.detail
