"""Which GPU processes are Ollama's runners, and which loaded model each one serves.

The heuristic (docs/decisions/0015-gpu-energy-sharing.md, "Processes"):
1. A GPU compute process is Ollama's when it, or an ancestor within `MAX_DEPTH` parents, has a
   `comm` starting with `ollama`: the server (`ollama serve`) spawns one runner per loaded model
   (`ollama runner`, formerly `ollama_llama_server`), so a runner started through a wrapper
   still counts. The driver's PIDs must be in our PID namespace; in a container that is not
   the host's, nothing matches and the fallback below applies.
2. Runners are matched to `/api/ps` models by memory: each runner's GPU memory summed over the
   GPUs against each model's `size_vram`; the closest pairs first, one runner per model,
   accepted within `gpu.runner_match_tolerance` (default 25 %) of `size_vram` (NVML also counts
   the CUDA context; Ollama's figure is its own estimate of weights, KV cache and graph).
3. A matched model's GPUs are those where its runner holds memory. An unmatched model keeps the
   previous rule: GPUs running any Ollama process, else every healthy GPU.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from exporters._ollama import ModelResidency, model_key
from exporters._source import GpuReading

MAX_DEPTH = 8


def _comm(pid: int, proc_root: Path) -> str | None:
    try:
        return (proc_root / str(pid) / "comm").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _parent(pid: int, proc_root: Path) -> int | None:
    """The PPID from /proc/<pid>/stat: the 2nd field after the `(comm)`, which may hold spaces."""
    try:
        stat = (proc_root / str(pid) / "stat").read_text(encoding="utf-8", errors="replace")
        return int(stat.rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def is_ollama_process(pid: int, proc_root: Path = Path("/proc")) -> bool:
    """True when `pid` or one of its ancestors runs Ollama; False when unreadable."""
    current: int | None = pid
    for _ in range(MAX_DEPTH + 1):
        if current is None or current <= 1:
            return False
        comm = _comm(current, proc_root)
        if comm is None:
            return False
        if comm.strip().startswith("ollama"):
            return True
        current = _parent(current, proc_root)
    return False


def runner_gpus(
    devices: Iterable[GpuReading], loaded: Iterable[ModelResidency], *, tolerance: float
) -> dict[str, frozenset[str]]:
    """{model key: UUIDs of the GPUs its runner holds memory on} for the models matched within
    `tolerance` (a fraction of `size_vram`)."""
    memory: dict[int, int] = {}
    gpus: dict[int, set[str]] = {}
    for d in devices:
        if not d.healthy:
            continue
        for p in d.processes or ():
            if p.ollama and p.used_memory_bytes:
                memory[p.pid] = memory.get(p.pid, 0) + p.used_memory_bytes
                gpus.setdefault(p.pid, set()).add(d.uuid)
    models = {model_key(m.name): m.size_vram_bytes for m in loaded if m.size_vram_bytes > 0}
    pairs = sorted(
        (abs(used - vram) / vram, pid, key)
        for pid, used in memory.items()
        for key, vram in models.items()
        if abs(used - vram) <= tolerance * vram
    )
    matched: dict[str, frozenset[str]] = {}
    taken: set[int] = set()
    for _, pid, key in pairs:
        if pid not in taken and key not in matched:
            matched[key] = frozenset(gpus[pid])
            taken.add(pid)
    return matched
