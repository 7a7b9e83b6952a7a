"""The scenario fake behaves like `pynvml` where `NvmlSource` depends on it."""

import threading

import pynvml
import pytest

from exporters.testing import FakeNvml


def test_raises_the_bindings_own_exception_classes() -> None:
    with pytest.raises(pynvml.NVMLError_LibraryNotFound):
        FakeNvml.h100s(1).library_missing().nvmlInit()
    nv = FakeNvml.h100s(2)
    with pytest.raises(pynvml.NVMLError_Uninitialized):
        nv.nvmlDeviceGetCount()
    nv.nvmlInit()
    nv.lose(1)
    assert nv.nvmlDeviceGetName(0) == "NVIDIA H100 80GB HBM3"
    with pytest.raises(pynvml.NVMLError_GpuIsLost):
        nv.nvmlDeviceGetName(1)
    nv.devices[0].unsupported.add("nvmlDeviceGetPowerUsage")
    with pytest.raises(pynvml.NVMLError_NotSupported):
        nv.nvmlDeviceGetPowerUsage(0)
    nv.nvmlShutdown()
    with pytest.raises(pynvml.NVMLError_Uninitialized):
        nv.nvmlShutdown()


def test_eight_h100s_have_distinct_identities() -> None:
    nv = FakeNvml.h100s(8)
    nv.nvmlInit()
    uuids = {nv.nvmlDeviceGetUUID(nv.nvmlDeviceGetHandleByIndex(i)) for i in range(8)}
    assert len(uuids) == nv.nvmlDeviceGetCount() == 8


def test_hang_blocks_a_device_until_released() -> None:
    nv = FakeNvml.h100s(2)
    nv.nvmlInit()
    nv.hang(0)
    done = threading.Event()

    def call() -> None:
        nv.nvmlDeviceGetUUID(0)
        done.set()

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    assert not done.wait(0.1)
    assert nv.nvmlDeviceGetUUID(1).endswith("1")  # the other device still answers
    nv.release(0)
    assert done.wait(5)
    thread.join(5)


def test_the_energy_counter_advances_with_power_resets_and_wraps() -> None:
    now = [0.0]
    nv = FakeNvml.h100s(1)
    nv.clock = lambda: now[0]
    nv.nvmlInit()
    start = nv.nvmlDeviceGetTotalEnergyConsumption(0)
    assert nv.nvmlDeviceGetTotalEnergyConsumption(0) == start  # no draw set: static
    nv.draw(0, 300.0)
    now[0] = 2.0
    assert nv.nvmlDeviceGetTotalEnergyConsumption(0) == start + 600_000  # mJ
    assert nv.nvmlDeviceGetPowerUsage(0) == 300_000  # mW
    nv.draw(0, 100.0)
    now[0] = 3.0
    assert nv.nvmlDeviceGetTotalEnergyConsumption(0) == start + 700_000
    nv.reload_driver(0)
    assert nv.nvmlDeviceGetTotalEnergyConsumption(0) == 0
    nv.devices[0].energy_mj = 2**64 - 50_000  # an unsigned 64-bit count of millijoules
    now[0] = 4.0
    assert nv.nvmlDeviceGetTotalEnergyConsumption(0) == 50_000  # wrapped


def test_xid_events_reach_a_registered_event_set() -> None:
    nv = FakeNvml.h100s(2)
    nv.nvmlInit()
    event_set = nv.nvmlEventSetCreate()
    nv.nvmlDeviceRegisterEvents(1, nv.nvmlEventTypeXidCriticalError, event_set)
    with pytest.raises(pynvml.NVMLError_Timeout):
        nv.nvmlEventSetWait_v2(event_set, 10)
    nv.xid(1, 79)
    event = nv.nvmlEventSetWait_v2(event_set, 10)
    assert (nv.nvmlDeviceGetIndex(event.device), event.eventData) == (1, 79)
    nv.nvmlEventSetFree(event_set)
