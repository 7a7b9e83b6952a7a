"""Errors of the rule generator and its promtool checks.

AlertsError
 ├── SettingsError      a rule setting that cannot produce valid PromQL
 └── PromtoolError      promtool is missing, or rejected a rule or test file
"""


class AlertsError(Exception):
    """Root of every error raised by the `alerts` package."""


class SettingsError(AlertsError):
    pass


class PromtoolError(AlertsError):
    pass
