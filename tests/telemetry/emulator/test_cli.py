"""`ollama-sidecar emulate` in a real subprocess: starts, answers, stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import urllib.request

import pytest

ENTRY_POINTS = [
    pytest.param(["-m", "telemetry.emulator.cli"], id="module"),
    pytest.param(["-m", "telemetry.app.cli", "emulate"], id="dispatcher"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.slow
@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_cli_serves_until_sigterm(entry: list[str]) -> None:
    port = _free_port()
    args = [
        sys.executable,
        *entry,
        "--listen",
        f"127.0.0.1:{port}",
        "--ttft",
        "0",
        "--output-tokens",
        "3",
    ]
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line == f"emulating Ollama on http://127.0.0.1:{port}\n"
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
                assert resp.read() == b"Ollama is running"
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/generate",
                data=b'{"model":"llama3.2:3b","prompt":"x","stream":false}',
            )
            with urllib.request.urlopen(request, timeout=5) as resp:
                assert b'"eval_count":3' in resp.read()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.stderr is not None and "Traceback" not in proc.stderr.read()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("flags", "code"),
    [(["--listen", "nowhere"], 2), (["--fault", "meltdown"], 2), (["--fault-share", "2"], 2)],
)
def test_cli_bad_flags_exit_2_without_traceback(flags: list[str], code: int) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "telemetry.emulator.cli", *flags],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == code
    assert "Traceback" not in result.stderr and result.stderr


@pytest.mark.slow
def test_cli_port_in_use_exits_1() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "telemetry.emulator.cli", "--listen", f"127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert result.returncode == 1 and "cannot listen" in result.stderr
    assert "Traceback" not in result.stderr
