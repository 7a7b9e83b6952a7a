"""The stream tap: sans-IO readers of Ollama response bodies (bytes in, facts out) and routes."""

from telemetry.tap._stream import Framing, StreamTap, TapResult, framing_for

__all__ = ["Framing", "StreamTap", "TapResult", "framing_for"]
