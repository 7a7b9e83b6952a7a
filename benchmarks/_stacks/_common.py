"""What every minimal proxy in the HTTP stack benchmark shares: flags and hop-by-hop filtering."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from telemetry.proxy._wire import HOP_BY_HOP

# The client library sets Host and Content-Length for the body it sends.
REQUEST_DROP = HOP_BY_HOP | {"host", "content-length"}


@dataclass(frozen=True)
class Options:
    host: str
    port: int
    upstream: str
    upstream_host: str
    variant: str


def parse(argv: list[str] | None, variants: tuple[str, ...]) -> Options:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", required=True, metavar="HOST:PORT")
    parser.add_argument("--upstream", required=True, metavar="URL")
    parser.add_argument("--variant", choices=variants, default=variants[0])
    args = parser.parse_args(argv)
    host, _, port = str(args.listen).rpartition(":")
    upstream = str(args.upstream).rstrip("/")
    return Options(host, int(port), upstream, urlsplit(upstream).netloc, str(args.variant))


def end_to_end(headers: Iterable[tuple[str, str]], drop: frozenset[str]) -> list[tuple[str, str]]:
    """Headers minus hop-by-hop ones and those the `Connection` header names."""
    pairs = list(headers)
    named = {
        token.strip().lower()
        for name, value in pairs
        if name.lower() == "connection"
        for token in value.split(",")
    }
    return [(n, v) for n, v in pairs if n.lower() not in drop and n.lower() not in named]
