"""What the doctor reads from the host: files under a root, tools on a PATH, listening sockets.

`Host` is the seam: tests point `root` at a directory tree and `path` at a PATH without tools.
Listening TCP sockets come from `/proc/net/tcp` and `/proc/net/tcp6` (the kernel's own table for
this network namespace), else from `ss -Hltn`, else from `lsof` (macOS). Never guessed.
"""

from __future__ import annotations

import ipaddress
import platform
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

_LISTEN = "0A"
TOOL_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Listener:
    address: str
    port: int

    @property
    def loopback(self) -> bool:
        ip = ipaddress.ip_address(self.address)
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            return ip.ipv4_mapped.is_loopback
        return ip.is_loopback


@dataclass(frozen=True, slots=True)
class Listeners:
    """The listening sockets and where they were read from; `source` None when unreadable."""

    sockets: tuple[Listener, ...]
    source: str | None
    tried: str = ""

    def on_port(self, port: int) -> tuple[Listener, ...]:
        return tuple(s for s in self.sockets if s.port == port)


@dataclass(frozen=True)
class Host:
    root: Path = Path("/")
    system: str = field(default_factory=platform.system)
    path: str | None = None

    def which(self, tool: str) -> str | None:
        return shutil.which(tool, path=self.path)

    def run(self, *argv: str) -> str | None:
        """The tool's stdout, or None when it is missing, fails or hangs."""
        exe = self.which(argv[0])
        if exe is None:
            return None
        try:
            done = subprocess.run(
                [exe, *argv[1:]],
                capture_output=True,
                text=True,
                timeout=TOOL_SECONDS,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout if done.returncode == 0 else None

    def listeners(self) -> Listeners:
        tables = [self.root / "proc" / "net" / name for name in ("tcp", "tcp6")]
        found: list[Listener] = []
        read = []
        for table in tables:
            try:
                found.extend(parse_proc_net_tcp(table.read_text(encoding="ascii")))
                read.append(str(table))
            except (OSError, ValueError):
                continue
        if read:
            return Listeners(tuple(found), " and ".join(read))
        ss = self.run("ss", "-Hltn")
        if ss is not None:
            return Listeners(parse_ss(ss), "ss -Hltn")
        lsof = self.run("lsof", "-nP", "-iTCP", "-sTCP:LISTEN", "-Fn")
        if lsof is not None:
            return Listeners(parse_lsof(lsof), "lsof -iTCP -sTCP:LISTEN")
        return Listeners((), None, "no /proc/net/tcp, and neither ss nor lsof ran")


def _proc_address(text: str) -> str:
    raw = bytes.fromhex(text)
    # The kernel prints each 32-bit word in host (little-endian) order.
    swapped = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(swapped))


def parse_proc_net_tcp(text: str) -> list[Listener]:
    out = []
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 4 or parts[3] != _LISTEN:
            continue
        address, port = parts[1].split(":")
        out.append(Listener(_proc_address(address), int(port, 16)))
    return out


def _split(local: str) -> Listener | None:
    host, sep, port = local.rpartition(":")
    if not sep or not port.isdigit():
        return None
    host = host.strip("[]").split("%", 1)[0]
    if host in ("*", ""):
        host = "0.0.0.0"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return Listener(host, int(port))


def parse_ss(text: str) -> tuple[Listener, ...]:
    """`ss -Hltn`: State Recv-Q Send-Q Local:Port Peer:Port."""
    found = (_split(line.split()[3]) for line in text.splitlines() if len(line.split()) >= 4)
    return tuple(f for f in found if f is not None)


def parse_lsof(text: str) -> tuple[Listener, ...]:
    """`lsof -Fn`: one `n<address>:<port>` line per socket."""
    found = (_split(line[1:]) for line in text.splitlines() if line.startswith("n"))
    return tuple(f for f in found if f is not None)


def first_existing(path: Path) -> Path:
    """`path`, or its nearest ancestor that exists (a data dir not created yet)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path("/")
