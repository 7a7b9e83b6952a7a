import re
import time

from hypothesis import given
from hypothesis import strategies as st

from telemetry.proxy._ids import request_id_from, uuid7

UUID7 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def test_uuid7_layout_and_time_order() -> None:
    first = uuid7()
    time.sleep(0.002)
    second = uuid7()
    assert UUID7.fullmatch(first) and UUID7.fullmatch(second)
    assert first[:13] < second[:13]
    millis = int(first.replace("-", "")[:12], 16)
    assert abs(millis - time.time() * 1000) < 5000


def test_valid_incoming_id_is_kept() -> None:
    assert request_id_from("req-123_abc.def") == "req-123_abc.def"


@given(st.text(max_size=300))
def test_unsafe_ids_are_replaced(text: str) -> None:
    result = request_id_from(text)
    assert result == text or UUID7.fullmatch(result)
    assert "\n" not in result and " " not in result and len(result) <= 128


def test_missing_or_overlong_id_gets_fresh_uuid7() -> None:
    assert UUID7.fullmatch(request_id_from(None))
    assert UUID7.fullmatch(request_id_from("a" * 129))
