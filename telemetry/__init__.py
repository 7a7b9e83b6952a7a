"""The transparent Ollama proxy and its telemetry, one room per concept (docs/architecture.md):
core, tap, proxy, observe, emulator and app. This facade re-exports the public core and tap names.
"""

from telemetry.core import (
    UNKNOWN_PLACEMENT,
    Config,
    ConfigError,
    GpuRef,
    ModelInfo,
    OllamaTimings,
    Outcome,
    Placement,
    Processor,
    RecordSink,
    RequestRecord,
    SecurityError,
    SidecarError,
    Tier,
    Timeouts,
    load_config,
    spawn,
)
from telemetry.tap import Framing, StreamTap, TapResult, framing_for

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
