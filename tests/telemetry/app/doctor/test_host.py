"""Listening sockets as the kernel lists them (/proc/net/tcp{,6}), as `ss` and `lsof` print them,
and from this machine's real table."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

from telemetry.app.doctor._host import (
    Host,
    Listener,
    first_existing,
    parse_lsof,
    parse_proc_net_tcp,
    parse_ss,
)

HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid\n"
TCP = HEADER + (
    "   0: 0100007F:2CAA 00000000:0000 0A 00000000:00000000 00:00000000 00000000  0\n"
    "   1: 00000000:2CAB 00000000:0000 0A 00000000:00000000 00:00000000 00000000  0\n"
    "   2: 0100007F:2CAA 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  0\n"
)
TCP6 = HEADER + (
    "   0: 00000000000000000000000001000000:2CAA 00000000000000000000000000000000:0000 0A x\n"
    "   1: 0000000000000000FFFF00000100007F:2CAC 00000000000000000000000000000000:0000 0A x\n"
    "   2: 00000000000000000000000000000000:2CAD 00000000000000000000000000000000:0000 0A x\n"
)


def test_proc_net_tcp_listening_rows_only() -> None:
    assert parse_proc_net_tcp(TCP) == [Listener("127.0.0.1", 11434), Listener("0.0.0.0", 11435)]
    six = parse_proc_net_tcp(TCP6)
    assert six == [
        Listener("::1", 11434),
        Listener(str(ipaddress.ip_address("::ffff:127.0.0.1")), 11436),
        Listener("::", 11437),
    ]
    assert [s.loopback for s in six] == [True, True, False]


def test_ss_and_lsof_outputs() -> None:
    ss = (
        "LISTEN 0 4096 127.0.0.1:11434 0.0.0.0:*\n"
        "LISTEN 0 4096 [::]:11435 [::]:*\n"
        "LISTEN 0 4096 127.0.0.53%lo:53 0.0.0.0:*\n"
        "LISTEN 0 4096 *:11436 *:*\n"
    )
    assert parse_ss(ss) == (
        Listener("127.0.0.1", 11434),
        Listener("::", 11435),
        Listener("127.0.0.53", 53),
        Listener("0.0.0.0", 11436),
    )
    lsof = "p123\nf3\nn127.0.0.1:11434\nf4\nn*:11435\nn[::1]:11436\n"
    assert parse_lsof(lsof) == (
        Listener("127.0.0.1", 11434),
        Listener("0.0.0.0", 11435),
        Listener("::1", 11436),
    )


def test_a_host_tree_is_read_and_tools_are_the_fallback(tmp_path: Path) -> None:
    net = tmp_path / "proc" / "net"
    net.mkdir(parents=True)
    (net / "tcp").write_text(TCP)
    found = Host(root=tmp_path, path="").listeners()
    assert found.source == str(net / "tcp")
    assert found.on_port(11435) == (Listener("0.0.0.0", 11435),)
    bare = Host(root=tmp_path / "nothing", path=str(tmp_path / "no-tools")).listeners()
    assert bare.source is None and "neither ss nor lsof" in bare.tried


def test_this_machines_table_shows_a_wildcard_listener() -> None:
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        sock.listen()
        port = sock.getsockname()[1]
        found = Host().listeners().on_port(port)
    assert found == (Listener("0.0.0.0", port),)
    assert not found[0].loopback


def test_first_existing_parent(tmp_path: Path) -> None:
    assert first_existing(tmp_path / "a" / "b") == tmp_path
