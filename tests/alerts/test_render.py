from __future__ import annotations

import re
from pathlib import Path

import yaml

from alerts import ALERTS_DIR, Promtool, RuleSettings, alert_files, all_alerts, write_alert_files
from telemetry import Config

RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "runbook.md"


def test_committed_files_are_what_the_generator_writes() -> None:
    for relative, text in alert_files(Config(), RuleSettings()).items():
        committed = ALERTS_DIR / relative
        assert committed.read_text(encoding="utf-8") == text, (
            f"{committed} is stale: run `python -m telemetry.app.cli dashboards`"
        )


def test_generated_rules_pass_promtool_check_with_lint(promtool: Promtool, tmp_path: Path) -> None:
    write_alert_files(tmp_path, Config(), RuleSettings())
    result = promtool.check_rules(*sorted((tmp_path / "rules").glob("*.yaml")))
    assert result.ok, result.output
    assert f"SUCCESS: {len(all_alerts(Config(), RuleSettings()))} rules found" in result.output
    assert "SUCCESS: 46 rules found" in result.output


def test_alerts_follow_the_monitoring_mixin_conventions() -> None:
    anchors = {
        line[3:].strip().lower()
        for line in RUNBOOK.read_text(encoding="utf-8").splitlines()
        if line.startswith("## ")
    }
    for rule in all_alerts(Config(), RuleSettings()):
        assert re.fullmatch(r"OllamaSidecar(?:[A-Z][a-z0-9]+)+", rule.alert), rule.alert
        assert rule.severity in ("critical", "warning", "info")
        assert "{{" not in rule.summary and rule.summary[0].isupper()
        assert rule.summary.endswith(".")
        assert "{{ $labels." in rule.description
        assert "$value" not in rule.description
        url = rule.annotations()["runbook_url"]
        assert url.endswith("docs/runbook.md#" + rule.alert.lower())
        assert rule.alert.lower() in anchors, f"docs/runbook.md has no entry for {rule.alert}"


def test_every_runbook_entry_explains_meaning_checks_and_actions() -> None:
    sections = RUNBOOK.read_text(encoding="utf-8").split("\n## ")[1:]
    names = {rule.alert for rule in all_alerts(Config(), RuleSettings())}
    assert {section.splitlines()[0] for section in sections} == names
    for section in sections:
        for part in ("**Means**", "**Check**", "**Do**"):
            assert part in section, section.splitlines()[0]


def test_rule_files_are_valid_yaml_with_block_expressions() -> None:
    files = alert_files(Config(), RuleSettings())
    document = yaml.safe_load(files["rules/recording.yaml"])
    records = [rule["record"] for group in document["groups"] for rule in group["rules"]]
    assert all(record.count(":") == 2 for record in records)
    assert "expr: |-" in files["rules/recording.yaml"]
