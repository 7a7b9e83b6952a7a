"""The public names of each package, pinned: a change to them is a deliberate act.
(exporters, receipts and alerts pin theirs in their own test folders.)"""

import importlib

import pytest

EXPORTED = {
    "telemetry": [
        "Config",
        "ConfigError",
        "Framing",
        "GpuRef",
        "ModelInfo",
        "OllamaTimings",
        "Outcome",
        "Placement",
        "Processor",
        "RecordSink",
        "RequestRecord",
        "SecurityError",
        "SidecarError",
        "StreamTap",
        "TapResult",
        "Tier",
        "Timeouts",
        "UNKNOWN_PLACEMENT",
        "framing_for",
        "load_config",
        "spawn",
    ],
    "dashboards": [
        "DashboardsError",
        "JSON_DIR",
        "OutputError",
        "REPO_ROOT",
        "SCHEMA_VERSION",
        "build_dashboards",
        "panel_queries",
        "to_json",
        "write_all",
    ],
}


@pytest.mark.parametrize("package", sorted(EXPORTED))
def test_all_is_pinned_and_resolves(package: str) -> None:
    module = importlib.import_module(package)
    assert sorted(module.__all__) == EXPORTED[package]
    assert len(set(module.__all__)) == len(module.__all__)
    for name in module.__all__:
        assert getattr(module, name) is not None
