"""The `ollama-sidecar` command as a user runs it, in subprocesses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "telemetry.app.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_help_lists_every_subcommand() -> None:
    result = run("--help")
    assert result.returncode == 0
    for name in ("serve", "emulate", "demo", "inventory", "dashboards"):
        assert name in result.stdout


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[proxy]\nlisten = 'nowhere'\n", "proxy.listen"),
        ("[gpu]\nrunner_match_tolerance = 2\n", "gpu.runner_match_tolerance"),
    ],
)
def test_bad_config_exits_2_with_the_key_named(tmp_path: Path, text: str, key: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text)
    result = run("serve", "--config", str(config))
    assert result.returncode == 2
    assert key in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_non_loopback_without_token_is_refused(tmp_path: Path) -> None:
    result = run("serve", "--listen", "0.0.0.0:0", "--data-dir", str(tmp_path), "--no-gpu")
    assert result.returncode == 2 and "auth-token-file" in result.stderr


@pytest.mark.slow
def test_demo_shows_requests_metrics_and_receipts(tmp_path: Path) -> None:
    result = run("demo", "--data-dir", str(tmp_path / "demo"))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "stalled upstream" in out and "504" in out
    assert '"ok": 6' in out and '"timeout": 1' in out
    assert "ollama_sidecar_receipts_total: 10" in out
    assert "receipts --data-dir" in out
    verify = subprocess.run(
        [sys.executable, "-m", "receipts", "--data-dir", str(tmp_path / "demo"), "verify", "--all"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert verify.returncode == 0, verify.stderr
    assert "10 OK, 0 FAIL" in verify.stderr


def test_busy_port_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(
            "serve",
            "--listen",
            f"127.0.0.1:{port}",
            "--admin-listen",
            "127.0.0.1:0",
            "--data-dir",
            str(tmp_path),
            "--no-gpu",
            "--no-receipts",
        )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "ollama-sidecar:" in result.stderr


@pytest.mark.parametrize("uvloop_installed", [True, False])
def test_loop_errors_do_not_carry_the_uvloop_import_error(
    uvloop_installed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from telemetry.core._runtime import run as run_loop

    if not uvloop_installed:
        monkeypatch.setitem(sys.modules, "uvloop", None)  # `import uvloop` raises ImportError

    async def fails() -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError) as raised:
        run_loop(fails())
    assert raised.value.__context__ is None and raised.value.__cause__ is None
