"""A bridged container, stood in for by two network namespaces joined by a veth pair: the sidecar
answers from the "container" with the token (and refuses without it), Ollama's port does not
answer at all, and `doctor` inside the "host" sees Ollama bound to loopback only.

The namespaces, the veth pair and the 10.213.13.0/30 addresses exist only for the test: nothing
is added to this machine's own network namespace, and all of it is removed afterwards."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.telemetry.app._procs import ROOT, cli, emulator, serve

pytestmark = pytest.mark.slow

HOST_IP, CONTAINER_IP = "10.213.13.1", "10.213.13.2"
TOKEN = "netns-test-token"

# Runs inside the container namespace; prints what it could reach.
PROBE = f"""
import json, socket, time, urllib.error, urllib.request
def call(path, headers, body=None):
    request = urllib.request.Request("http://{HOST_IP}:11435" + path, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""
auth = {{"Authorization": "Bearer {TOKEN}"}}
deadline = time.monotonic() + 30
while True:
    try:
        tags = call("/api/tags", auth)
        if tags[0] == 200:  # the sidecar is up and the emulator behind it too
            break
    except OSError:
        pass
    if time.monotonic() > deadline:
        raise SystemExit("the sidecar did not answer within 30 s")
    time.sleep(0.1)
body = b'{{"model": "llama3.1:8b", "prompt": "hi", "stream": false}}'
generate = call("/api/generate", auth, body)
try:
    socket.create_connection(("{HOST_IP}", 11434), timeout=3).close()
    ollama = "connected"
except OSError as exc:
    ollama = type(exc).__name__
print(json.dumps({{"tags": tags[0], "anonymous": call("/api/tags", {{}})[0],
    "generate": generate[0], "done": '"done":true' in generate[1], "ollama": ollama}}))
"""


@dataclass(frozen=True)
class Pair:
    host: str
    container: str


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)


def netns_exec(namespace: str) -> list[str]:
    return ["ip", "netns", "exec", namespace]


@pytest.fixture
def pair() -> Iterator[Pair]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and `ip` (Debian package iproute2) for network namespaces")
    tag = str(os.getpid())
    names = Pair(f"f13h{tag}", f"f13c{tag}")
    made: list[str] = []
    try:
        for namespace in (names.host, names.container):
            ip("netns", "add", namespace)
            made.append(namespace)
        host_if, container_if = f"vh{tag}", f"vc{tag}"
        ip(
            "link", "add", host_if, "netns", names.host,
            "type", "veth", "peer", "name", container_if, "netns", names.container,
        )  # fmt: skip
        for namespace, device, address in (
            (names.host, host_if, HOST_IP),
            (names.container, container_if, CONTAINER_IP),
        ):
            ip("-n", namespace, "addr", "add", f"{address}/30", "dev", device)
            ip("-n", namespace, "link", "set", device, "up")
            ip("-n", namespace, "link", "set", "lo", "up")
        yield names
    finally:
        for namespace in made:  # deleting a namespace deletes its end of the veth pair too
            ip("netns", "del", namespace)


def test_a_bridged_container_reaches_the_sidecar_and_not_ollama(pair: Pair, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    in_host = netns_exec(pair.host)
    sidecar = serve(
        "http://127.0.0.1:11434",
        tmp_path / "data",
        f"{HOST_IP}:11435",
        "127.0.0.1:11436",
        "--auth-token-file",
        str(token),
        "--no-receipts",
    )
    with cli(emulator("127.0.0.1:11434"), prefix=in_host), cli(sidecar, prefix=in_host):
        probe = subprocess.run(
            [*netns_exec(pair.container), sys.executable, "-c", PROBE],
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert probe.returncode == 0, probe.stderr
        where = ["--upstream", "http://127.0.0.1:11434", "--data-dir", str(tmp_path / "data")]
        doctor = subprocess.run(
            [*in_host, sys.executable, "-m", "telemetry.app.cli", "doctor", "--json", *where],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=90,
        )
    seen = json.loads(probe.stdout)
    assert seen == {
        "tags": 200,
        "anonymous": 401,
        "generate": 200,
        "done": True,
        "ollama": "ConnectionRefusedError",
    }
    checks = {c["name"]: c for c in json.loads(doctor.stdout)["checks"]}
    assert checks["ollama_loopback_only"]["status"] == "PASS", checks["ollama_loopback_only"]
    assert checks["ollama_loopback_only"]["detail"].startswith("port 11434 listens on 127.0.0.1")
