"""The listeners' TLS context, checked file by file and reloadable in place.

One `ssl.SSLContext` serves every listener. `reload()` first builds a throwaway context from the
files, so a bad file raises `ConfigError` and leaves the live context untouched; then it loads the
same files into the live context. OpenSSL copies the certificate into each connection when the
connection is created, so handshakes after the reload present the new certificate and open
connections (streams in flight) keep theirs. A client CA can be added by a reload but not
removed: OpenSSL's trust store only grows (docs/decisions/0013-host-deployment.md).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from telemetry.core._errors import ConfigError


@dataclass(frozen=True, slots=True)
class TlsFiles:
    cert: Path
    key: Path
    client_ca: Path | None = None


def _read(key: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read {path}: {exc.strerror}") from exc


def check_files(files: TlsFiles) -> None:
    """Raise `ConfigError` naming the file that is missing, unreadable, malformed or mismatched."""
    try:
        certs = x509.load_pem_x509_certificates(_read("proxy.tls_cert", files.cert))
    except ValueError as exc:
        raise ConfigError(f"proxy.tls_cert: {files.cert} holds no PEM certificate") from exc
    try:
        key = serialization.load_pem_private_key(_read("proxy.tls_key", files.key), None)
    except (ValueError, TypeError) as exc:
        reason = "is encrypted" if isinstance(exc, TypeError) else "holds no PEM private key"
        raise ConfigError(f"proxy.tls_key: {files.key} {reason}") from exc
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, public) != certs[0].public_key().public_bytes(
        der, public
    ):
        raise ConfigError(
            f"proxy.tls_key: {files.key} does not match the certificate in {files.cert}"
        )
    if files.client_ca is not None:
        try:
            x509.load_pem_x509_certificates(_read("proxy.client_ca", files.client_ca))
        except ValueError as exc:
            raise ConfigError(
                f"proxy.client_ca: {files.client_ca} holds no PEM certificate"
            ) from exc


def _load(context: ssl.SSLContext, files: TlsFiles) -> None:
    try:
        context.load_cert_chain(files.cert, files.key)
        if files.client_ca is not None:
            context.load_verify_locations(cafile=files.client_ca)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"proxy.tls_cert: cannot use {files.cert}: {exc}") from exc


def _new_context(files: TlsFiles) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if files.client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
    _load(context, files)
    return context


class ServerTls:
    """The server side of TLS (and of mTLS, with a client CA) for the proxy and admin listeners."""

    def __init__(self, files: TlsFiles) -> None:
        check_files(files)
        self.files = files
        self.context = _new_context(files)

    @property
    def mutual(self) -> bool:
        return self.files.client_ca is not None

    def reload(self) -> None:
        """Load the same paths again (rotated files); `ConfigError` leaves the old ones live."""
        check_files(self.files)
        _new_context(self.files)
        _load(self.context, self.files)
