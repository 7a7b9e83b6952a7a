from __future__ import annotations

from pathlib import Path

import yaml

from alerts import ALERTS_DIR, Promtool, RuleSettings, all_alerts, scenarios, write_alert_files
from alerts._promtool_tests import render
from telemetry import Config
from telemetry.core import load_config


def test_every_alert_has_a_three_phase_scenario() -> None:
    names = {rule.alert for rule in all_alerts(Config(), RuleSettings())}
    assert {s.alertname for s in scenarios(Config(), RuleSettings())} == names


def test_render_expands_labels_and_conditionals() -> None:
    template = "job {{ $labels.job }}{{ if $labels.instance }} on {{ $labels.instance }}{{ end }}."
    assert render(template, {"job": "j"}) == "job j."
    assert render(template, {"job": "j", "instance": "h:1"}) == "job j on h:1."


def test_committed_unit_tests_pass(promtool: Promtool) -> None:
    files = sorted((ALERTS_DIR / "tests").glob("*_test.yaml"))
    assert files
    result = promtool.test_rules(*files)
    assert result.ok, result.output


def test_unit_tests_catch_a_rule_that_does_not_fire(promtool: Promtool, tmp_path: Path) -> None:
    # Rules generated with a hotter threshold than the scenario's 92 °C must fail their test.
    write_alert_files(tmp_path, Config(), RuleSettings(gpu_hot_celsius=95))
    path = tmp_path / "tests" / "alerts_5m_test.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["tests"] = [t for t in document["tests"] if t["name"] == "OllamaSidecarGpuHot"]
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    result = promtool.test_rules(path)
    assert not result.ok
    assert "OllamaSidecarGpuHot" in result.output


def test_the_configured_thrashing_rate_sets_the_rule_and_its_test(
    promtool: Promtool, tmp_path: Path
) -> None:
    config = load_config(env={}, overrides={"gpu": {"thrash_evictions_per_hour": 40}})
    write_alert_files(tmp_path, config, RuleSettings())
    rules = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "rules").glob("*.yaml"))
    assert (
        'increase(ollama_sidecar_model_residency_events_total{event="evict"}[1h]))\n      > 40'
        in rules
    )
    (path,) = [
        p
        for p in (tmp_path / "tests").glob("*_test.yaml")
        if "OllamaSidecarModelThrashing" in p.read_text(encoding="utf-8")
    ]
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["tests"] = [t for t in document["tests"] if t["name"] == "OllamaSidecarModelThrashing"]
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    result = promtool.test_rules(path)
    assert result.ok, result.output
