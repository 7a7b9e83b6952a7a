"""The per-request record: built once by the proxy, read by every sink.

Sinks (metrics, tracing, logs, receipts) receive a finished `RequestRecord` and never reach back
into the proxy. Everything here is immutable and cheap to hand across threads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class Outcome(StrEnum):
    """How a request ended. Every request ends with exactly one."""

    OK = "ok"
    ERROR = "error"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    UPSTREAM_UNAVAILABLE = "upstream_unavailable"


class Processor(StrEnum):
    """What served the model when the request ran (ollama-api.md §9 placement rule)."""

    GPU = "gpu"
    PARTIAL = "partial"
    CPU = "cpu"
    # Served by another host (an Ollama cloud model: `remote_host` on the streamed lines); no
    # local GPU or CPU did the work.
    REMOTE = "remote"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class GpuRef:
    """The identity of one GPU as a receipt records it."""

    vendor: str
    name: str
    uuid: str
    memory_total_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class Placement:
    """Where the model of a request was resident, and on which healthy GPUs."""

    processor: Processor
    size_bytes: int | None = None
    size_vram_bytes: int | None = None
    gpus: tuple[GpuRef, ...] = ()
    remote_host: str | None = None


UNKNOWN_PLACEMENT = Placement(Processor.UNKNOWN)
MAX_REMOTE_HOST_CHARS = 256


def remote_host_of(value: object) -> str | None:
    """A cloud model's `remote_host` from Ollama (e.g. https://ollama.com:443) if it is sane:
    a non-empty printable ASCII string without spaces, at most 256 characters."""
    if isinstance(value, str) and 0 < len(value) <= MAX_REMOTE_HOST_CHARS:
        if value.isascii() and value.isprintable() and " " not in value:
            return value
    return None


@dataclass(frozen=True, slots=True)
class OllamaTimings:
    """Ollama's own durations from the final `done` chunk, in nanoseconds; None when absent."""

    total_ns: int | None = None
    load_ns: int | None = None
    prompt_eval_ns: int | None = None
    eval_ns: int | None = None


@dataclass(frozen=True, slots=True)
class GpuUsage:
    """What the request's GPUs did while it ran, as its share among concurrent requests
    (docs/decisions/0015-gpu-energy-sharing.md). A figure that was not measured is None, never 0."""

    energy_joules: float | None = None
    gpu_seconds: float | None = None
    utilization_ratio: float | None = None


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One finished request, as seen by the proxy. Never holds prompt or completion text."""

    request_id: str
    trace_id: str
    span_id: str
    start_unix_ns: int
    end_unix_ns: int
    method: str
    path: str
    endpoint: str
    operation: str | None
    model: str | None
    tier: str
    streaming: bool
    status: int
    outcome: Outcome
    duration_ns: int
    error_type: str | None = None
    model_digest: str | None = None
    done_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    ttft_ns: int | None = None
    ollama: OllamaTimings = field(default_factory=OllamaTimings)
    placement: Placement = UNKNOWN_PLACEMENT
    gpu_usage: GpuUsage | None = None
    request_sha256: str | None = None
    response_sha256: str | None = None
    response_bytes: int = 0
    # SHA-256 of the salt: lets the salt's holder, and only it, fetch the receipt.
    salt_sha256: str | None = None
    agreement_id: str | None = None
    activity_id: str | None = None
    # False for a request refused for a missing or wrong bearer token (nothing else is trusted).
    authenticated: bool = True
    # The model the response named, only when it is not the model the request was classified as.
    response_model: str | None = None


class RecordSink(Protocol):
    """Consumes finished records. `submit` is called on the event loop and must not block."""

    def submit(self, record: RequestRecord) -> None: ...


class ModelInfo(Protocol):
    """What the proxy may ask about a model while a request runs; answers come from caches."""

    def note_request(self, model: str) -> None: ...

    def digest(self, model: str) -> str | None: ...

    def placement(self, model: str) -> Placement: ...


class GpuMeter(Protocol):
    """Meters GPU energy and time per request. Both calls run on the event loop and answer from
    state the GPU sampler keeps fresh: they never wait on a driver."""

    def begin(self, model: str) -> int:
        """A request for `model` starts now; returns the handle `end` takes."""
        ...

    def place(self, handle: int, placement: Placement) -> None:
        """The request's placement became known (at its first token): from now on it occupies
        only the GPUs `placement` lists, none when no local GPU serves it (cpu, remote)."""
        ...

    def end(self, handle: int, placement: Placement) -> GpuUsage | None:
        """The request ended now, served as `placement`; None when no GPU served it."""
        ...
