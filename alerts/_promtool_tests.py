"""promtool unit tests for every alert: silent when healthy, firing when broken, resolved after.

Each scenario feeds synthetic series through the real rule files and checks the alert at the end
of each phase. Expected annotations are rendered from the rule's own templates (labels only), so
a change of wording regenerates rather than breaks the tests, while a change of labels does not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from alerts import _component_alerts as comp
from alerts import _slo_alerts as slo
from alerts._catalog import all_alerts
from alerts._errors import SettingsError
from alerts._model import AlertRule
from alerts._promql import duration
from alerts._series import Phases, clock, counter, gauge
from alerts._settings import MINUTE, RuleSettings
from exporters import metric_names as gpu
from receipts import metric_names as receipts
from telemetry.core import Config
from telemetry.core import metric_names as proxy

INSTANCE = "sidecar-1:11436"
MODEL = "llama3.1:8b"


@dataclass(frozen=True, slots=True)
class Scenario:
    alertname: str
    phases: Phases
    series: tuple[tuple[str, str], ...]
    firing: tuple[Mapping[str, str], ...]
    """Labels of each expected alert (severity and the rule's static labels are added)."""


def _labels(**labels: str) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def render(template: str, labels: Mapping[str, str]) -> str:
    """Expand the subset of Go templates the rules use: `$labels.x` and `if $labels.x`."""

    def conditional(match: re.Match[str]) -> str:
        return match.group(2) if labels.get(match.group(1)) else ""

    text = re.sub(r"\{\{ if \$labels\.(\w+) \}\}(.*?)\{\{ end \}\}", conditional, template)
    return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels.get(m.group(1), ""), text)


# Samples and rule evaluations every 5 minutes: promtool's cost grows with evaluations, and
# every `for:` and window of the rules is at least this long.
STEP = 5


def _phases(healthy: int, broken: int, recovered: int) -> Phases:
    def up(minutes: int) -> int:
        return -(-minutes // STEP) * STEP

    return Phases(up(healthy), up(broken), up(recovered), step=STEP)


def _slo_scenarios(config: Config, settings: RuleSettings) -> list[Scenario]:
    tier = config.tier_named(config.default_tier)
    longest_for = max(w.for_seconds for w in settings.burn_windows) // MINUTE
    longest_short = max(w.short_seconds for w in settings.burn_windows) // MINUTE
    # rate() over a long window divides by the whole window, so the minimum-traffic guard on
    # the 3d window needs a few hours of history before it lets anything fire.
    burn = _phases(180, longest_for + 60, longest_short + 60)
    base = {"instance": INSTANCE, "job": settings.job, proxy.LABEL_TIER: tier.name}
    request = {**base, proxy.LABEL_MODEL: MODEL, proxy.LABEL_ENDPOINT: "/api/chat"}
    windows = tuple(
        {
            "instance": INSTANCE,
            "tier": tier.name,
            "severity": w.severity,
            "long": duration(w.long_seconds),
            "short": duration(w.short_seconds),
        }
        for w in settings.burn_windows
    )
    ok = f"{proxy.REQUESTS}{_labels(**request, outcome='ok')}"
    timeout = f"{proxy.REQUESTS}{_labels(**request, outcome='timeout')}"
    steady = (ok, counter(burn, (100, 100, 100)))
    histogram = {**base, proxy.LABEL_MODEL: MODEL, proxy.LABEL_OPERATION: "chat"}
    p95_edge = _labels(**histogram, le=f"{tier.p95_seconds:.1f}")
    p50_edge = _labels(**histogram, le=f"{tier.p50_seconds:.1f}")
    count = f"{proxy.REQUEST_DURATION}_count{_labels(**histogram)}"
    median = _phases(
        60,
        settings.median_for_seconds // MINUTE + 60,
        settings.median_window_seconds // MINUTE + 30,
    )
    absent = _phases(30, settings.absent_for_seconds // MINUTE + 15, 10)
    return [
        Scenario(
            slo.TIMEOUT_BURN,
            burn,
            (
                (ok, counter(burn, (99, 50, 100))),
                (timeout, counter(burn, (1, 50, 0))),
            ),
            windows,
        ),
        Scenario(
            slo.LATENCY_BURN,
            burn,
            (
                steady,
                (count, counter(burn, (100, 100, 100))),
                (f"{proxy.REQUEST_DURATION}_bucket{p95_edge}", counter(burn, (99, 20, 100))),
            ),
            windows,
        ),
        Scenario(
            slo.MEDIAN_OVER_BUDGET,
            median,
            (
                (ok, counter(median, (100, 100, 100))),
                (count, counter(median, (100, 100, 100))),
                (f"{proxy.REQUEST_DURATION}_bucket{p50_edge}", counter(median, (90, 30, 90))),
            ),
            ({"instance": INSTANCE, "tier": tier.name},),
        ),
        Scenario(
            slo.SLI_ABSENT,
            absent,
            (
                (ok, gauge(absent, (5, None, 5))),
                (count, gauge(absent, (5, None, 5))),
            ),
            ({},),
        ),
    ]


def _component_scenarios(config: Config, settings: RuleSettings) -> list[Scenario]:
    short = _phases(20, settings.gpu_for_seconds * 3 // MINUTE + 10, 25)
    host = {"instance": INSTANCE, "job": settings.job}
    device = {
        **host,
        "gpu": "0",
        "uuid": "GPU-5a1e",
        "name": "NVIDIA H100 80GB HBM3",
        "vendor": "nvidia",
    }
    key = {k: device[k] for k in ("instance", "gpu", "uuid", "name")}
    devices = f"{gpu.GPU_DEVICES}{_labels(**host)}"
    stale = settings.checkpoint_stale_seconds(config.receipts.checkpoint_interval_seconds)
    receipt = _phases(20, stale // MINUTE + 10, 10)
    quorum = _phases(20, 20, 20)
    window = settings.cpu_fallback_window_seconds // MINUTE
    fallback = _phases(30, window + 20, window + 10)
    processor = {**host, proxy.LABEL_TIER: "gpu-8gb"}
    # Five times the configured evictions an hour (30 by default), for long enough that the 1h
    # window fills, then none for an hour.
    thrash = _phases(30, 60 + settings.gpu_for_seconds // MINUTE + 15, 75)
    evictions = 5 * config.gpu.thrash_evictions_per_hour / 60
    model = {gpu.LABEL_MODEL: MODEL}
    return [
        Scenario(
            comp.SIDECAR_DOWN, short, ((f"up{_labels(**host)}", gauge(short, (1, 0, 1))),), (host,)
        ),
        Scenario(
            comp.OLLAMA_UNREACHABLE,
            short,
            ((f"{proxy.UPSTREAM_UP}{_labels(**host)}", gauge(short, (1, 0, 1))),),
            (host,),
        ),
        Scenario(
            comp.CONNECTIONS_REFUSED,
            short,
            (
                (
                    f"{proxy.CONNECTIONS_REFUSED}"
                    f"{_labels(**host, listener='proxy', reason='max_connections')}",
                    counter(short, (0, 1, 0)),
                ),
                (  # slow clients cut off are not what this alert is about
                    f"{proxy.CONNECTIONS_REFUSED}"
                    f"{_labels(**host, listener='proxy', reason='header_timeout')}",
                    counter(short, (1, 1, 1)),
                ),
            ),
            ({"instance": INSTANCE, "listener": "proxy"},),
        ),
        Scenario(
            comp.GPU_MISSING,
            short,
            ((devices, gauge(short, (1, 0, 1))),),
            ({"instance": INSTANCE},),
        ),
        Scenario(
            comp.GPU_LOST, short, ((devices, gauge(short, (8, 7, 8))),), ({"instance": INSTANCE},)
        ),
        Scenario(
            comp.GPU_UNHEALTHY,
            short,
            ((f"{gpu.GPU_UP}{_labels(**device)}", gauge(short, (1, 0, 1))),),
            (device,),
        ),
        Scenario(
            comp.GPU_ERRORS,
            short,
            (
                (
                    f"{gpu.GPU_ERRORS}{_labels(**device, error_type='uncorrected')}",
                    counter(short, (0, 1, 0)),
                ),
            ),
            (key,),
        ),
        Scenario(
            comp.GPU_HOT,
            short,
            ((f"{gpu.GPU_TEMPERATURE}{_labels(**device)}", gauge(short, (60, 92, 60))),),
            (key,),
        ),
        Scenario(
            comp.GPU_THROTTLING,
            short,
            (
                (
                    f"{gpu.GPU_CLOCK_EVENT}{_labels(**device, reason='gpu_idle')}",
                    gauge(short, (1, 1, 1)),
                ),
                (
                    f"{gpu.GPU_CLOCK_EVENT}{_labels(**device, reason='hw_thermal_slowdown')}",
                    gauge(short, (0, 1, 0)),
                ),
            ),
            ({**key, "reason": "hw_thermal_slowdown"},),
        ),
        Scenario(
            comp.GPU_MEMORY_FULL,
            short,
            (
                (f"{gpu.GPU_MEMORY_USAGE}{_labels(**device)}", gauge(short, (40e9, 79e9, 40e9))),
                (f"{gpu.GPU_MEMORY_LIMIT}{_labels(**device)}", gauge(short, (80e9, 80e9, 80e9))),
            ),
            (key,),
        ),
        Scenario(
            comp.CPU_FALLBACK,
            fallback,
            (
                (devices, gauge(fallback, (8, 8, 8))),
                (
                    f"{gpu.REQUESTS_BY_PROCESSOR}{_labels(**processor, processor='gpu')}",
                    counter(fallback, (100, 50, 100)),
                ),
                (
                    f"{gpu.REQUESTS_BY_PROCESSOR}{_labels(**processor, processor='cpu')}",
                    counter(fallback, (0, 50, 0)),
                ),
                # heavy cloud-model traffic must not hide the local fallback
                (
                    f"{gpu.REQUESTS_BY_PROCESSOR}{_labels(**processor, processor='remote')}",
                    counter(fallback, (1000, 1000, 1000)),
                ),
            ),
            ({"instance": INSTANCE},),
        ),
        Scenario(
            comp.MODEL_THRASHING,
            thrash,
            (
                (
                    f"{gpu.RESIDENCY_EVENTS}{_labels(**host, event='evict', **model)}",
                    counter(thrash, (0, evictions, 0)),
                ),
                (
                    f"{gpu.RESIDENCY_EVENTS}{_labels(**host, event='load', **model)}",
                    counter(thrash, (1 / 60, evictions, 1 / 60)),
                ),
            ),
            ({"instance": INSTANCE, **model},),
        ),
        Scenario(
            comp.RECEIPT_FAILURES,
            short,
            (
                (
                    f"{receipts.RECEIPT_FAILURES}{_labels(**host, stage='sign')}",
                    counter(short, (0, 1, 0)),
                ),
            ),
            ({"instance": INSTANCE, "stage": "sign"},),
        ),
        Scenario(
            comp.CHECKPOINT_STALE,
            receipt,
            (
                (f"{receipts.RECEIPTS}{_labels(**host)}", counter(receipt, (10, 10, 10))),
                (
                    f"{receipts.CHECKPOINT_TIMESTAMP}{_labels(**host)}",
                    clock(receipt, (True, False, True)),
                ),
            ),
            ({"instance": INSTANCE},),
        ),
        Scenario(
            comp.WITNESS_QUORUM_STALE,
            quorum,
            (
                (
                    f"{receipts.WITNESS_QUORUM_AGE}{_labels(**host)}",
                    gauge(quorum, (60, settings.witness_quorum_stale_seconds + 600, 60)),
                ),
            ),
            ({"instance": INSTANCE},),
        ),
    ]


def scenarios(config: Config, settings: RuleSettings) -> list[Scenario]:
    return [*_slo_scenarios(config, settings), *_component_scenarios(config, settings)]


def _expected(rule: AlertRule, labels: Mapping[str, str]) -> dict[str, Any]:
    full = {"severity": rule.severity, **dict(rule.labels), **labels}
    annotations = {**rule.annotations(), "description": render(rule.description, full)}
    return {"exp_labels": full, "exp_annotations": annotations}


def _alert_tests(scenario: Scenario, rules: list[AlertRule]) -> list[dict[str, Any]]:
    healthy, broken, recovered = scenario.phases.eval_times()
    firing = []
    for labels in scenario.firing:
        matching = [
            r
            for r in rules
            if all(labels.get(k, v) == v for k, v in r.labels)
            and labels.get("severity", r.severity) == r.severity
        ]
        firing.append(_expected(matching[0], labels))
    return [
        {"eval_time": healthy, "alertname": scenario.alertname, "exp_alerts": []},
        {"eval_time": broken, "alertname": scenario.alertname, "exp_alerts": firing},
        {"eval_time": recovered, "alertname": scenario.alertname, "exp_alerts": []},
    ]


def unit_tests(config: Config, settings: RuleSettings, rule_files: list[str]) -> dict[int, Any]:
    """promtool test documents keyed by sampling step in minutes (one file per step, since the
    evaluation interval is per file); `rule_files` relative to where they will be written."""
    by_name: dict[str, list[AlertRule]] = {}
    for rule in all_alerts(config, settings):
        by_name.setdefault(rule.alert, []).append(rule)
    missing = set(by_name) - {s.alertname for s in scenarios(config, settings)}
    if missing:
        raise SettingsError(f"alerts without a promtool scenario: {sorted(missing)}")
    documents: dict[int, Any] = {}
    for scenario in scenarios(config, settings):
        step = scenario.phases.step
        document = documents.setdefault(
            step, {"rule_files": rule_files, "evaluation_interval": f"{step}m", "tests": []}
        )
        document["tests"].append(
            {
                "name": scenario.alertname,
                "interval": f"{step}m",
                "input_series": [{"series": s, "values": v} for s, v in scenario.series],
                "alert_rule_test": _alert_tests(scenario, by_name[scenario.alertname]),
            }
        )
    return documents
