"""TLS and mTLS on a real `ollama-sidecar serve`: httpx and the official `ollama` client with a
client certificate, refusal at the handshake without one, token + mTLS together, SIGHUP reload
with a stream in flight, and start-up errors that name the bad file."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import ollama
import pytest

from telemetry.app.tls import ServerTls, TlsFiles, write_dev_certs
from telemetry.core import ConfigError
from tests._net import free_port
from tests.telemetry.app._procs import ROOT, cli, emulator, serve, wait_url

pytestmark = pytest.mark.slow


def client_context(certs: Path, *, with_cert: bool = True) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=certs / "ca.crt")
    if with_cert:
        context.load_cert_chain(certs / "client.crt", certs / "client.key")
    return context


@dataclass
class Tls:
    certs: Path
    upstream: str
    port: int
    admin: int
    tmp: Path

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def args(self, *extra: str) -> list[str]:
        return serve(
            self.upstream,
            self.tmp / "data",
            f"127.0.0.1:{self.port}",
            f"127.0.0.1:{self.admin}",
            "--no-receipts",
            "--tls-cert",
            str(self.certs / "server.crt"),
            "--tls-key",
            str(self.certs / "server.key"),
            "--client-ca",
            str(self.certs / "ca.crt"),
            *extra,
        )


@pytest.fixture
def tls(tmp_path: Path) -> Iterator[Tls]:
    certs = tmp_path / "certs"
    write_dev_certs(certs)
    port = free_port()
    # Slow enough that a stream is still open while the certificates change.
    args = emulator(f"127.0.0.1:{port}", "--output-tokens", "40")
    args[args.index("--tokens-per-second") + 1] = "20"
    with cli(args) as emu:
        wait_url(f"http://127.0.0.1:{port}/api/version", emu)
        yield Tls(certs, f"http://127.0.0.1:{port}", free_port(), free_port(), tmp_path)


def started(tls: Tls, proc: subprocess.Popen[bytes]) -> None:
    wait_url(f"https://127.0.0.1:{tls.admin}/healthz", proc, client_context(tls.certs))


def test_httpx_and_the_ollama_client_with_a_client_certificate(tls: Tls) -> None:
    with cli(tls.args()) as proc:
        started(tls, proc)
        context = client_context(tls.certs)
        with httpx.Client(verify=context) as client:
            response = client.post(
                tls.url + "/api/generate", json={"model": "llama3.1:8b", "prompt": "hi"}
            )
        assert response.status_code == 200
        assert response.headers["X-Request-ID"]
        with ollama.Client(host=tls.url, verify=context) as official:
            reply = official.chat(model="llama3.1:8b", messages=[{"role": "user", "content": "hi"}])
        assert reply.message.content
        # The admin listener speaks TLS with the same certificates.
        with httpx.Client(verify=context) as client:
            assert client.get(f"https://127.0.0.1:{tls.admin}/readyz").status_code == 200


def test_a_client_without_a_certificate_is_refused_at_the_handshake(tls: Tls) -> None:
    with cli(tls.args()) as proc:
        started(tls, proc)
        plain = client_context(tls.certs, with_cert=False)
        plain.maximum_version = ssl.TLSVersion.TLSv1_2  # the refusal lands in do_handshake
        with (
            socket.create_connection(("127.0.0.1", tls.port)) as raw,
            plain.wrap_socket(
                raw, server_hostname="127.0.0.1", do_handshake_on_connect=False
            ) as conn,
            pytest.raises(ssl.SSLError),
        ):
            conn.do_handshake()
        with (
            pytest.raises(httpx.TransportError),
            httpx.Client(verify=client_context(tls.certs, with_cert=False)) as client,
        ):
            client.get(tls.url + "/api/tags")
        with (
            ollama.Client(host=tls.url, verify=client_context(tls.certs, with_cert=False)) as bare,
            pytest.raises((httpx.TransportError, ConnectionError)),
        ):
            bare.list()
        with httpx.Client(verify=client_context(tls.certs)) as client:
            metrics = client.get(f"https://127.0.0.1:{tls.admin}/metrics").text
        assert "ollama_sidecar_requests_total{" not in metrics


def test_token_and_mtls_together(tls: Tls) -> None:
    token = tls.tmp / "token"
    token.write_text("s3cret-token\n")
    token.chmod(0o600)
    with cli(tls.args("--auth-token-file", str(token))) as proc:
        started(tls, proc)
        with httpx.Client(verify=client_context(tls.certs)) as client:
            assert client.get(tls.url + "/api/tags").status_code == 401
            ok = client.get(tls.url + "/api/tags", headers={"Authorization": "Bearer s3cret-token"})
            assert ok.status_code == 200
        with (
            pytest.raises(httpx.TransportError),
            httpx.Client(verify=client_context(tls.certs, with_cert=False)) as client,
        ):
            client.get(tls.url + "/api/tags", headers={"Authorization": "Bearer s3cret-token"})


def served_certificate(port: int, certs: Path) -> bytes:
    context = client_context(certs)
    with socket.create_connection(("127.0.0.1", port)) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as conn:
            der = conn.getpeercert(binary_form=True)
    assert der is not None
    return der


def pem_der(path: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(path.read_text())


def replace_files(source: Path, target: Path, *names: str) -> None:
    for name in names:
        shutil.copy(source / name, target / (name + ".new"))
        os.replace(target / (name + ".new"), target / name)


def test_sighup_reloads_certificates_without_dropping_an_open_stream(tls: Tls) -> None:
    rotated = tls.tmp / "rotated"
    write_dev_certs(rotated)
    with cli(tls.args()) as proc:
        started(tls, proc)
        assert served_certificate(tls.port, tls.certs) == pem_der(tls.certs / "server.crt")
        lines = []
        with (
            httpx.Client(verify=client_context(tls.certs), timeout=30) as old,
            old.stream(
                "POST", tls.url + "/api/generate", json={"model": "llama3.1:8b", "prompt": "hi"}
            ) as stream,
        ):
            chunks = stream.iter_lines()
            lines.append(next(chunks))
            keep = tls.tmp / "keep"
            keep.mkdir()
            replace_files(tls.certs, keep, "client.crt", "client.key", "ca.crt")
            replace_files(rotated, tls.certs, "server.crt", "server.key", "ca.crt")
            proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 10
            while served_certificate(tls.port, rotated) != pem_der(rotated / "server.crt"):
                assert time.monotonic() < deadline, "the new certificate was never served"
                time.sleep(0.05)
            lines.extend(chunks)
        assert json.loads(lines[-1])["done"] is True
        assert len(lines) > 10
        with httpx.Client(verify=client_context(rotated)) as client:
            assert client.get(tls.url + "/api/tags").status_code == 200
        # A bad rotation is refused and the certificates in use stay.
        (tls.certs / "server.key").write_text("not a key\n")
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert proc.poll() is None
        assert served_certificate(tls.port, rotated) == pem_der(rotated / "server.crt")


def start_error(tmp: Path, *flags: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "telemetry.app.cli", "serve", "--no-receipts", "--no-gpu", *flags],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "OLLAMA_SIDECAR_DATA_DIR": str(tmp / "data")},
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    return result.stderr


def test_missing_unreadable_or_mismatched_files_stop_the_start(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    write_dev_certs(a)
    write_dev_certs(b)
    listen = ["--listen", f"127.0.0.1:{free_port()}", "--admin-listen", f"127.0.0.1:{free_port()}"]
    missing = start_error(
        tmp_path, *listen, "--tls-cert", str(a / "nope.crt"), "--tls-key", str(a / "server.key")
    )
    assert f"{a / 'nope.crt'}" in missing
    mismatched = start_error(
        tmp_path, *listen, "--tls-cert", str(a / "server.crt"), "--tls-key", str(b / "server.key")
    )
    assert f"{b / 'server.key'} does not match" in mismatched
    bad_ca = start_error(
        tmp_path,
        *listen,
        "--tls-cert",
        str(a / "server.crt"),
        "--tls-key",
        str(a / "server.key"),
        "--client-ca",
        str(a / "server.key"),
    )
    assert f"{a / 'server.key'} holds no PEM certificate" in bad_ca
    alone = start_error(tmp_path, *listen, "--tls-cert", str(a / "server.crt"))
    assert "set both" in alone


def test_server_tls_checks_each_file(tmp_path: Path) -> None:
    write_dev_certs(tmp_path)
    good = TlsFiles(tmp_path / "server.crt", tmp_path / "server.key", tmp_path / "ca.crt")
    assert ServerTls(good).mutual
    assert not ServerTls(TlsFiles(good.cert, good.key)).mutual
    (tmp_path / "empty.pem").write_text("")
    for files, named in (
        (TlsFiles(tmp_path / "empty.pem", good.key), "empty.pem"),
        (TlsFiles(good.cert, tmp_path / "client.key"), "client.key"),
        (TlsFiles(good.cert, good.key, tmp_path / "missing.crt"), "missing.crt"),
    ):
        with pytest.raises(ConfigError, match=named):
            ServerTls(files)
