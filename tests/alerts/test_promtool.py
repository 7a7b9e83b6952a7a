from __future__ import annotations

from pathlib import Path

import pytest

from alerts import Promtool, PromtoolError


def test_missing_binary_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    with pytest.raises(PromtoolError, match="`prometheus` package"):
        Promtool()


def test_a_binary_that_cannot_run_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PromtoolError, match="No such file"):
        Promtool(binary=str(tmp_path / "no-promtool")).check_rules(tmp_path / "x.yaml")


def test_check_rules_reports_a_syntax_error(promtool: Promtool, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("groups:\n- name: g\n  rules:\n  - record: a:b:c\n    expr: sum(rate(x[5m])\n")
    result = promtool.check_rules(bad)
    assert not result.ok
    assert "bad.yaml" in result.output
