"""PNG plots, drawn by matplotlib's Agg renderer through `Figure` (no pyplot, no display).

`latency_cdf.png`: per run, the CDF of total latency with the tier's p50 and p95 budget lines;
`ttft_cdf.png`: the same for TTFT with the TTFT p95 budget; `tokens_per_second.png`: tokens/s
per request, a box per run; `timeouts_over_time.png`: cumulative timeouts against time in the run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from telemetry.app.loadtest._runner import RunResult

_COLUMNS = 2
_DPI = 100


def write_plots(out: Path, results: Sequence[RunResult]) -> list[Path]:
    paths = [
        _cdf_grid(
            out / "latency_cdf.png",
            results,
            "total latency (s)",
            lambda r: [s.elapsed for s in r.samples if s.outcome == "ok"],
            lambda r: [
                ("p50 budget", r.spec.tier.p50_seconds),
                ("p95 budget", r.spec.tier.p95_seconds),
            ],
        ),
        _cdf_grid(
            out / "ttft_cdf.png",
            results,
            "time to first token (s)",
            lambda r: [s.ttft for s in r.samples if s.outcome == "ok" and s.ttft is not None],
            lambda r: [("TTFT p95 budget", r.spec.tier.ttft_p95_seconds)],
        ),
        _tokens_per_second(out / "tokens_per_second.png", results),
        _timeouts_over_time(out / "timeouts_over_time.png", results),
    ]
    return paths


def _short(name: str) -> str:
    return name if len(name) <= 40 else name[:39] + "…"


def _cdf_grid(
    path: Path,
    results: Sequence[RunResult],
    label: str,
    values: Callable[[RunResult], list[float]],
    budgets: Callable[[RunResult], list[tuple[str, float]]],
) -> Path:
    rows = math.ceil(len(results) / _COLUMNS)
    figure = Figure(figsize=(6 * _COLUMNS, 3.2 * rows), layout="constrained")
    axes: list[Axes] = list(figure.subplots(rows, _COLUMNS, squeeze=False).flatten())
    for ax, result in zip(axes, results, strict=False):
        data = sorted(values(result))
        if data:
            ax.step(data, [(i + 1) / len(data) for i in range(len(data))], where="post")
        else:
            ax.text(0.5, 0.5, "no completed request", ha="center", transform=ax.transAxes)
        for (name, budget), style in zip(budgets(result), ("--", ":"), strict=False):
            ax.axvline(budget, color="tab:red", linestyle=style, label=f"{name} {budget:g}s")
        ax.set_xscale("log")  # budgets are often far beyond the data: both stay visible
        ax.set_title(_short(result.spec.name), fontsize=9)
        ax.set_xlabel(label + ", log scale")
        ax.set_ylabel("share of requests")
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=7, loc="lower right")
    _hide_unused(axes, len(results))
    figure.savefig(path, dpi=_DPI)
    return path


def _hide_unused(axes: Sequence[Axes], used: int) -> None:
    for ax in axes[used:]:
        ax.set_visible(False)


def _tokens_per_second(path: Path, results: Sequence[RunResult]) -> Path:
    figure = Figure(figsize=(max(6.0, 1.2 * len(results)), 4), layout="constrained")
    ax = figure.subplots()
    data = [
        [s.tokens_per_second for s in r.samples if s.tokens_per_second is not None] for r in results
    ]
    ax.boxplot([d or [math.nan] for d in data])
    ax.set_xticks(range(1, len(results) + 1), [_short(r.spec.name) for r in results])
    ax.tick_params(axis="x", labelrotation=30, labelsize=7)
    ax.set_ylabel("output tokens/s per request")
    ax.set_title("decode speed (eval_count / eval_duration)")
    figure.savefig(path, dpi=_DPI)
    return path


def _timeouts_over_time(path: Path, results: Sequence[RunResult]) -> Path:
    figure = Figure(figsize=(8, 4), layout="constrained")
    ax = figure.subplots()
    for result in results:
        ends = sorted(s.started + s.elapsed for s in result.samples if s.outcome == "timeout")
        ax.step(
            [0.0, *ends, result.stats.wall_seconds],
            [0, *range(1, len(ends) + 1), len(ends)],
            where="post",
            label=_short(result.spec.name),
        )
    ax.set_xlabel("seconds into the run")
    ax.set_ylabel("timeouts so far")
    ax.set_title("timeouts over time")
    ax.legend(fontsize=7)
    figure.savefig(path, dpi=_DPI)
    return path
