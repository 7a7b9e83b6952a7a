"""The checklist: stable order, every check run even when Ollama is down, the table's fix lines."""

from __future__ import annotations

from pathlib import Path

from exporters.testing import FakeOllamaClient
from telemetry.app.doctor import CHECK_NAMES, Check, Host, Status, render, run_checks
from telemetry.core import load_config


async def test_every_check_runs_in_order_with_ollama_down(tmp_path: Path) -> None:
    config = load_config(None, env={}, overrides={"proxy": {"data_dir": tmp_path}})
    checks = await run_checks(config, Host(root=tmp_path, path=""), None, FakeOllamaClient())
    assert tuple(c.name for c in checks) == CHECK_NAMES
    assert checks[1].status is Status.FAIL


def test_render_shows_fixes_for_warn_and_fail_only() -> None:
    text = render(
        [
            Check("clock", Status.PASS, "fine", "unused"),
            Check("models_pulled", Status.FAIL, "not pulled: x", "ollama-sidecar models warm"),
        ]
    )
    assert text.splitlines() == [
        "PASS  clock          fine",
        "FAIL  models_pulled  not pulled: x",
        "                     fix: ollama-sidecar models warm",
        "1 PASS, 0 WARN, 1 FAIL",
    ]
