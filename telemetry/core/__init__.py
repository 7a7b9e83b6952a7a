"""The shared core: config and tiers, the request record and outcome, errors, tasks, metric names.

Imports nothing else of the project; every other room and package builds on it.
"""

from telemetry.core._config import Config, Tier, Timeouts, load_config
from telemetry.core._errors import ConfigError, SecurityError, SidecarError
from telemetry.core._record import (
    UNKNOWN_PLACEMENT,
    GpuMeter,
    GpuRef,
    GpuUsage,
    ModelInfo,
    OllamaTimings,
    Outcome,
    Placement,
    Processor,
    RecordSink,
    RequestRecord,
)
from telemetry.core._tasks import spawn

__all__ = [
    "UNKNOWN_PLACEMENT",
    "Config",
    "ConfigError",
    "GpuMeter",
    "GpuRef",
    "GpuUsage",
    "ModelInfo",
    "OllamaTimings",
    "Outcome",
    "Placement",
    "Processor",
    "RecordSink",
    "RequestRecord",
    "SecurityError",
    "SidecarError",
    "Tier",
    "Timeouts",
    "load_config",
    "spawn",
]
