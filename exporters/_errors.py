"""Errors of the GPU exporters. None of them ever reaches a proxied request.

    ExporterError
    ├── BackendUnavailable   a GPU source cannot be used at all (library, driver, no device)
    ├── SourceFailed         an open source stopped working as a whole (driver gone mid-run)
    └── DeviceFailed         one device failed (lost, reset required, unknown error)

`reason` is a short, low-cardinality word that becomes a metric label; `detail` is for the log.
"""

from __future__ import annotations


class ExporterError(Exception):
    """Root of every error raised by `exporters`."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class BackendUnavailable(ExporterError):
    """The source cannot be opened; the probe moves on to the next one."""


class SourceFailed(ExporterError):
    """The whole source failed after opening; it is closed and probed again later."""


class DeviceFailed(ExporterError):
    """One device failed; the others keep reporting."""
