"""End to end: a real Prometheus scrapes a running sidecar in front of the emulator.

Rules use second-long windows; traffic flows, then the emulator stalls so requests hit the 0.5 s
time-to-first-token timeout, and the timeout burn alert must fire. Per-GPU series and error
counters that nothing triggers on a GPU-less box are expected empty (see OPTIONAL).
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from alerts import BurnWindow, RuleSettings, metric_names, write_alert_files
from dashboards import build_dashboards, panel_queries
from exporters import metric_names as gpu
from receipts import metric_names as receipts
from telemetry import load_config
from telemetry.core import metric_names as proxy

pytestmark = pytest.mark.slow

SETTINGS = RuleSettings(
    burn_windows=(
        BurnWindow("critical", 30, 10, 14.4, 0),
        BurnWindow("warning", 60, 20, 1.0, 0),
    ),
    median_window_seconds=30,
    median_for_seconds=10,
)
# Series a GPU-less box never has, and error counters this scenario does not trigger.
PER_GPU = {
    value
    for key, value in vars(gpu).items()
    if key.startswith("GPU_") and key not in ("GPU_DEVICES", "GPU_BACKEND_UP")
}
# Registered only when `[[receipts.witness]]` are configured (this stack has none).
WITNESS = {receipts.WITNESS_SUBMISSIONS, receipts.WITNESS_LAG, receipts.WITNESS_QUORUM_AGE}
OPTIONAL = (
    PER_GPU
    | WITNESS
    | {
        proxy.UPSTREAM_ERRORS,
        proxy.TELEMETRY_ERRORS,
        receipts.RECEIPT_FAILURES,
        gpu.REQUESTS_BY_PROCESSOR,
        gpu.MODEL_VRAM,
        gpu.MODEL_SIZE,
        # GPU usage per request and residency changes: nothing to see on a GPU-less box.
        gpu.REQUEST_ENERGY,
        f"{gpu.ENERGY_PER_OUTPUT_TOKEN}_sum",
        f"{gpu.ENERGY_PER_OUTPUT_TOKEN}_count",
        gpu.RESIDENCY_EVENTS,
        gpu.MODEL_RESIDENT,
    }
)
CLI = [sys.executable, "-m", "telemetry.app.cli"]
TOML = """
[tiers.gpu-8gb]
ttft_timeout_seconds = 0.5
[tiers.cpu]
ttft_timeout_seconds = 0.5
[slo]
min_request_rate = 0.05
"""


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(url: str, processes: list[subprocess.Popen[bytes]], deadline: float = 30.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        exited = [p.args for p in processes if p.poll() is not None]
        if exited:
            raise AssertionError(f"exited early (see its log): {exited}")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {deadline}s")


def _substitute(expr: str) -> str:
    expr = expr.replace("$__rate_interval", "15s").replace("$__range", "60s")
    return re.sub(r"\$\w+", ".*", expr)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[dict[str, Any]]:
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        pytest.skip("prometheus is not installed (Debian package `prometheus`)")
    emu, proxy_port, admin, prom = _port(), _port(), _port(), _port()
    (tmp_path / "sidecar.toml").write_text(TOML)
    config = load_config(tmp_path / "sidecar.toml", env={})
    rules = write_alert_files(tmp_path / "alerts", config, SETTINGS)
    rule_files = "\n".join(f"  - {p}" for p in rules if p.parent.name == "rules")
    (tmp_path / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"rule_files:\n{rule_files}\n"
        "scrape_configs:\n  - job_name: ollama-sidecar\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{admin}']\n"
    )
    cli = CLI
    commands = [
        [
            *cli,
            "emulate",
            "--listen",
            f"127.0.0.1:{emu}",
            "--ttft",
            "0.01",
            "--tokens-per-second",
            "200",
        ],
        [
            *cli,
            "serve",
            "--listen",
            f"127.0.0.1:{proxy_port}",
            "--admin-listen",
            f"127.0.0.1:{admin}",
            "--upstream",
            f"http://127.0.0.1:{emu}",
            "--data-dir",
            str(tmp_path / "data"),
            "--config",
            str(tmp_path / "sidecar.toml"),
        ],
        [
            prometheus,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom}",
        ],
    ]
    processes = []
    logs = []
    try:
        for name, command in zip(("emulator", "sidecar", "prometheus"), commands, strict=True):
            logs.append((tmp_path / f"{name}.log").open("w"))
            processes.append(subprocess.Popen(command, stdout=logs[-1], stderr=subprocess.STDOUT))
        _wait(f"http://127.0.0.1:{emu}/api/version", processes)
        _wait(f"http://127.0.0.1:{admin}/metrics", processes)
        _wait(f"http://127.0.0.1:{prom}/-/ready", processes)
        yield {
            "config": config,
            "emulator": f"http://127.0.0.1:{emu}",
            "proxy": f"http://127.0.0.1:{proxy_port}",
            "admin": f"http://127.0.0.1:{admin}",
            "prometheus": f"http://127.0.0.1:{prom}",
            "logs": tmp_path,
        }
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in logs:
            log.close()


def _traffic(client: httpx.Client, base: str, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for model in ("llama3.1:8b", "llama3.2:3b"):
            client.post(f"{base}/api/generate", json={"model": model, "prompt": "hi"})
            client.post(
                f"{base}/api/chat",
                json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
            )


def _exported(scrape: str) -> set[str]:
    """Sample names, plus those of declared families with no sample yet (a labelled counter
    shows only its HELP and TYPE lines until its first increment)."""
    names = set()
    for family in text_string_to_metric_families(scrape):
        names |= {sample.name for sample in family.samples}
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}
        names |= {family.name + suffix for suffix in suffixes.get(family.type, ("",))}
    return names


def _query(prom: str, expr: str) -> list[Any]:
    answer = httpx.get(f"{prom}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert answer["status"] == "success", (expr, answer)
    result: list[Any] = answer["data"]["result"]
    return result


def test_prometheus_scrapes_the_sidecar_and_the_timeout_alert_fires(
    stack: dict[str, Any],
) -> None:
    prom = stack["prometheus"]
    with httpx.Client(timeout=10) as client:
        _traffic(client, stack["proxy"], 8)
        client.put(f"{stack['emulator']}/_emulator/config", json={"fault": "stall_before"})
        _traffic(client, stack["proxy"], 12)

        scrape = client.get(f"{stack['admin']}/metrics").text
    exported = _exported(scrape)

    deadline = time.monotonic() + 30
    firing: list[Any] = []
    while time.monotonic() < deadline and not firing:
        alerts = httpx.get(f"{prom}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
        firing = [
            a
            for a in alerts
            if a["labels"]["alertname"] == "OllamaSidecarTimeoutBudgetBurn"
            and a["state"] == "firing"
        ]
        time.sleep(1)
    assert firing, "the timeout burn alert did not fire"
    assert {a["labels"]["tier"] for a in firing} <= {"gpu-8gb", "cpu"}

    groups = httpx.get(f"{prom}/api/v1/rules", timeout=10).json()["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert rules and all(rule["health"] == "ok" for rule in rules), [
        (r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"
    ]

    used: set[str] = set()
    empty = []
    for dashboard in build_dashboards(stack["config"], SETTINGS).values():
        for title, expr in panel_queries(dashboard):
            names = metric_names(_substitute(expr))
            used |= names
            if not _query(prom, _substitute(expr)) and not names <= OPTIONAL:
                empty.append((dashboard["uid"], title, expr))
    assert not empty, empty

    recorded = {r["name"] for r in rules if r["type"] == "recording"}
    rule_names = set().union(*(metric_names(r["query"]) for r in rules))
    missing = (used | rule_names) - recorded - exported - PER_GPU - WITNESS - {"up"}
    assert not missing, f"used but not exported by the sidecar: {sorted(missing)}"
