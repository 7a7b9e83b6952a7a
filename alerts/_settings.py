"""Rule settings: the burn-rate windows and the thresholds that are not part of the tier config.

Tier budgets and the timeout objective come from `telemetry.Config`; everything here is about how
alerts look at them. Windows are data so that an end-to-end test can shrink them to seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from alerts._errors import SettingsError

MINUTE = 60
HOUR = 3600
DAY = 86400


@dataclass(frozen=True, slots=True)
class BurnWindow:
    """One multi-window pair: fire when both windows burn budget `factor` times too fast."""

    severity: str
    long_seconds: int
    short_seconds: int
    factor: float
    for_seconds: int

    def __post_init__(self) -> None:
        if self.severity not in ("critical", "warning", "info"):
            raise SettingsError(f"burn window severity {self.severity!r} is not a known severity")
        if not 0 < self.short_seconds < self.long_seconds:
            raise SettingsError("burn window: the short window must be shorter than the long one")
        if self.factor <= 0 or self.for_seconds < 0:
            raise SettingsError("burn window: factor must be positive and for: non-negative")


# Google SRE Workbook table 5-8 for a 30-day period; `for:` from kubernetes-mixin.
DEFAULT_BURN_WINDOWS: tuple[BurnWindow, ...] = (
    BurnWindow("critical", 1 * HOUR, 5 * MINUTE, 14.4, 2 * MINUTE),
    BurnWindow("critical", 6 * HOUR, 30 * MINUTE, 6.0, 15 * MINUTE),
    BurnWindow("warning", 1 * DAY, 2 * HOUR, 3.0, 1 * HOUR),
    BurnWindow("warning", 3 * DAY, 6 * HOUR, 1.0, 3 * HOUR),
)


@dataclass(frozen=True, slots=True)
class RuleSettings:
    """Everything about the generated rules except the tier config.

    `job` is the Prometheus job name the sidecar's admin listener is scraped under.
    """

    job: str = "ollama-sidecar"
    burn_windows: tuple[BurnWindow, ...] = DEFAULT_BURN_WINDOWS
    latency_objective: float = 0.95
    median_window_seconds: int = 30 * MINUTE
    median_for_seconds: int = 30 * MINUTE
    absent_for_seconds: int = 15 * MINUTE
    down_for_seconds: int = 2 * MINUTE
    upstream_for_seconds: int = 1 * MINUTE
    gpu_for_seconds: int = 5 * MINUTE
    gpu_hot_celsius: float = 85.0
    gpu_memory_full_ratio: float = 0.95
    gpu_lost_lookback_seconds: int = 6 * HOUR
    cpu_fallback_ratio: float = 0.10
    cpu_fallback_window_seconds: int = 15 * MINUTE
    receipt_failure_window_seconds: int = 5 * MINUTE
    checkpoint_stale_factor: float = 12.0
    checkpoint_stale_min_seconds: int = 5 * MINUTE
    # No checkpoint cosigned by the witness quorum for this long (receipts.witness_quorum).
    witness_quorum_stale_seconds: int = 30 * MINUTE

    def __post_init__(self) -> None:
        if not self.burn_windows:
            raise SettingsError("at least one burn window is needed")
        if not 0 < self.latency_objective < 1:
            raise SettingsError("latency_objective must be a ratio between 0 and 1")
        if not 0 < self.cpu_fallback_ratio <= 1 or not 0 < self.gpu_memory_full_ratio <= 1:
            raise SettingsError("ratios must lie in (0, 1]")

    def sli_windows(self) -> tuple[int, ...]:
        """Every window a burn-rate rule reads, shortest first."""
        windows = {w.long_seconds for w in self.burn_windows}
        windows |= {w.short_seconds for w in self.burn_windows}
        return tuple(sorted(windows))

    def checkpoint_stale_seconds(self, checkpoint_interval_seconds: float) -> int:
        scaled = round(checkpoint_interval_seconds * self.checkpoint_stale_factor)
        return max(scaled, self.checkpoint_stale_min_seconds)
