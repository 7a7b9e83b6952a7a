"""`ollama-sidecar models warm`: pre-pull a tier's models and load them with keep-alive."""

from telemetry.app.models._warm import WarmResult, warm

__all__ = ["WarmResult", "warm"]
