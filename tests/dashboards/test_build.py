from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts import Promtool, RuleSettings, metric_names, recording_rules
from dashboards import JSON_DIR, REPO_ROOT, SCHEMA_VERSION, build_dashboards, panel_queries, to_json
from exporters import metric_names as gpu
from receipts import metric_names as receipts
from telemetry import Config
from telemetry.core import metric_names as proxy

ALLOWED_TYPES = {"timeseries", "stat", "gauge", "bargauge", "table", "heatmap", "state-timeline"}
DASHBOARDS = build_dashboards(Config(), RuleSettings())


def declared_names() -> set[str]:
    """Every series name the three metric_names modules declare, in exposition form."""
    names: set[str] = {"up"}
    for module in (proxy, gpu, receipts):
        for key, value in vars(module).items():
            if key.isupper() and isinstance(value, str) and not key.startswith("LABEL"):
                names.add(value)
    histograms = {
        proxy.REQUEST_DURATION,
        proxy.TIME_TO_FIRST_TOKEN,
        proxy.TIME_PER_OUTPUT_TOKEN,
        proxy.TOKEN_USAGE,
        proxy.OUTPUT_TOKENS_PER_SECOND,
        receipts.FLUSH_DURATION,
        gpu.ENERGY_PER_OUTPUT_TOKEN,
    }
    names |= {f"{h}_{suffix}" for h in histograms for suffix in ("bucket", "count", "sum")}
    return names


def recorded_names() -> set[str]:
    return {
        rule.record
        for group in recording_rules(Config(), RuleSettings())
        for rule in group.rules
        if hasattr(rule, "record")
    }


def substitute(expr: str) -> str:
    """Grafana variables → values promtool accepts."""
    expr = expr.replace("$__rate_interval", "5m").replace("$__range", "1h")
    return re.sub(r"\$\w+", ".*", expr)


def test_committed_json_is_what_the_generator_writes() -> None:
    for name, dashboard in DASHBOARDS.items():
        committed = (REPO_ROOT / JSON_DIR / name).read_text(encoding="utf-8")
        assert committed == to_json(dashboard), f"{name} is stale: run the dashboards command"


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_dashboard_passes_the_linter_rules(name: str) -> None:
    dashboard = DASHBOARDS[name]
    assert dashboard["schemaVersion"] == SCHEMA_VERSION >= 39
    for legacy in ("rows", "style", "sharedCrosshair", "hideControls"):
        assert legacy not in dashboard
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert list(variables) == ["datasource", "instance", "tier", "model"]
    assert variables["datasource"]["type"] == "datasource"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        title = panel["title"]
        assert panel["type"] in ALLOWED_TYPES, title
        assert title and panel["description"], title
        assert panel["fieldConfig"]["defaults"]["unit"], title
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, title
        assert panel["datasource"]["uid"] == "${datasource}", title
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", title
            assert "query" not in target, title
            expr = target["expr"]
            for window in re.findall(r"\[([^\]]+)\]", expr):
                assert window in ("$__rate_interval", "$__range"), (title, expr)
            for total in re.findall(r"(\w+_total)\b", expr):
                assert re.search(rf"(rate|increase)\({total}", expr), (title, total)


def test_uids_and_titles_are_unique() -> None:
    assert len({d["uid"] for d in DASHBOARDS.values()}) == len(DASHBOARDS)
    assert len({d["title"] for d in DASHBOARDS.values()}) == len(DASHBOARDS)


def test_every_name_used_is_declared_or_recorded() -> None:
    rule_files = [yaml.safe_load(p.read_text()) for p in (REPO_ROOT / "alerts/rules").glob("*")]
    exprs = [expr for d in DASHBOARDS.values() for _, expr in panel_queries(d)]
    exprs += [rule["expr"] for doc in rule_files for g in doc["groups"] for rule in g["rules"]]
    used = set().union(*(metric_names(substitute(e)) for e in exprs))
    unknown = used - declared_names() - recorded_names()
    assert not unknown


def test_every_panel_expression_parses(promtool: Promtool, tmp_path: Path) -> None:
    rules: list[dict[str, Any]] = [
        {"record": f"panel:check:{i}", "expr": substitute(expr)}
        for i, (_, expr) in enumerate(q for d in DASHBOARDS.values() for q in panel_queries(d))
    ]
    path = tmp_path / "panels.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
    result = promtool.check_rules(path)
    assert result.ok, result.output


def test_a_broken_expression_is_caught(promtool: Promtool, tmp_path: Path) -> None:
    path = tmp_path / "panels.yaml"
    path.write_text(
        json.dumps(
            {"groups": [{"name": "p", "rules": [{"record": "a:b:c", "expr": "sum(rate(x[5m])"}]}]}
        )
    )
    assert not promtool.check_rules(path).ok


def test_thresholds_follow_the_config() -> None:
    from dataclasses import replace

    from telemetry.core._config import SloConfig

    strict = replace(Config(), slo=SloConfig(timeout_objective=0.99))
    slo = build_dashboards(strict, RuleSettings())["slo.json"]
    exprs = [expr for _, expr in panel_queries(slo)]
    assert "vector(0.01)" in exprs


def test_panels_on_the_processor_mix_name_and_show_every_processor() -> None:
    """Each panel over the requests-by-processor counter lists every processor a request can
    get (remote included) and keeps every one of them in its query."""
    from telemetry import Processor

    panels = [
        p
        for d in DASHBOARDS.values()
        for p in d["panels"]
        if any(gpu.REQUESTS_BY_PROCESSOR in t["expr"] for t in p.get("targets", ()))
    ]
    assert panels
    for panel in panels:
        for processor in Processor:
            assert re.search(rf"\b{processor.value}\b", panel["description"]), panel["title"]
        for target in panel["targets"]:
            # no matcher on the label that could drop one of them
            assert not re.search(rf"{gpu.LABEL_PROCESSOR}\s*[=!]", target["expr"]), target["expr"]
            assert f"by ({gpu.LABEL_PROCESSOR})" in target["expr"], target["expr"]
