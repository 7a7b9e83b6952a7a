"""`ollama-sidecar tls dev-certs DIR`: five files, key files 0600, SANs 127.0.0.1 and localhost,
both leaves signed by the CA for their purpose, and nothing overwritten on a second run."""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.telemetry.app._procs import ROOT


def dev_certs(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "telemetry.app.cli", "tls", "dev-certs", str(directory)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_writes_a_ca_a_server_and_a_client_certificate(tmp_path: Path) -> None:
    out = tmp_path / "certs"
    result = dev_certs(out)
    assert result.returncode == 0, result.stderr
    names = ["ca.crt", "server.crt", "server.key", "client.crt", "client.key"]
    assert sorted(p.name for p in out.iterdir()) == sorted(names)
    assert {n: (out / n).stat().st_mode & 0o777 for n in names if n.endswith(".key")} == {
        "server.key": 0o600,
        "client.key": 0o600,
    }
    ca, server, client = load(out / "ca.crt"), load(out / "server.crt"), load(out / "client.crt")
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for leaf, usage in (
        (server, ExtendedKeyUsageOID.SERVER_AUTH),
        (client, ExtendedKeyUsageOID.CLIENT_AUTH),
    ):
        leaf.verify_directly_issued_by(ca)
        assert list(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [usage]
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    assert dev_certs(tmp_path).returncode == 0
    before = (tmp_path / "server.key").read_bytes()
    again = dev_certs(tmp_path)
    assert again.returncode == 2
    assert "exists" in again.stderr and "Traceback" not in again.stderr
    assert (tmp_path / "server.key").read_bytes() == before


def test_openssl_accepts_the_chain(tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed (Debian package `openssl`)")
    assert dev_certs(tmp_path).returncode == 0
    for leaf, purpose in (("server.crt", "sslserver"), ("client.crt", "sslclient")):
        result = subprocess.run(
            [openssl, "verify", "-purpose", purpose, "-CAfile", str(tmp_path / "ca.crt"), leaf],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0 and result.stdout.strip().endswith(": OK"), result.stderr
    checked = subprocess.run(
        [openssl, "x509", "-in", str(tmp_path / "server.crt"), "-noout", "-checkip", "127.0.0.1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "does match certificate" in checked.stdout
