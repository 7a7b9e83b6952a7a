"""When the wait of one proxied request times out, and as what: a pure state machine.

An inference stream waits for its first token until the TTFT deadline; after it (and for every
other inference response) each chunk moves the deadline to now + idle, capped by the total
deadline from the start. Management calls have an idle deadline and no total. While a chunk is
being written to the client only the total deadline runs: a client that reads slowly is not an
upstream stall. The clock is passed in; each move returns the new deadline the way
`asyncio.Timeout.reschedule` takes it (None: no deadline).
"""

from __future__ import annotations

from telemetry.core._config import Timeouts
from telemetry.proxy._exchange import FailureKind

INFINITY = float("inf")


class Deadline:
    """The current deadline (`when`, `kind`) of one request, moved by what happens to it."""

    __slots__ = ("_held", "_waiting_first", "idle", "kind", "total_at", "when")

    def __init__(
        self,
        timeouts: Timeouts,
        now: float,
        *,
        inference: bool,
        streaming: bool,
        management_idle: float,
    ) -> None:
        if inference:
            self.idle = timeouts.idle
            self.total_at = now + timeouts.total
            if streaming and timeouts.ttft < timeouts.total:
                self.when, self.kind = now + timeouts.ttft, FailureKind.TTFT
            else:
                self.when, self.kind = self.total_at, FailureKind.TOTAL
        else:
            self.idle = management_idle
            self.total_at = INFINITY
            self.when, self.kind = now + management_idle, FailureKind.IDLE
        self._waiting_first = inference and streaming
        self._held = (self.when, self.kind)

    @property
    def at(self) -> float | None:
        """The deadline as a loop time, None when there is none."""
        return None if self.when == INFINITY else self.when

    def first_token(self) -> None:
        """The stream's first token arrived: from the next chunk on, idle deadlines apply."""
        self._waiting_first = False

    def upload_read(self, now: float) -> float | None:
        """A chunk of a streamed upload was read from the client: the idle wait starts over."""
        self.when = now + self.idle
        return self.at

    def writing(self) -> float | None:
        """A chunk is being written to the client: only the total deadline runs."""
        self._held = (self.when, self.kind)
        self.when, self.kind = self.total_at, FailureKind.TOTAL
        return self.at

    def written(self, now: float) -> float | None:
        """The chunk was written: back to the TTFT wait, or idle from now within the total."""
        if self._waiting_first:
            self.when, self.kind = self._held
        elif now + self.idle < self.total_at:
            self.when, self.kind = now + self.idle, FailureKind.IDLE
        else:
            self.when, self.kind = self.total_at, FailureKind.TOTAL
        return self.at
