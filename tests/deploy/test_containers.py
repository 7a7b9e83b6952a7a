"""The image definition and the compose files, checked without a container engine: the YAML
parses (with compose's !reset tag), the merged Linux view uses host networking, provider
containers point at the sidecar and never at Ollama, and healthchecks ask /readyz."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose"
CONTAINERFILE = ROOT / "deploy" / "container" / "Containerfile"


class Reset:
    """Compose's `!reset`: the override removes the base's value."""


class ComposeLoader(yaml.SafeLoader):
    pass


ComposeLoader.add_constructor("!reset", lambda loader, node: Reset())


def load(name: str) -> dict[str, Any]:
    document = yaml.load((COMPOSE / name).read_text(), Loader=ComposeLoader)
    assert isinstance(document, dict)
    return document


def merge(base: Any, override: Any) -> Any:
    """Compose's merge for what these files use: mappings merge, other values replace."""
    if isinstance(override, Reset):
        return None
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge(base.get(key), value)
        return {k: v for k, v in merged.items() if v is not None}
    return override


def test_macos_base() -> None:
    base = load("compose.yaml")
    sidecar, provider = base["services"]["sidecar"], base["services"]["provider"]
    assert provider["environment"]["OLLAMA_BASE_URL"] == "http://host.docker.internal:11435"
    assert provider["depends_on"] == {"sidecar": {"condition": "service_healthy"}}
    assert sidecar["environment"]["OLLAMA_BASE_URL"] == "http://host.docker.internal:11434"
    # Listening beyond loopback inside the container needs the token, and it is there.
    assert sidecar["environment"]["OLLAMA_SIDECAR_AUTH_TOKEN_FILE"] == "/run/secrets/sidecar_token"
    assert base["secrets"]["sidecar_token"]["file"] == "./secrets/sidecar_token"
    assert sidecar["ports"] == ["127.0.0.1:11435:11435"]
    assert sidecar["build"]["dockerfile"] == "deploy/container/Containerfile"
    assert (COMPOSE / sidecar["build"]["context"] / sidecar["build"]["dockerfile"]).is_file()


def test_linux_override_uses_the_host_network() -> None:
    merged = merge(load("compose.yaml"), load("compose.linux.yaml"))
    sidecar, provider = merged["services"]["sidecar"], merged["services"]["provider"]
    for service in (sidecar, provider):
        assert service["network_mode"] == "host"
        assert "ports" not in service and "extra_hosts" not in service
    assert provider["environment"]["OLLAMA_BASE_URL"] == "http://127.0.0.1:11435"
    assert sidecar["environment"]["OLLAMA_BASE_URL"] == "http://127.0.0.1:11434"
    assert sidecar["environment"]["OLLAMA_SIDECAR_LISTEN"] == "127.0.0.1:11435"
    assert "command" not in sidecar  # GPU probing on: the host's GPUs are visible


def test_providers_never_talk_to_ollama_directly() -> None:
    for name in ("compose.yaml", "compose.linux.yaml"):
        for service_name, service in load(name)["services"].items():
            if service_name == "sidecar":
                continue
            for value in service.get("environment", {}).values():
                assert ":11434" not in str(value), (name, service_name, value)


def test_healthchecks_ask_readyz() -> None:
    test = load("compose.yaml")["services"]["sidecar"]["healthcheck"]["test"]
    assert test[0] == "CMD" and "http://127.0.0.1:11436/readyz" in test[-1]
    instructions = containerfile()
    assert "/readyz" in instructions["HEALTHCHECK"][0]


def containerfile() -> dict[str, list[str]]:
    """Instruction → arguments, continuation lines joined, comments dropped."""
    found: dict[str, list[str]] = {}
    logical = ""
    for line in CONTAINERFILE.read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        logical += line.rstrip("\\").strip() + " "
        if not line.endswith("\\"):
            keyword, _, rest = logical.strip().partition(" ")
            found.setdefault(keyword, []).append(rest)
            logical = ""
    return found


def test_containerfile() -> None:
    instructions = containerfile()
    assert instructions["FROM"] == ["python:3.11-slim"]
    assert instructions["USER"] == ["10001"]
    assert instructions["ENTRYPOINT"] == ['["ollama-sidecar", "serve"]']
    assert "OLLAMA_SIDECAR_DATA_DIR=/var/lib/ollama-sidecar" in instructions["ENV"][0]
    for copy in instructions["COPY"]:
        *sources, _ = shlex.split(copy)
        for source in sources:
            assert (ROOT / source).exists(), source
