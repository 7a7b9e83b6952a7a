"""The energy meter on a scripted clock: shares of overlapping requests add up to the counter's
advance, a reset or a lost GPU leaves energy out, a wrap is carried over, busy time follows the
sampled utilization."""

from __future__ import annotations

import pytest

from exporters import NvmlSource, RocmSmiLibSource
from exporters._energy import EnergyCounters, EnergyMeter
from exporters._sampler import GpuSnapshot
from exporters.testing import FakeNvml, FakeRocmSmi, fake_reading

UUID0 = fake_reading(0).uuid
UUID1 = fake_reading(1).uuid
WATTS = 300.0


class Gpu:
    """One GPU drawing constant power on a clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0
        self.joules = 5_000.0
        self.watts = WATTS
        self.utilization = 0.5
        self.healthy = True
        self.counters = EnergyCounters()
        self.gpus: dict[str, frozenset[str]] = {}
        self.meter = EnergyMeter(
            self.counters, lambda model: self.gpus.get(model, frozenset({UUID0})), clock=self.clock
        )

    def clock(self) -> float:
        return self.now

    def advance(self, seconds: float, *, sample: bool = True) -> None:
        self.now += seconds
        self.joules += self.watts * seconds
        if sample:
            self.sample()

    def sample(self, **fields: object) -> None:
        values: dict[str, object] = {
            "energy_joules": self.joules,
            "power_watts": self.watts,
            "utilization_ratio": self.utilization,
            "healthy": self.healthy,
        }
        reading = fake_reading(0, **(values | fields))
        self.counters.observe(GpuSnapshot(devices=(reading,), taken_at=self.now))


@pytest.fixture
def gpu() -> Gpu:
    g = Gpu()
    g.sample()
    return g


def test_one_request_gets_power_times_time(gpu: Gpu) -> None:
    handle = gpu.meter.begin("m")
    gpu.advance(0.4)
    gpu.advance(0.35, sample=False)  # ends between samples: extrapolated with the last power
    usage = gpu.meter.end(handle, [UUID0])
    assert usage is not None and usage.energy_joules is not None
    assert usage.energy_joules == pytest.approx(WATTS * 0.75)
    assert usage.gpu_seconds == pytest.approx(0.75 * 0.5)
    assert usage.utilization_ratio == pytest.approx(0.5)


def test_overlapping_shares_add_up_to_the_counter_advance(gpu: Gpu) -> None:
    start = gpu.joules
    a = gpu.meter.begin("m")
    gpu.advance(1.0)
    b = gpu.meter.begin("m")
    gpu.advance(1.0)
    usage_a = gpu.meter.end(a, [UUID0])
    gpu.advance(2.0)
    usage_b = gpu.meter.end(b, [UUID0])
    assert usage_a is not None and usage_b is not None
    assert usage_a.energy_joules == pytest.approx(WATTS * (1.0 + 0.5))
    assert usage_b.energy_joules == pytest.approx(WATTS * (0.5 + 2.0))
    total = usage_a.energy_joules + usage_b.energy_joules  # type: ignore[operator]
    assert total == pytest.approx(gpu.joules - start)
    assert usage_a.gpu_seconds + usage_b.gpu_seconds == pytest.approx(4.0 * 0.5)  # type: ignore[operator]


def test_a_cpu_request_gets_nothing_and_does_not_dilute_a_gpu_one(gpu: Gpu) -> None:
    gpu.gpus["cpu-model"] = frozenset()
    on_cpu = gpu.meter.begin("cpu-model")
    on_gpu = gpu.meter.begin("m")
    gpu.advance(1.0)
    assert gpu.meter.end(on_cpu, []) is None
    usage = gpu.meter.end(on_gpu, [UUID0])
    assert usage is not None and usage.energy_joules == pytest.approx(WATTS)


def test_a_request_that_turns_out_remote_leaves_the_gpu_from_its_first_token(gpu: Gpu) -> None:
    """A model the monitor did not know yet occupies the GPU until its first line says it is
    remote; from then on the local request gets the whole draw, and the shares still add up."""
    start = gpu.joules
    remote = gpu.meter.begin("new-cloud-model")
    local = gpu.meter.begin("m")
    gpu.advance(1.0)  # both on the GPU: half each
    gpu.meter.narrow(remote, [])
    gpu.advance(2.0)  # the local one alone
    assert gpu.meter.end(remote, []) is None
    usage = gpu.meter.end(local, [UUID0])
    assert usage is not None and usage.energy_joules == pytest.approx(WATTS * (0.5 + 2.0))
    gpu.meter.narrow(remote, [])  # an ended request: nothing to do
    assert gpu.meter.active == 0 and gpu.joules - start == pytest.approx(WATTS * 3.0)


def test_narrowing_to_the_served_gpus_keeps_their_share(gpu: Gpu) -> None:
    gpu.gpus["m"] = frozenset({UUID0, UUID1})
    handle = gpu.meter.begin("m")
    gpu.advance(1.0)
    gpu.meter.narrow(handle, [UUID0])
    gpu.advance(1.0)
    usage = gpu.meter.end(handle, [UUID0])
    assert usage is not None and usage.energy_joules == pytest.approx(WATTS * 2.0)


def test_a_reset_between_start_and_end_leaves_the_energy_out(gpu: Gpu) -> None:
    handle = gpu.meter.begin("m")
    gpu.advance(0.5)
    gpu.joules = 2.0  # driver reloaded: the counter starts again
    gpu.advance(0.5)
    usage = gpu.meter.end(handle, [UUID0])
    assert usage is not None and usage.energy_joules is None
    assert usage.gpu_seconds == pytest.approx(0.5)
    assert gpu.counters.resets == 1
    after = gpu.meter.begin("m")  # the next request is measured again
    gpu.advance(1.0)
    again = gpu.meter.end(after, [UUID0])
    assert again is not None and again.energy_joules == pytest.approx(WATTS)


def test_a_wrapping_counter_is_carried_over(gpu: Gpu) -> None:
    width = 10_000.0
    gpu.joules = width - 100.0
    gpu.sample(energy_wrap_joules=width)
    handle = gpu.meter.begin("m")
    gpu.advance(1.0, sample=False)
    gpu.joules -= width
    gpu.sample(energy_wrap_joules=width)
    usage = gpu.meter.end(handle, [UUID0])
    assert usage is not None and usage.energy_joules == pytest.approx(WATTS)
    assert (gpu.counters.wraps, gpu.counters.resets) == (1, 0)


def test_a_gpu_that_goes_down_mid_request_leaves_the_energy_out(gpu: Gpu) -> None:
    handle = gpu.meter.begin("m")
    gpu.advance(0.5)
    gpu.healthy = False
    gpu.advance(0.5)
    assert gpu.meter.end(handle, [UUID0]) is None  # nothing measured at its end: no usage


def test_without_an_energy_counter_nothing_is_invented(gpu: Gpu) -> None:
    gpu.sample(energy_joules=None, utilization_ratio=None)
    handle = gpu.meter.begin("m")
    gpu.now += 1.0
    gpu.sample(energy_joules=None, utilization_ratio=None)
    assert gpu.meter.end(handle, [UUID0]) is None


def test_stale_readings_are_not_extrapolated() -> None:
    g = Gpu()
    g.sample()
    handle = g.meter.begin("m")
    g.now += 60.0  # the sampler stopped publishing: nothing is guessed
    assert g.meter.end(handle, [UUID0]) is None


def test_a_request_on_two_gpus_sums_both_shares(gpu: Gpu) -> None:
    both = frozenset({UUID0, UUID1})
    gpu.gpus["big"] = both

    def sample_both() -> None:
        readings = tuple(
            fake_reading(i, energy_joules=gpu.joules, power_watts=WATTS, utilization_ratio=1.0)
            for i in (0, 1)
        )
        gpu.counters.observe(GpuSnapshot(devices=readings, taken_at=gpu.now))

    sample_both()
    handle = gpu.meter.begin("big")
    gpu.advance(1.0, sample=False)
    sample_both()
    usage = gpu.meter.end(handle, sorted(both))
    assert usage is not None and usage.energy_joules == pytest.approx(2 * WATTS)
    assert usage.gpu_seconds == pytest.approx(2.0)
    assert gpu.meter.active == 0


def test_nvml_counter_wrapping_past_2_64_millijoules_is_carried_over() -> None:
    now = [0.0]
    nv = FakeNvml.h100s(1)
    nv.clock = lambda: now[0]
    nv.devices[0].energy_mj = 2**64 - 100_000  # 100 J before the unsigned 64-bit mJ wrap
    nv.draw(0, 200.0)
    source = NvmlSource(nv, is_ollama=lambda pid: False, watch_xid=False)
    source.open()
    counters = EnergyCounters()
    uuid = nv.devices[0].uuid
    readings = []
    for t in (0.0, 1.0):
        now[0] = t
        counters.observe(GpuSnapshot(devices=(source.read(0),), taken_at=t))
        readings.append(counters.latest[uuid].joules)
    source.close()
    assert (counters.wraps, counters.resets) == (1, 0)
    assert readings[1] - readings[0] == pytest.approx(200.0, abs=5.0)  # type: ignore[operator]


def test_a_request_on_a_rocm_smi_gpu_gets_power_times_time() -> None:
    now = [50.0]
    smi = FakeRocmSmi.mi300x(1)
    smi.clock = lambda: now[0]
    smi.draw(0, 420.0)
    source = RocmSmiLibSource(smi, check_sysfs=False)
    source.open()
    counters = EnergyCounters()
    uuid = source.read(0).uuid
    meter = EnergyMeter(counters, lambda model: frozenset({uuid}), clock=lambda: now[0])

    def sample() -> None:
        counters.observe(GpuSnapshot(devices=(source.read(0),), taken_at=now[0]))

    sample()
    handle = meter.begin("m")
    for _ in range(3):
        now[0] += 0.5
        sample()
    now[0] += 0.2  # ends between samples: extrapolated with the sampled power
    usage = meter.end(handle, [uuid])
    source.close()
    assert usage is not None and usage.energy_joules == pytest.approx(420.0 * 1.7, rel=1e-4)
    assert usage.utilization_ratio == pytest.approx(0.37)
