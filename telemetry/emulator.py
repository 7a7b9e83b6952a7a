"""The Ollama API emulator: a stand-in upstream that speaks Ollama's exact wire format.

Used by the test suite, the demo and the load benchmarks, and by providers who rehearse their
monitoring without spending GPU time. See docs/decisions/0003-emulator.md.
"""

from telemetry._emulator_app import EmulatorServer, build_emulator_app
from telemetry._emulator_config import DEFAULT_MODELS, FAULTS, EmulatedModel, EmulatorConfig
from telemetry._emulator_state import EmulatorStats

__all__ = [
    "DEFAULT_MODELS",
    "FAULTS",
    "EmulatedModel",
    "EmulatorConfig",
    "EmulatorServer",
    "EmulatorStats",
    "build_emulator_app",
]
