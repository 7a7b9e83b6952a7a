"""The transparent Ollama proxy and its telemetry: records, config, metrics, tracing, logs."""

from telemetry._config import Config, Tier, Timeouts, load_config
from telemetry._errors import ConfigError, SecurityError, SidecarError
from telemetry._record import (
    UNKNOWN_PLACEMENT,
    GpuRef,
    ModelInfo,
    OllamaTimings,
    Outcome,
    Placement,
    Processor,
    RecordSink,
    RequestRecord,
)
from telemetry._tap import Framing, StreamTap, TapResult, framing_for
from telemetry._tasks import spawn

__all__ = [
    "UNKNOWN_PLACEMENT",
    "Config",
    "ConfigError",
    "Framing",
    "GpuRef",
    "ModelInfo",
    "OllamaTimings",
    "Outcome",
    "Placement",
    "Processor",
    "RecordSink",
    "RequestRecord",
    "SecurityError",
    "SidecarError",
    "StreamTap",
    "TapResult",
    "Tier",
    "Timeouts",
    "framing_for",
    "load_config",
    "spawn",
]
