"""The provider's files in the data directory: its Ed25519 key and the receipts database.

`provider.key` (PEM, mode 0600, created on the sidecar's first start), `receipts.duckdb`,
`witnesses.json` (witness sizes and the latest cosigned checkpoint, see `_publisher`) and
`admin.url`: the running sidecar's admin API, which the CLI uses while that sidecar holds the
database (never a default address: another sidecar's log is not this data dir's).
The default log origin is `ollama-sidecar.local/<first 16 hex digits of SHA-256 of the public
key>`: unique per provider key, no spaces, no `+`. Light on imports: the CLI reads it too.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from receipts._keys import Signer, generate_key_file, load_key_file

log = logging.getLogger("ollama_sidecar.receipts")

KEY_FILE = "provider.key"
DATABASE_FILE = "receipts.duckdb"
ADMIN_URL_FILE = "admin.url"
WITNESS_STATE_FILE = "witnesses.json"


def default_origin(public_key: bytes) -> str:
    return "ollama-sidecar.local/" + hashlib.sha256(public_key).hexdigest()[:16]


def open_signer(data_dir: Path, origin: str, *, create: bool) -> Signer:
    """The provider's signer from `data_dir/provider.key` (created when missing and `create`)."""
    path = data_dir / KEY_FILE
    private_key: Ed25519PrivateKey
    if create and not path.exists():
        private_key = generate_key_file(path)
        log.info("created provider key %s", path)
    else:
        private_key = load_key_file(path)
    public_key = private_key.public_key().public_bytes_raw()
    return Signer(private_key, origin or default_origin(public_key))


def write_admin_url(data_dir: Path, url: str) -> None:
    """Note where this data dir's sidecar serves its admin API (replaced atomically)."""
    path = data_dir / ADMIN_URL_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(url + "\n")
    tmp.replace(path)


def read_admin_url(data_dir: Path) -> str | None:
    """The admin URL the data dir's sidecar noted, None when there is none."""
    try:
        text = (data_dir / ADMIN_URL_FILE).read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text if text.startswith(("http://", "https://")) and text.isascii() else None
