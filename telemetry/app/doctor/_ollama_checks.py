"""The Ollama lines: reachable, pinned version, loopback-only port, tier models pulled and warm."""

from __future__ import annotations

from dataclasses import dataclass

from yarl import URL

from exporters import ModelResidency, OllamaClient, OllamaUnavailable, ollama_processor
from exporters._ollama import model_key, parse_ps, parse_tags, parse_version
from telemetry.app._sidecar import is_loopback
from telemetry.app.doctor._check import Check, failed, passed, warned
from telemetry.app.doctor._host import Host
from telemetry.core import Config, Processor

OLLAMA_LOOPBACK_FIX = (
    "bind Ollama to loopback: OLLAMA_HOST=127.0.0.1:11434 (systemd: "
    "deploy/systemd/ollama.service.d/10-sidecar.conf; macOS: launchctl setenv OLLAMA_HOST "
    "127.0.0.1:11434), then restart Ollama"
)


@dataclass(frozen=True, slots=True)
class OllamaFacts:
    url: str
    error: str | None = None
    version: str | None = None
    pulled: frozenset[str] = frozenset()
    loaded: tuple[ModelResidency, ...] = ()


async def ollama_facts(client: OllamaClient, url: str) -> OllamaFacts:
    try:
        version = parse_version(await client.get_json("/api/version"))
        pulled = frozenset(parse_tags(await client.get_json("/api/tags")))
        loaded = parse_ps(await client.get_json("/api/ps"))
    except OllamaUnavailable as exc:
        # A refused connection's repr is a screenful; its reason word is the fact.
        return OllamaFacts(url, error=exc.reason if exc.reason == "unreachable" else str(exc))
    return OllamaFacts(url, version=version, pulled=pulled, loaded=loaded)


def reachable(facts: OllamaFacts) -> Check:
    if facts.error is not None:
        return failed(
            "ollama_reachable",
            f"Ollama does not answer at {facts.url}: {facts.error}",
            "start Ollama (systemctl start ollama, or `ollama serve`), or point the doctor at "
            "it with --upstream / OLLAMA_BASE_URL / [proxy] upstream",
        )
    return passed("ollama_reachable", f"Ollama answers at {facts.url}")


def version(facts: OllamaFacts, config: Config) -> Check:
    pinned = config.ollama.version
    if facts.error is not None:
        return warned("ollama_version", "not checked: Ollama is unreachable")
    running = facts.version or "unknown"
    if not pinned:
        return warned(
            "ollama_version",
            f"Ollama {running}; no version pinned",
            f'pin it: [ollama] version = "{running}"',
        )
    if running.lstrip("v") != pinned.lstrip("v"):
        return failed(
            "ollama_version",
            f"Ollama {running} runs, the config pins {pinned}",
            f"install Ollama {pinned}, or change [ollama] version after testing {running}",
        )
    return passed("ollama_version", f"Ollama {running}, as pinned")


def loopback_only(facts: OllamaFacts, host: Host) -> Check:
    name = "ollama_loopback_only"
    url = URL(facts.url)
    address = url.host or "127.0.0.1"
    port = url.port or (443 if url.scheme == "https" else 80)
    if not is_loopback(address):
        return warned(
            name,
            f"Ollama is addressed at {address}, not on this host's loopback: its sockets "
            "cannot be read from here",
            "run Ollama on this host bound to 127.0.0.1 and use --upstream http://127.0.0.1:11434",
        )
    listeners = host.listeners()
    if listeners.source is None:
        return warned(name, f"cannot read listening sockets: {listeners.tried}")
    on_port = listeners.on_port(port)
    exposed = sorted({s.address for s in on_port if not s.loopback})
    if exposed:
        return failed(
            name,
            f"port {port} listens on {', '.join(exposed)} (read from {listeners.source}): "
            "Ollama can be reached without the sidecar",
            OLLAMA_LOOPBACK_FIX,
        )
    if not on_port:
        return warned(
            name,
            f"nothing listens on port {port} in this network namespace "
            f"(read from {listeners.source})",
            "start Ollama on this host, or run the doctor where Ollama runs",
        )
    bound = ", ".join(sorted({s.address for s in on_port}))
    return passed(name, f"port {port} listens on {bound} only (read from {listeners.source})")


def placement(residency: ModelResidency) -> str:
    processor = ollama_processor(residency.size_bytes, residency.size_vram_bytes)
    if processor is Processor.PARTIAL:
        share = round(100 * residency.size_vram_bytes / residency.size_bytes)
        return f"{100 - share}%/{share}% CPU/GPU"
    return {Processor.GPU: "100% GPU", Processor.CPU: "100% CPU"}.get(processor, "unknown")


def models_pulled(facts: OllamaFacts, config: Config) -> Check:
    name = "models_pulled"
    tiers = [t for t in config.tiers if t.pull]
    if not tiers:
        return warned(
            name,
            "no tier lists models to pull",
            'list them: [tiers.NAME] pull = ["llama3.1:8b"] (warm = true keeps them loaded)',
        )
    if facts.error is not None:
        return warned(name, "not checked: Ollama is unreachable")
    loaded = {model_key(r.name): r for r in facts.loaded}
    missing, cold, facts_text = [], [], []
    for tier in tiers:
        for model in tier.pull:
            key = model_key(model)
            if key not in facts.pulled:
                missing.append((tier.name, model))
                continue
            residency = loaded.get(key)
            if residency is not None:
                facts_text.append(f"{model} loaded ({placement(residency)})")
            elif tier.warm:
                cold.append((tier.name, model))
            else:
                facts_text.append(f"{model} pulled")
    if missing:
        tiers_missing = sorted({t for t, _ in missing})
        return failed(
            name,
            "not pulled: " + ", ".join(f"{m} (tier {t})" for t, m in missing),
            "; ".join(f"ollama-sidecar models warm --tier {t}" for t in tiers_missing),
        )
    if cold:
        return warned(
            name,
            "pulled but not loaded although warm = true: "
            + ", ".join(f"{m} (tier {t})" for t, m in cold),
            "; ".join(
                f"ollama-sidecar models warm --tier {t}" for t in sorted({t for t, _ in cold})
            ),
        )
    return passed(name, "; ".join(facts_text))
