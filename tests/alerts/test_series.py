from __future__ import annotations

import pytest

from alerts._series import Phases, clock, counter, gauge


def test_counter_continues_across_phases() -> None:
    assert counter(Phases(3, 2, 2), (1, 10, 0)) == "0+1x2 3+10x1 23+0x1"


def test_step_scales_increments_and_eval_times() -> None:
    phases = Phases(10, 10, 5, step=5)
    assert counter(phases, (1, 2, 3)) == "0+5x1 10+10x1 30+15x0"
    assert phases.eval_times() == ("5m", "15m", "20m")
    with pytest.raises(ValueError):
        Phases(3, 5, 5, step=5)


def test_gauge_leaves_gaps_for_missing_phases() -> None:
    assert gauge(Phases(2, 2, 1), (1, None, 0)) == "1+0x1 _ _ 0+0x0"


def test_clock_freezes_while_not_ticking() -> None:
    assert clock(Phases(2, 2, 1), (True, False, True)) == "0 60 60 60 240"
