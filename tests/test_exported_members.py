"""The public names of each package, pinned: a change to them is a deliberate act.
(exporters, receipts and alerts pin theirs in their own test folders.)"""

import importlib
from pathlib import Path

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


def public_modules() -> list[str]:
    """Every package of the project and the modules without a leading underscore."""
    root = Path(__file__).resolve().parent.parent
    found = []
    for package in ("telemetry", "exporters", "receipts", "dashboards", "alerts"):
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if path.name == "__init__.py":
                parts = parts[:-1]
            if not any(p.startswith("_") for p in parts):
                found.append(".".join(parts))
    return found


def test_no_test_double_in_any_all() -> None:
    doubles = {}
    for name in public_modules():
        if name.endswith(".testing"):
            continue  # where the doubles belong
        exported = getattr(importlib.import_module(name), "__all__", [])
        if found := [n for n in exported if n.lower().startswith("fake")]:
            doubles[name] = found
    assert doubles == {}
