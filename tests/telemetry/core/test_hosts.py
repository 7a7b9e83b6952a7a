"""Ollama's allowedHost, applied by the emulator and by both sidecar listeners."""

from __future__ import annotations

import socket

import pytest

from telemetry.core._hosts import host_allowed, host_name, loopback_socket


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("", True),
        ("localhost", True),
        ("localhost:11434", True),
        ("127.0.0.1:11434", True),
        ("[::1]:11434", True),
        ("10.1.2.3", True),
        ("192.168.0.7:80", True),
        ("0.0.0.0", True),
        ("ollama.localhost", True),
        ("gpu-box.local", True),
        ("svc.internal:8080", True),
        ("example.com", False),
        ("8.8.8.8:11434", False),
        ("ollama.example.com:11434", False),
    ],
)
def test_host_allowed(host: str, allowed: bool) -> None:
    assert host_allowed(host) is allowed


def test_the_machines_own_name_is_allowed() -> None:
    assert host_allowed(socket.gethostname().upper() + ":11434")


def test_host_name_strips_port_and_brackets() -> None:
    assert host_name("[::1]:11434") == "::1"
    assert host_name("Example.COM.:80") == "example.com"
    assert host_name("::1") == "::1"


def test_loopback_socket() -> None:
    assert loopback_socket(("127.0.0.1", 80))
    assert loopback_socket(("::1", 80, 0, 0))
    assert not loopback_socket(("10.0.0.1", 80))
    assert not loopback_socket("/tmp/socket")
