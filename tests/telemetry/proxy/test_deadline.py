"""The deadline state machine without sockets or a loop: TTFT until the first token, idle after,
the total cap, and the slow-client exemption while a chunk is written."""

from telemetry.core import Timeouts
from telemetry.proxy._deadline import Deadline
from telemetry.proxy._exchange import FailureKind

TIMEOUTS = Timeouts(connect=1.0, ttft=10.0, idle=5.0, total=60.0)


def stream(now: float = 100.0, timeouts: Timeouts = TIMEOUTS) -> Deadline:
    return Deadline(timeouts, now, inference=True, streaming=True, management_idle=30.0)


def test_a_stream_waits_for_its_first_token_then_goes_idle() -> None:
    deadline = stream()
    assert (deadline.at, deadline.kind) == (110.0, FailureKind.TTFT)
    assert deadline.writing() == 160.0  # a chunk before the first token (e.g. headers, a load)
    assert deadline.written(104.0) == 110.0
    assert deadline.kind is FailureKind.TTFT  # still the first wait, not reset by the chunk
    deadline.first_token()
    deadline.writing()
    assert deadline.written(107.0) == 112.0
    assert deadline.kind is FailureKind.IDLE


def test_idle_is_capped_by_the_total() -> None:
    deadline = stream()
    deadline.first_token()
    deadline.writing()
    assert deadline.written(157.0) == 160.0
    assert deadline.kind is FailureKind.TOTAL


def test_a_slow_client_write_runs_only_the_total() -> None:
    deadline = stream()
    deadline.first_token()
    deadline.writing()
    deadline.written(101.0)
    assert deadline.writing() == 160.0
    assert deadline.kind is FailureKind.TOTAL
    # the write took 30 s, far past the idle deadline: the idle wait starts when it is done
    assert deadline.written(131.0) == 136.0
    assert deadline.kind is FailureKind.IDLE


def test_a_ttft_not_below_the_total_leaves_only_the_total() -> None:
    deadline = stream(timeouts=Timeouts(connect=1.0, ttft=60.0, idle=5.0, total=60.0))
    assert (deadline.at, deadline.kind) == (160.0, FailureKind.TOTAL)


def test_a_non_streaming_answer_waits_for_the_total_then_goes_idle() -> None:
    deadline = Deadline(TIMEOUTS, 100.0, inference=True, streaming=False, management_idle=30.0)
    assert (deadline.at, deadline.kind) == (160.0, FailureKind.TOTAL)
    deadline.writing()
    assert deadline.written(120.0) == 125.0
    assert deadline.kind is FailureKind.IDLE


def test_a_management_call_has_an_idle_deadline_and_no_total() -> None:
    deadline = Deadline(TIMEOUTS, 100.0, inference=False, streaming=False, management_idle=30.0)
    assert (deadline.at, deadline.kind) == (130.0, FailureKind.IDLE)
    assert deadline.upload_read(120.0) == 150.0  # a streamed upload keeps it alive
    assert deadline.writing() is None  # no total: a slow client may take its time
    assert deadline.written(1000.0) == 1030.0
    assert deadline.kind is FailureKind.IDLE
