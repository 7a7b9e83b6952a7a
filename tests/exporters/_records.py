"""A finished request record for the exporter tests that feed one to a GPU-side observer."""

from __future__ import annotations

import dataclasses
from typing import Any

from telemetry.core import Outcome, RequestRecord

_FINISHED = RequestRecord(
    request_id="r",
    trace_id="0" * 32,
    span_id="0" * 16,
    start_unix_ns=0,
    end_unix_ns=1,
    method="POST",
    path="/api/generate",
    endpoint="generate",
    operation="text_completion",
    model="",
    tier="gpu-8gb",
    streaming=False,
    status=200,
    outcome=Outcome.OK,
    duration_ns=1,
)


def finished_request(model: str, **fields: Any) -> RequestRecord:
    """A successful `/api/generate` to `model` in tier gpu-8gb; `fields` replace any others."""
    return dataclasses.replace(_FINISHED, model=model, **fields)
