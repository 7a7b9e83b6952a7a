"""Grafana dashboards for the sidecar, generated with grafanalib from the tier config.

Four dashboards (SLO, Requests, GPUs, Receipts) with `datasource`, `instance`, `tier` and `model`
variables, schema 39, non-Angular panels only. `write_all(root, config, settings)` writes them to
`dashboards/json/` together with the rule files of the `alerts` package.
"""

from dashboards._build import (
    JSON_DIR,
    REPO_ROOT,
    build_dashboards,
    panel_queries,
    to_json,
    write_all,
)
from dashboards._dashboard import SCHEMA_VERSION
from dashboards._errors import DashboardsError, OutputError

__all__ = [
    "JSON_DIR",
    "REPO_ROOT",
    "SCHEMA_VERSION",
    "DashboardsError",
    "OutputError",
    "build_dashboards",
    "panel_queries",
    "to_json",
    "write_all",
]
