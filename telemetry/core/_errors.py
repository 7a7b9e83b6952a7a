"""Exceptions of the telemetry package.

SidecarError
├── ConfigError        bad configuration; the message names the key
└── SecurityError      a setting that would expose the proxy unsafely
"""


class SidecarError(Exception):
    """Root of every error the telemetry package raises on purpose."""


class ConfigError(SidecarError):
    pass


class SecurityError(SidecarError):
    pass
