import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp import web

ROOT = Path(__file__).resolve().parents[2]
DISPATCHER = ("telemetry.app.cli", "inventory")
STANDALONE = ("exporters.inventory_cli",)


async def _run(entry: tuple[str, ...], *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", *entry, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )


async def test_json_inventory_against_a_local_ollama() -> None:
    app = web.Application()
    answers = {
        "/api/version": {"version": "0.12.3"},
        "/api/tags": {"models": [{"name": "qwen3:8b", "digest": "abc"}]},
        "/api/ps": {"models": [{"name": "qwen3:8b", "size": 5, "size_vram": 5}]},
    }

    async def handler(request: web.Request) -> web.Response:
        return web.json_response(answers[request.path])

    for path in answers:
        app.router.add_get(path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        done = await _run(DISPATCHER, "--json", "--upstream", f"http://127.0.0.1:{port}")
    finally:
        await runner.cleanup()
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    inv = json.loads(done.stdout)
    assert inv["gpu_backend"] == "cpu" and inv["gpus"] == [] and inv["tier"] == "cpu"
    assert inv["gpu_summary"] == "none found (CPU-only)"
    assert inv["gpu_backends"]["rocm_smi"] == "no_device"
    assert inv["ollama_version"] == "0.12.3" and inv["ollama_models"] == ["qwen3:8b"]
    assert inv["ollama_loaded"] == ["qwen3:8b"]
    assert inv["notes"] == []
    assert inv["cgroup"] and inv["memory_bytes"] > 0


async def test_table_on_a_gpu_less_host_says_so_once_and_nothing_on_stderr() -> None:
    done = await _run(DISPATCHER, "--upstream", "http://127.0.0.1:9")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    rows = dict(line.split(None, 1) for line in done.stdout.splitlines() if " " in line)
    assert rows["tier"].startswith("cpu ")
    assert rows["gpus"] == "none found (CPU-only)"
    assert done.stdout.lower().count("no gpu") + done.stdout.count("CPU-only") == 1
    assert "version unreachable" in rows["ollama"]


@pytest.mark.parametrize("entry", [DISPATCHER, STANDALONE], ids=["dispatcher", "standalone"])
async def test_bad_config_is_exit_2_without_traceback(
    entry: tuple[str, ...], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[nonsense]\n")
    done = await _run(entry, "--config", str(bad))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "unknown config key" in done.stderr and done.stdout == ""
