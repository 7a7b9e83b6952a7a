"""What a Golem agreement's receipts add up to, and the usage counters Golem's AI runtime bills.

`ya-runtime-ai` (golemfactory/ya-runtime-ai, `src/counter/`) bills, per activity:
- `golem.usage.gpu-sec`: time with at least one request in flight (`RequestsDurationCounter`
  starts a span at the first concurrent request and closes it when the last one answers): the
  union of request intervals, overlaps counted once, whatever the outcome or processor;
- `golem.usage.duration_sec`: here, from the first request's start to the last one's end;
- `ai-runtime.requests`: the number of requests.
Computed from the signed receipts' nanosecond times, without rounding. Beside them, the union
time is split by the set of processors in flight, so a requestor sees GPU time billed while
only CPU-served or remote requests were running (`without_local_gpu_ns`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from receipts._errors import FormatError

GPU_SEC = "golem.usage.gpu-sec"
DURATION_SEC = "golem.usage.duration_sec"
REQUESTS = "ai-runtime.requests"
NO_LOCAL_GPU = frozenset({"cpu", "remote"})
_NS_PER_S = 10**9


def seconds(ns: int) -> str:
    """Exact decimal seconds of a non-negative nanosecond count: 1500000000 → "1.500000000"."""
    return f"{ns // _NS_PER_S}.{ns % _NS_PER_S:09d}"


def _int(body: Mapping[str, object], name: str) -> int:
    value = body.get(name)
    try:
        return int(value) if isinstance(value, str | int) and not isinstance(value, bool) else 0
    except ValueError:
        raise FormatError(f"receipt {body.get('request_id')}: {name} is not a number") from None


def _processor(body: Mapping[str, object]) -> str:
    placement = body.get("placement")
    value = placement.get("processor") if isinstance(placement, dict) else None
    return value if isinstance(value, str) else "unknown"


@dataclass(frozen=True)
class Usage:
    """The summary of an agreement's receipts (times in nanoseconds)."""

    agreement_id: str
    requests: int = 0
    outcomes: Mapping[str, int] = field(default_factory=dict)
    processors: Mapping[str, int] = field(default_factory=dict)
    input_tokens: int = 0
    output_tokens: int = 0
    request_ns: int = 0
    gpu_ns: int = 0
    duration_ns: int = 0
    in_flight_ns: Mapping[str, int] = field(default_factory=dict)

    @property
    def without_local_gpu_ns(self) -> int:
        """Union time when every request in flight was CPU-served or remote."""
        return sum(
            ns for mix, ns in self.in_flight_ns.items() if set(mix.split("+")) <= NO_LOCAL_GPU
        )

    def counters(self) -> dict[str, Decimal]:
        """The AI runtime's usage counters, in seconds (requests as a count)."""
        return {
            GPU_SEC: Decimal(seconds(self.gpu_ns)),
            DURATION_SEC: Decimal(seconds(self.duration_ns)),
            REQUESTS: Decimal(self.requests),
        }

    def to_json(self) -> dict[str, object]:
        return {
            "agreement_id": self.agreement_id,
            "requests": self.requests,
            "outcomes": dict(self.outcomes),
            "processors": dict(self.processors),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "request_seconds": seconds(self.request_ns),
            "usage": {
                GPU_SEC: seconds(self.gpu_ns),
                DURATION_SEC: seconds(self.duration_ns),
                REQUESTS: self.requests,
            },
            "in_flight_seconds": {mix: seconds(ns) for mix, ns in self.in_flight_ns.items()},
            "without_local_gpu_seconds": seconds(self.without_local_gpu_ns),
        }

    def lines(self) -> list[str]:
        def mix(counts: Mapping[str, int]) -> str:
            return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"

        split = {k: seconds(v) for k, v in sorted(self.in_flight_ns.items())}
        return [
            f"agreement {self.agreement_id}: {self.requests} requests ({mix(self.outcomes)})",
            f"tokens: {self.input_tokens} in, {self.output_tokens} out",
            f"processors: {mix(self.processors)}",
            f"request time: {seconds(self.request_ns)} s (sum of request durations)",
            f"{GPU_SEC}: {seconds(self.gpu_ns)}",
            f"{DURATION_SEC}: {seconds(self.duration_ns)}",
            f"{REQUESTS}: {self.requests}",
            "in flight by processor: "
            + (", ".join(f"{k} {v} s" for k, v in split.items()) or "none"),
            f"time with no local GPU work (only cpu or remote in flight): "
            f"{seconds(self.without_local_gpu_ns)} s",
        ]


def usage_of(agreement_id: str, bodies: Iterable[Mapping[str, object]]) -> Usage:
    """Sum up receipt bodies (all of one agreement)."""
    outcomes: Counter[str] = Counter()
    processors: Counter[str] = Counter()
    events: list[tuple[int, int, str]] = []
    tokens_in = tokens_out = request_ns = 0
    first, last = None, None
    for body in bodies:
        start, end = _int(body, "start_unix_ns"), _int(body, "end_unix_ns")
        if end < start:
            raise FormatError(f"receipt {body.get('request_id')} ends before it starts")
        processor = _processor(body)
        outcomes[str(body.get("outcome"))] += 1
        processors[processor] += 1
        tokens_in += _int(body, "input_tokens")
        tokens_out += _int(body, "output_tokens")
        request_ns += _int(body, "duration_ns")
        events += [(start, 1, processor), (end, -1, processor)]
        first = start if first is None else min(first, start)
        last = end if last is None else max(last, end)
    in_flight = _sweep(events)
    return Usage(
        agreement_id=agreement_id,
        requests=sum(outcomes.values()),
        outcomes=dict(outcomes),
        processors=dict(processors),
        input_tokens=tokens_in,
        output_tokens=tokens_out,
        request_ns=request_ns,
        gpu_ns=sum(in_flight.values()),
        duration_ns=0 if first is None or last is None else last - first,
        in_flight_ns=in_flight,
    )


def _sweep(events: list[tuple[int, int, str]]) -> dict[str, int]:
    """Union time of the intervals, split by the set of processors in flight ("cpu+gpu")."""
    running: Counter[str] = Counter()
    split: Counter[str] = Counter()
    previous = None
    for time, step, processor in sorted(events):
        if previous is not None and time > previous and +running:
            split["+".join(sorted(+running))] += time - previous
        running[processor] += step
        previous = time
    return dict(split)
