"""TLS for the sidecar's listeners: a reloadable server context and quick-start certificates."""

from telemetry.app.tls._context import ServerTls, TlsFiles
from telemetry.app.tls._devcerts import DEV_CERT_FILES, write_dev_certs

__all__ = ["DEV_CERT_FILES", "ServerTls", "TlsFiles", "write_dev_certs"]
