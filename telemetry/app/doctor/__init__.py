"""`ollama-sidecar doctor`: the host validation checklist."""

from telemetry.app.doctor._check import Check, Status
from telemetry.app.doctor._doctor import CHECK_NAMES, render, run_checks
from telemetry.app.doctor._host import Host

__all__ = ["CHECK_NAMES", "Check", "Host", "Status", "render", "run_checks"]
