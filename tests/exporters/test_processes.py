"""Ollama's runners among the GPU processes (PID ancestry in a fake /proc) and the model each
serves (memory against `/api/ps`)."""

from __future__ import annotations

from pathlib import Path

from exporters._ollama import ModelResidency
from exporters._processes import is_ollama_process, runner_gpus
from exporters._source import GpuProcess
from exporters.testing import fake_reading

GIB = 1 << 30


def proc(root: Path, pid: int, comm: str, ppid: int) -> None:
    d = root / str(pid)
    d.mkdir()
    (d / "comm").write_text(comm + "\n")
    (d / "stat").write_text(f"{pid} ({comm}) S {ppid} {pid} {pid} 0 -1 4194560 0 0\n")


def test_a_runner_is_ollamas_through_its_parents(tmp_path: Path) -> None:
    proc(tmp_path, 100, "ollama", 1)  # ollama serve
    proc(tmp_path, 200, "sh", 100)  # a wrapper
    proc(tmp_path, 300, "python3 (x) y", 200)  # a comm with spaces and parentheses
    proc(tmp_path, 400, "python3", 1)  # someone else's CUDA job
    proc(tmp_path, 500, "ollama_llama_se", 1)  # an older runner, named itself
    assert is_ollama_process(300, tmp_path)
    assert is_ollama_process(500, tmp_path)
    assert not is_ollama_process(400, tmp_path)
    assert not is_ollama_process(999, tmp_path)  # gone, or in another PID namespace


def test_runners_match_models_by_memory_and_name_their_gpus() -> None:
    small = ModelResidency("small:8b", "small:8b", 6 * GIB, 6 * GIB)
    big = ModelResidency("big:70b", "big:70b", 44 * GIB, 40 * GIB)
    cpu = ModelResidency("cpu:3b", "cpu:3b", 2 * GIB, 0)
    devices = (
        fake_reading(0, processes=(GpuProcess(11, int(6.4 * GIB), True),)),
        fake_reading(1, processes=(GpuProcess(22, 20 * GIB, True), GpuProcess(9, GIB, False))),
        fake_reading(2, processes=(GpuProcess(22, 21 * GIB, True),)),
        fake_reading(3, processes=(GpuProcess(33, 3 * GIB, True),)),  # matches nothing
    )
    found = runner_gpus(devices, (small, big, cpu), tolerance=0.25)
    assert found == {
        "small:8b": frozenset({devices[0].uuid}),
        "big:70b": frozenset({devices[1].uuid, devices[2].uuid}),
    }
    lost = (devices[0].down("lost"), *devices[1:])
    assert "small:8b" not in runner_gpus(lost, (small, big), tolerance=0.25)


def test_a_runner_outside_the_tolerance_matches_no_model() -> None:
    model = ModelResidency("m:8b", "m:8b", 6 * GIB, 6 * GIB)
    devices = (fake_reading(0, processes=(GpuProcess(11, int(6.4 * GIB), True),)),)
    assert runner_gpus(devices, (model,), tolerance=0.07) == {"m:8b": frozenset({devices[0].uuid})}
    assert runner_gpus(devices, (model,), tolerance=0.06) == {}
