"""The AI runtime's counters from receipt bodies: the union of request intervals (overlaps once),
split by the processors in flight, exact to the nanosecond."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from receipts._usage import GPU_SEC, REQUESTS, seconds, usage_of

PROCESSORS = ("gpu", "cpu", "remote", "partial")


def body(start: int, end: int, processor: str, **extra: object) -> dict[str, object]:
    return {
        "request_id": f"r{start}",
        "start_unix_ns": str(start),
        "end_unix_ns": str(end),
        "duration_ns": str(end - start),
        "outcome": "ok",
        "placement": {"processor": processor},
        **extra,
    }


intervals = st.lists(
    st.tuples(st.integers(0, 200), st.integers(0, 50), st.sampled_from(PROCESSORS)), max_size=12
)


@given(intervals)
def test_union_and_split_agree_with_counting_every_nanosecond(
    spans: list[tuple[int, int, str]],
) -> None:
    bodies = [body(start, start + length, p) for start, length, p in spans]
    usage = usage_of("a", bodies)
    covered: dict[int, set[str]] = {}
    for start, length, processor in spans:
        for t in range(start, start + length):
            covered.setdefault(t, set()).add(processor)
    assert usage.gpu_ns == len(covered)
    assert sum(usage.in_flight_ns.values()) == usage.gpu_ns
    expected: dict[str, int] = {}
    for processors in covered.values():
        mix = "+".join(sorted(processors))
        expected[mix] = expected.get(mix, 0) + 1
    assert usage.in_flight_ns == expected
    assert usage.without_local_gpu_ns == sum(1 for p in covered.values() if p <= {"cpu", "remote"})
    assert usage.requests == len(spans)


def test_counters_are_exact_decimals() -> None:
    usage = usage_of(
        "a",
        [
            body(1_000_000_001, 2_500_000_003, "gpu", input_tokens=3, output_tokens=5),
            body(2_000_000_000, 4_000_000_000, "cpu", input_tokens=1),
        ],
    )
    assert str(usage.counters()[GPU_SEC]) == "2.999999999"  # 1.000000001 s to 4 s, once
    assert usage.counters()[REQUESTS] == 2
    assert (usage.input_tokens, usage.output_tokens) == (4, 5)
    assert usage.processors == {"gpu": 1, "cpu": 1}
    assert seconds(0) == "0.000000000" and seconds(12_345_678_901) == "12.345678901"
