"""The four plots, also for runs where nothing completed, as readable PNGs."""

from __future__ import annotations

from pathlib import Path

from telemetry import Config
from telemetry.app.loadtest._plots import write_plots
from telemetry.app.loadtest._runner import Runner
from telemetry.emulator import EmulatorServer
from tests.telemetry.app.loadtest._files import png_size
from tests.telemetry.app.loadtest.conftest import spec


async def test_plots_are_pngs_one_panel_per_run(
    runner: Runner, emu: EmulatorServer, config: Config, tmp_path: Path
) -> None:
    results = [await runner.run(spec(config, name=f"run {i}", requests=2)) for i in range(3)]
    emu.config.fault = "stall_before"
    results.append(await runner.run(spec(config, name="all stalled", requests=1)))
    paths = write_plots(tmp_path, results)
    assert [p.name for p in paths] == [
        "latency_cdf.png",
        "ttft_cdf.png",
        "tokens_per_second.png",
        "timeouts_over_time.png",
    ]
    (tmp_path / "one").mkdir()
    one_row = write_plots(tmp_path / "one", results[:1])
    # Two columns of panels: four runs take two rows, one run one row.
    assert png_size(paths[0])[1] > png_size(one_row[0])[1]
    for path in paths:
        assert min(png_size(path)) >= 300
