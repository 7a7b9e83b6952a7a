from __future__ import annotations

from alerts import AlertRule, RecordingRule, RuleGroup, runbook_url


def test_alert_rule_dict_has_mixin_shape() -> None:
    rule = AlertRule(
        alert="OllamaSidecarX",
        expr="a > 1",
        severity="warning",
        summary="X is wrong.",
        description="X on {{ $labels.instance }}.",
        for_seconds=300,
        labels=(("long", "1h"),),
    )
    assert rule.to_dict() == {
        "alert": "OllamaSidecarX",
        "expr": "a > 1",
        "for": "5m",
        "labels": {"severity": "warning", "long": "1h"},
        "annotations": {
            "summary": "X is wrong.",
            "description": "X on {{ $labels.instance }}.",
            "runbook_url": runbook_url("OllamaSidecarX"),
        },
    }
    assert "for" not in AlertRule("A", "a", "info", "S.", "{{ $labels.x }}").to_dict()


def test_group_renders_recording_rules() -> None:
    group = RuleGroup("g", (RecordingRule("a:b:rate5m", "sum(rate(b[5m]))", (("tier", "t"),)),))
    assert group.to_dict() == {
        "name": "g",
        "rules": [{"record": "a:b:rate5m", "expr": "sum(rate(b[5m]))", "labels": {"tier": "t"}}],
    }
