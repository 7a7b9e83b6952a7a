"""Ollama's DNS-rebinding guard (`allowedHost` in its server/routes.go), as a pure function.

A listener bound to loopback answers only requests whose `Host` names this machine: empty,
`localhost`, the machine's hostname, a name under `.localhost`, `.local` or `.internal`, or a
loopback, private, unspecified or link-local IP. A web page on `rebind.evil.example` that got its
name re-pointed at 127.0.0.1 sends its own name and is refused.
"""

from __future__ import annotations

import ipaddress
import socket

LOCAL_SUFFIXES = (".localhost", ".local", ".internal")


def host_name(host: str) -> str:
    """The name in a `Host` header value, without port and brackets, lowercased."""
    if host.startswith("["):
        name = host[1 : host.find("]")]
    elif host.count(":") == 1:
        name = host.rsplit(":", 1)[0]
    else:
        name = host
    return name.lower().rstrip(".")


def host_allowed(host: str) -> bool:
    """Whether a loopback listener serves a request with this `Host` header value."""
    return name_allowed(host_name(host))


def name_allowed(name: str) -> bool:
    """`host_allowed` for a name `host_name` already took out of its header value."""
    if name in ("", "localhost", socket.gethostname().lower()):
        return True
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return name.endswith(LOCAL_SUFFIXES)
    return ip.is_loopback or ip.is_private or ip.is_unspecified or ip.is_link_local


def loopback_socket(sockname: object) -> bool:
    """Whether a socket name (`transport.get_extra_info("sockname")`) is a loopback address."""
    if not isinstance(sockname, tuple):
        return False
    try:
        return ipaddress.ip_address(sockname[0]).is_loopback
    except ValueError:
        return False
