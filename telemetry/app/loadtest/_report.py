"""The report: `report.json` (schema in `report.schema.json`), `report.md`, `samples.csv` and the
plots, all in one folder. The Markdown is rendered from the JSON, so merged reports read the same.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from telemetry.app.loadtest._errors import LoadtestError
from telemetry.app.loadtest._runner import RunResult
from telemetry.app.loadtest._verdict import Objectives

SCHEMA = "ollama-sidecar-loadtest/1"
SCHEMA_FILE = Path(__file__).with_name("report.schema.json")
PROMPT_ESTIMATE = (
    "prompts are synthetic: round(0.75 x prompt_tokens) common short English words "
    "(about 4 tokens per 3 words); prompt_tokens_counted is what the target counted"
)
_RUN_NUMBERS = (
    "p50_seconds",
    "p95_seconds",
    "p99_seconds",
    "ttft_p50_seconds",
    "ttft_p95_seconds",
    "ttft_p99_seconds",
    "tokens_per_second_p50",
    "tokens_per_second_mean",
)


def run_json(result: RunResult) -> dict[str, Any]:
    spec, stats, tier = result.spec, result.stats, result.spec.tier
    return {
        "name": spec.name,
        "model": spec.model,
        "api": spec.api,
        "tier": tier.name,
        "stream": spec.stream,
        "prompt_tokens": spec.prompt_tokens,
        "output_tokens": spec.output_tokens,
        "concurrency": spec.concurrency,
        "started_at": result.started_at,
        "duration_seconds": round(stats.wall_seconds, 3),
        "requests": stats.requests,
        "completed": stats.completed,
        "timeouts": stats.timeouts,
        "errors": stats.errors,
        **{key: _round(getattr(stats, key)) for key in _RUN_NUMBERS},
        "throughput_rps": round(stats.throughput_rps, 3),
        "output_tokens_per_second": round(stats.output_tokens_per_second, 2),
        "prompt_tokens_counted": _round(stats.prompt_tokens_mean),
        "timeout_rate": round(stats.timeout_rate, 6),
        "error_rate": round(stats.error_rate, 6),
        "failures_by_kind": stats.failures,
        "budgets": {
            "p50_seconds": tier.p50_seconds,
            "p95_seconds": tier.p95_seconds,
            "ttft_p95_seconds": tier.ttft_p95_seconds,
            "ttft_timeout_seconds": tier.timeouts.ttft,
            "total_timeout_seconds": tier.timeouts.total,
        },
        "verdict": result.verdict.label,
        "failed_conditions": list(result.verdict.failures),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def build_report(
    kind: str,
    environment: dict[str, Any],
    objectives: Objectives,
    results: Sequence[RunResult],
    notes: Sequence[str] = (),
    **sections: Any,
) -> dict[str, Any]:
    """`sections`: `advice` (a sweep: its verdict alone counts, since levels past the knee are
    meant to fail) or `soak` (its drift verdict joins the runs' verdicts)."""
    runs = [run_json(r) for r in results]
    if "advice" in sections:
        passed = sections["advice"]["verdict"] == "pass"
    else:
        passed = all(r["verdict"] == "pass" for r in runs) and all(
            section["verdict"] == "pass" for section in sections.values()
        )
    return {
        "schema": SCHEMA,
        "kind": kind,
        "environment": environment,
        "objectives": {
            "max_timeout_rate": objectives.max_timeout_rate,
            "max_error_rate": objectives.max_error_rate,
        },
        "prompt_estimate": PROMPT_ESTIMATE,
        "notes": list(notes),
        "runs": runs,
        "verdict": "pass" if passed and runs else "fail",
        **sections,
    }


def check_out(out: Path, inputs: Sequence[Path] = ()) -> Path:
    """A report folder that can be written, checked before any work so a bad --out costs no
    run; never one of the `inputs` (the reports being merged), which writing would replace."""
    if any(out.resolve() == folder.resolve() for folder in inputs):
        raise LoadtestError(f"--out {out}: that is a report being merged; choose another folder")
    existing = next(p for p in (out, *out.absolute().parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise LoadtestError(f"--out {out}: {existing} is not a writable folder")
    return out


def write_report(out: Path, report: dict[str, Any], results: Sequence[RunResult]) -> list[Path]:
    """Write everything into `out` (created if missing); the paths written, report.json first."""
    from telemetry.app.loadtest import _plots  # matplotlib only when a report is written

    out.mkdir(parents=True, exist_ok=True)
    written = [out / "report.json", out / "report.md"]
    if results:
        report["plots"] = [p.name for p in _plots.write_plots(out, results)]
        written += [out / name for name in report["plots"]]
        written.append(_write_samples(out / "samples.csv", results))
    written[0].write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    written[1].write_text(render_markdown(report), encoding="utf-8")
    return written


def _write_samples(path: Path, results: Sequence[RunResult]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "run",
                "started",
                "elapsed",
                "outcome",
                "kind",
                "ttft",
                "server_ttft",
                "tokens",
                "tok_s",
            ]
        )
        for result in results:
            for s in result.samples:
                writer.writerow(
                    [
                        result.spec.name,
                        f"{s.started:.4f}",
                        f"{s.elapsed:.4f}",
                        s.outcome,
                        s.kind,
                        "" if s.ttft is None else f"{s.ttft:.4f}",
                        "" if s.server_ttft is None else f"{s.server_ttft:.4f}",
                        "" if s.output_tokens is None else s.output_tokens,
                        "" if s.tokens_per_second is None else f"{s.tokens_per_second:.2f}",
                    ]
                )
    return path


def _s(value: object) -> str:
    return "-" if not isinstance(value, int | float) else f"{value:.3f}"


def _pct(value: object) -> str:
    return "-" if not isinstance(value, int | float) else f"{value:.1%}"


def render_markdown(report: dict[str, Any]) -> str:
    env = report["environment"]
    lines = [
        f"# Load test: {report['verdict'].upper()}",
        "",
        f"- target: {env.get('target')} (version {env.get('target_version') or 'unknown'}"
        + (", built-in emulator)" if env.get("emulated") else ")"),
        f"- region: {env.get('region') or '-'}; started {env.get('started_at')}",
        f"- objectives: timeout rate < {_pct(report['objectives']['max_timeout_rate'])}, "
        f"error rate < {_pct(report['objectives']['max_error_rate'])}, "
        "p50/p95/TTFT p95 within the tier's budgets",
        f"- {report['prompt_estimate']}",
    ]
    inventory = env.get("inventory") or {}
    if inventory:
        lines.append(
            f"- generator host: {inventory.get('os')}, {inventory.get('cpu')} "
            f"x{inventory.get('cpu_count')}, GPUs: {inventory.get('gpu_summary')}"
        )
    lines += [f"- note: {note}" for note in report.get("notes", ())]
    lines += _runs_table(report["runs"])
    failed = [r for r in report["runs"] if r["failed_conditions"]]
    if failed:
        lines += ["", "## Missed conditions", ""]
        for run in failed:
            where = f" ({run['region']})" if run.get("region") else ""
            lines.append(f"- {run['name']}{where}: {'; '.join(run['failed_conditions'])}")
    if "regions" in report:
        lines += ["", "## Regions", "", "| region | target | runs | verdict |", "|---|---|---|---|"]
        lines += [
            f"| {r['region']} | {r['target']} | {r['runs']} | {r['verdict']} |"
            for r in report["regions"]
        ]
    for key, title in (("advice", "Tuning advice"), ("soak", "Soak")):
        if key in report:
            lines += ["", f"## {title}", ""] + [f"    {t}" for t in report[key]["summary"]]
    for plot in report.get("plots", ()):
        lines += ["", f"![{plot}]({plot})"]
    return "\n".join(lines) + "\n"


def _runs_table(runs: Sequence[dict[str, Any]]) -> list[str]:
    regional = any(r.get("region") for r in runs)
    head = ["region"] if regional else []
    head += [
        "run",
        "tier",
        "c",
        "requests",
        "p50 s",
        "p95 s",
        "p99 s",
        "TTFT p50 s",
        "TTFT p95 s",
        "tok/s p50",
        "req/s",
        "timeouts",
        "errors",
        "verdict",
    ]
    lines = ["", "## Runs", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in runs:
        cells = [str(r.get("region") or "-")] if regional else []
        cells += [
            r["name"],
            r["tier"],
            str(r["concurrency"]),
            str(r["requests"]),
            _s(r["p50_seconds"]),
            _s(r["p95_seconds"]),
            _s(r["p99_seconds"]),
            _s(r["ttft_p50_seconds"]),
            _s(r["ttft_p95_seconds"]),
            "-" if r["tokens_per_second_p50"] is None else f"{r['tokens_per_second_p50']:.1f}",
            f"{r['throughput_rps']:.2f}",
            _pct(r["timeout_rate"]),
            _pct(r["error_rate"]),
            r["verdict"],
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines
