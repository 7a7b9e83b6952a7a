"""`ollama-sidecar tls dev-certs DIR`: certificates for trying TLS and mTLS on one machine.

Exit codes: 0 written; 2 usage error, or a file already there (nothing is overwritten).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from telemetry.app.tls._devcerts import write_dev_certs


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="tls_command", metavar="ACTION", required=True)
    dev = actions.add_parser(
        "dev-certs",
        help="write ca.crt, server.crt/.key (127.0.0.1, localhost) and client.crt/.key to DIR",
    )
    dev.add_argument("directory", type=Path, metavar="DIR")


def run(args: argparse.Namespace) -> int:
    directory: Path = args.directory
    for path in write_dev_certs(directory):
        print(path)
    print(
        f"serve with: ollama-sidecar serve --tls-cert {directory}/server.crt "
        f"--tls-key {directory}/server.key --client-ca {directory}/ca.crt"
    )
    return 0
