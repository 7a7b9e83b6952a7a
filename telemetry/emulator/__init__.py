"""The Ollama API emulator: a stand-in upstream that speaks Ollama's exact wire format.

Used by the test suite, the demo and the load benchmarks, and by providers who rehearse their
monitoring without spending GPU time. See docs/decisions/0003-emulator.md.
"""

from telemetry.emulator._app import EmulatorServer, build_emulator_app
from telemetry.emulator._config import DEFAULT_MODELS, FAULTS, EmulatedModel, EmulatorConfig
from telemetry.emulator._state import EmulatorStats

__all__ = [
    "DEFAULT_MODELS",
    "FAULTS",
    "EmulatedModel",
    "EmulatorConfig",
    "EmulatorServer",
    "EmulatorStats",
    "build_emulator_app",
]
