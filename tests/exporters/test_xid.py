"""XID events through the scenario-fake NVML: counted per device, a critical one holds the device
down until its hold ends, application XIDs only count, and a driver without events is fine."""

from __future__ import annotations

import time

from exporters import NvmlSource
from exporters._xid import XidWatcher
from exporters.testing import FakeNvml


def wait_until(check: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_critical_xid_holds_the_device_down_then_it_recovers() -> None:
    nv = FakeNvml.h100s(2)
    now = [0.0]
    source = NvmlSource(
        nv, is_ollama=lambda pid: False, xid_hold_seconds=60.0, clock=lambda: now[0]
    )
    source.open()
    try:
        assert nv.registered == {0, 1}  # the watcher thread waits on the fake event set
        nv.xid(1, 13)  # an application fault: counted, not unhealthy
        nv.xid(1, 79)  # fallen off the bus: critical
        wait_until(lambda: source.read(1).xid_errors == ((13, 1), (79, 1)))
        down = source.read(1)
        assert not down.healthy and down.error == "xid 79"
        assert down.power_watts is not None  # the reading itself is kept
        assert source.read(0).healthy and source.read(0).xid_errors == ()
        now[0] = 61.0
        assert source.read(1).healthy
    finally:
        source.close()
    assert nv.registered == set()  # the event set was freed


def test_application_xids_alone_keep_the_device_healthy() -> None:
    nv = FakeNvml.h100s(1)
    watcher = XidWatcher(nv, [0])
    watcher.record(0, 31)
    watcher.record(0, 43)
    assert watcher.critical(0) is None
    watcher.record(0, 48)
    assert watcher.critical(0) == 48


def test_without_event_support_the_source_still_reads() -> None:
    nv = FakeNvml.h100s(1)
    nv.devices[0].unsupported.add("nvmlDeviceRegisterEvents")
    source = NvmlSource(nv, is_ollama=lambda pid: False)
    source.open()
    try:
        assert nv.registered == set()
        reading = source.read(0)
        assert reading.healthy and reading.xid_errors is None
    finally:
        source.close()


def test_remapped_rows_and_retired_pages_are_read() -> None:
    nv = FakeNvml.h100s(1)
    nv.devices[0].remapped_rows = (2, 1, 1, 0)
    nv.devices[0].retired_pages = ([0x1000, 0x2000], [0x3000])
    source = NvmlSource(nv, is_ollama=lambda pid: False, watch_xid=False)
    source.open()
    r = source.read(0)
    assert r.remapped_rows == (2, 1) and r.row_remap_pending and not r.row_remap_failure
    assert r.retired_pages == (2, 1)
    nv.devices[0].unsupported |= {"nvmlDeviceGetRemappedRows", "nvmlDeviceGetRetiredPages"}
    r = source.read(0)
    assert r.remapped_rows is None and r.retired_pages is None and r.row_remap_failure is None
    source.close()
