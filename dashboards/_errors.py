"""Errors of the dashboard generator.

DashboardsError
 └── OutputError     a generated file cannot be written
"""


class DashboardsError(Exception):
    """Root of every error raised by the `dashboards` package."""


class OutputError(DashboardsError):
    pass
