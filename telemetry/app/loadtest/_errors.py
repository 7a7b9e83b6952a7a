"""Exceptions of the load test.

SidecarError (telemetry)
└── LoadtestError      bad matrix, flag or report; the message names the key and the run
"""

from telemetry import SidecarError


class LoadtestError(SidecarError):
    """A usage or input error: the CLI prints it on one line and exits 2."""
