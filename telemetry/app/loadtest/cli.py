"""`ollama-sidecar loadtest`: run the matrix against a target and judge every run by its SLO.

    ollama-sidecar loadtest [--target URL] [--auth-token-file FILE] [--matrix FILE]
                            [--config FILE] [--region NAME] [--out DIR] [--json] [--quick]
                            [--sweep concurrency=1,2,4] [--soak DURATION --metrics URL]
    ollama-sidecar loadtest merge DIR... [--out DIR] [--json]

Exit codes: 0 every run (and the sweep or soak) meets its SLO, 1 any misses it, 2 usage or input
error (a bad matrix gets one line naming the key and the run; a target that answers 401 or 403
to the first requests, for a missing or wrong `--auth-token-file`). The token goes to the
target's origin only: a `--metrics` URL elsewhere (the sidecar's admin listener, which needs no
token) never sees it. Progress and the summary go to
stderr; `--json` prints the report JSON on stdout (the files are written all the same).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import aiohttp

from exporters.inventory_cli import collect
from telemetry import Config, load_config
from telemetry.app.loadtest._errors import LoadtestError
from telemetry.app.loadtest._matrix import QUICK_REQUESTS, RunSpec, default_matrix, load_matrix
from telemetry.app.loadtest._merge import merge
from telemetry.app.loadtest._progress import TextProgress
from telemetry.app.loadtest._report import build_report, check_out, write_report
from telemetry.app.loadtest._runner import Runner, RunResult
from telemetry.app.loadtest._soak import Sampler, parse_duration, soak
from telemetry.app.loadtest._sweep import DEFAULT_MARGIN, parse_sweep, sweep
from telemetry.app.loadtest._target import (
    REHEARSAL,
    TargetInfo,
    bearer_headers,
    check_url,
    probe,
)
from telemetry.app.loadtest._verdict import DEFAULT_MAX_ERROR_RATE, Objectives
from telemetry.core._runtime import run as run_loop
from telemetry.emulator import EmulatorServer

QUICK_SECONDS = 5.0


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", help="Ollama-compatible base URL (default: built-in emulator)")
    parser.add_argument(
        "--auth-token-file",
        type=Path,
        metavar="FILE",
        help="send `Authorization: Bearer` with the token in FILE (mode 0600) to the target",
    )
    parser.add_argument("--matrix", type=Path, help="TOML file of [[run]] tables")
    parser.add_argument("--config", type=Path, help="the sidecar's config file (tiers, SLO)")
    parser.add_argument("--region", help="region or host name recorded in the report")
    parser.add_argument("--out", type=Path, help="report folder (default: ./loadtest-<UTC time>)")
    parser.add_argument("--json", action="store_true", help="print the report JSON on stdout")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"at most {QUICK_REQUESTS} requests or {QUICK_SECONDS:g}s per run",
    )
    parser.add_argument(
        "--max-error-rate",
        type=float,
        default=DEFAULT_MAX_ERROR_RATE,
        help="errors (not timeouts) a run may have, as a share",
    )
    parser.add_argument("--sweep", metavar="concurrency=N,N,...", help="find each model's knee")
    parser.add_argument(
        "--margin", type=float, default=DEFAULT_MARGIN, help="sweep: timeout advice margin"
    )
    parser.add_argument("--soak", metavar="DURATION", help="repeat the matrix (90s, 30m, 2h)")
    parser.add_argument("--metrics", help="soak: the sidecar's admin /metrics URL to watch")
    parser.add_argument(
        "--sample-interval", type=float, help="soak: seconds between samples (default: 1/30th)"
    )
    sub = parser.add_subparsers(dest="loadtest_command", metavar="{merge}")
    merging = sub.add_parser("merge", help="combine reports of several regions into one")
    merging.add_argument("dirs", nargs="+", type=Path, metavar="DIR", help="report folders")
    merging.add_argument("--out", type=Path, help="merged report folder")
    merging.add_argument("--json", action="store_true", help="print the merged JSON on stdout")


@dataclasses.dataclass(frozen=True)
class Plan:
    config: Config
    target: str | None
    headers: dict[str, str]
    metrics: str | None
    objectives: Objectives
    matrix: tuple[RunSpec, ...] | None
    levels: tuple[int, ...] | None
    soak_seconds: float | None
    out: Path


def run(args: argparse.Namespace) -> int:
    if args.loadtest_command == "merge":
        return _merge(args)
    plan = _plan(args)
    report, results = run_loop(_main(args, plan))
    return _finish(args, plan.out, report, results)


def _plan(args: argparse.Namespace) -> Plan:
    """Everything that can be wrong with the input, checked before anything starts."""
    if args.sweep and args.soak:
        raise LoadtestError("--sweep and --soak: choose one")
    if not 0 <= args.max_error_rate <= 1:
        raise LoadtestError("--max-error-rate: expected a share between 0 and 1")
    if args.margin < 0:
        raise LoadtestError("--margin: expected a share >= 0")
    if args.sample_interval is not None and args.sample_interval <= 0:
        raise LoadtestError("--sample-interval: expected seconds > 0")
    config = load_config(args.config)
    matrix = load_matrix(args.matrix, config) if args.matrix else None
    if matrix is not None and args.quick:
        matrix = tuple(_quick(spec) for spec in matrix)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Plan(
        config=config,
        target=check_url(args.target) if args.target is not None else None,
        headers=bearer_headers(args.auth_token_file),
        metrics=check_url(args.metrics, "--metrics") if args.metrics is not None else None,
        objectives=Objectives.from_config(config, args.max_error_rate),
        matrix=matrix,
        levels=parse_sweep(args.sweep) if args.sweep else None,
        soak_seconds=parse_duration(args.soak) if args.soak else None,
        out=check_out(args.out or Path(f"loadtest-{stamp}")),
    )


def _quick(spec: RunSpec) -> RunSpec:
    if spec.requests is not None:
        return dataclasses.replace(spec, requests=min(spec.requests, QUICK_REQUESTS))
    assert spec.duration_seconds is not None
    return dataclasses.replace(spec, duration_seconds=min(spec.duration_seconds, QUICK_SECONDS))


async def _main(args: argparse.Namespace, plan: Plan) -> tuple[dict[str, Any], list[RunResult]]:
    started = datetime.now(UTC).isoformat(timespec="seconds")
    emulator = None
    target = plan.target
    if target is None:
        emulator = EmulatorServer(dataclasses.replace(REHEARSAL))
        await emulator.start()
        target = emulator.url
    progress = TextProgress(sys.stderr, tty=sys.stderr.isatty())
    # One pooled client for the whole test; the tiers' timeouts are enforced per request.
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30)
    try:
        async with aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=None)
        ) as session:
            info = await probe(session, target, plan.headers, emulated=emulator is not None)
            matrix, notes = _matrix(plan, info, args.quick)
            runner = Runner(session, target, plan.objectives, progress, plan.headers)
            sections: dict[str, Any] = {}
            kind = "loadtest"
            if plan.levels is not None:
                kind = "sweep"
                results, sections["advice"] = await sweep(runner, matrix, plan.levels, args.margin)
            elif plan.soak_seconds is not None:
                kind = "soak"
                interval = args.sample_interval or max(plan.soak_seconds / 30, 0.5)
                sampler = Sampler(session, target, plan.metrics, interval, plan.headers)
                results, sections["soak"] = await soak(
                    runner, matrix, plan.soak_seconds, sampler, plan.objectives
                )
            else:
                results = [await runner.run(spec) for spec in matrix]
        inventory = await collect(plan.config.tiers, target, plan.headers)
    finally:
        if emulator is not None:
            await emulator.close()
    environment = _environment(args, info, started, inventory.to_json())
    report = build_report(kind, environment, plan.objectives, results, notes, **sections)
    return report, results


def _matrix(plan: Plan, info: TargetInfo, quick: bool) -> tuple[tuple[RunSpec, ...], list[str]]:
    if plan.matrix is not None:
        missing = sorted({s.model for s in plan.matrix} - set(info.models))
        return plan.matrix, [f"model {m} is not in the target's /api/tags" for m in missing]
    matrix, notes = default_matrix(plan.config, info.models, quick=quick)
    if not matrix:
        raise LoadtestError(f"target {info.url} has no model in any tier; pass --matrix")
    return matrix, list(notes)


def _environment(
    args: argparse.Namespace, info: TargetInfo, started: str, inventory: dict[str, Any]
) -> dict[str, Any]:
    keys = ("os", "cpu", "cpu_count", "memory_bytes", "gpu_summary", "tier", "ollama_version")
    return {
        "target": info.url,
        "target_version": info.version,
        "emulated": info.emulated,
        "region": args.region,
        "started_at": started,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": str(args.config) if args.config else None,
        "loadtest_version": version("ollama-sidecar"),
        "generator": {"python": platform.python_version(), "platform": platform.platform()},
        "inventory": {key: inventory.get(key) for key in keys},
    }


def _finish(
    args: argparse.Namespace, out: Path, report: dict[str, Any], results: list[RunResult]
) -> int:
    written = write_report(out, report, results)
    if args.json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    for section in ("advice", "soak"):
        for line in report.get(section, {}).get("summary", ()):
            print(line, file=sys.stderr)
    print(
        f"verdict: {report['verdict'].upper()} ({len(report['runs'])} runs); report: {written[1]}",
        file=sys.stderr,
    )
    return 0 if report["verdict"] == "pass" else 1


def _merge(args: argparse.Namespace) -> int:
    report = merge(args.dirs)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = check_out(args.out or Path(f"loadtest-merged-{stamp}"), args.dirs)
    written = write_report(out, report, [])
    if args.json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    print(
        f"verdict: {report['verdict'].upper()} ({len(report['regions'])} regions); "
        f"report: {written[1]}",
        file=sys.stderr,
    )
    return 0 if report["verdict"] == "pass" else 1
