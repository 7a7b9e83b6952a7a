"""The checklist in its stable order, and its table form."""

from __future__ import annotations

from collections.abc import Sequence

from exporters import GpuSnapshot, OllamaClient
from telemetry.app.doctor import _host_checks as hc
from telemetry.app.doctor import _ollama_checks as oc
from telemetry.app.doctor._check import Check, Status
from telemetry.app.doctor._host import Host
from telemetry.core import Config

CHECK_NAMES = (
    "gpu_stack",
    "ollama_reachable",
    "ollama_version",
    "ollama_loopback_only",
    "models_pulled",
    "proxy_protected",
    "key_file_mode",
    "container_path",
    "data_dir_space",
    "clock",
)


async def run_checks(
    config: Config, host: Host, snapshot: GpuSnapshot | None, client: OllamaClient
) -> list[Check]:
    """Every check, each on its own: one failing never stops the others."""
    facts = await oc.ollama_facts(client, config.proxy.upstream)
    return [
        hc.gpu_stack(config, snapshot),
        oc.reachable(facts),
        oc.version(facts, config),
        oc.loopback_only(facts, host),
        oc.models_pulled(facts, config),
        hc.proxy_protected(config),
        hc.key_file_mode(config),
        hc.container_path(config, host),
        hc.data_dir_space(config),
        hc.clock(host),
    ]


def render(checks: Sequence[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = []
    for check in checks:
        lines.append(f"{check.status.value}  {check.name:<{width}}  {check.detail}")
        if check.fix and check.status is not Status.PASS:
            lines.append(f"{'':4}  {'':<{width}}  fix: {check.fix}")
    counts = {s: sum(c.status is s for c in checks) for s in Status}
    lines.append(", ".join(f"{n} {s.value}" for s, n in counts.items()))
    return "\n".join(lines) + "\n"
