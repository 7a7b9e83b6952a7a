"""The test tree mirrors the source tree: every module has tests/<package>/test_<module>.py,
or is named below with the test module that drives it (and why it has none of its own)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("telemetry", "exporters", "receipts", "dashboards", "alerts")

# module -> (test module that covers it, why)
COVERED_ELSEWHERE = {
    "telemetry/app/_cli_demo.py": ("tests/telemetry/app/test_cli.py", "run as a subprocess"),
    "telemetry/app/_cli_serve.py": ("tests/telemetry/app/test_sidecar.py", "run as a subprocess"),
    "telemetry/app/loadtest/_errors.py": (
        "tests/telemetry/app/loadtest/test_matrix.py",
        "exception tree only",
    ),
    "telemetry/app/doctor/_check.py": ("tests/telemetry/app/doctor/test_doctor.py", "records only"),
    "telemetry/app/tls/cli.py": ("tests/telemetry/app/tls/test_devcerts.py", "run as a subprocess"),
    "telemetry/core/_errors.py": ("tests/telemetry/core/test_config.py", "exception tree only"),
    "telemetry/core/_record.py": ("tests/telemetry/proxy/test_exchange.py", "frozen records only"),
    "telemetry/core/_runtime.py": ("tests/telemetry/app/test_cli.py", "event-loop choice"),
    "telemetry/core/metric_names.py": ("tests/telemetry/observe/test_metrics.py", "constants only"),
    "exporters/_source.py": ("tests/exporters/test_sampler.py", "protocol and fake source"),
    "exporters/metric_names.py": ("tests/exporters/test_collector.py", "constants only"),
    "receipts/_bundle.py": ("tests/receipts/test_cli_agreement.py", "written and read by the CLI"),
    "receipts/_cli_audit.py": ("tests/receipts/test_cli.py", "CLI subcommands as subprocesses"),
    "receipts/_cli_checkpoint.py": ("tests/receipts/test_cli.py", "CLI subcommands"),
    "receipts/_cli_export.py": ("tests/receipts/test_cli.py", "CLI subcommands"),
    "receipts/_cli_keys.py": ("tests/receipts/test_cli.py", "CLI subcommands"),
    "receipts/_cli_list.py": ("tests/receipts/test_cli.py", "CLI subcommands"),
    "receipts/_cli_monitor.py": ("tests/receipts/test_transparency.py", "CLI as a subprocess"),
    "receipts/_cli_policy.py": ("tests/receipts/test_transparency.py", "every verify mode"),
    "receipts/_cli_witness.py": ("tests/receipts/test_witness.py", "CLI as a subprocess"),
    "receipts/_cli_show.py": ("tests/receipts/test_cli.py", "CLI subcommands"),
    "receipts/_cli_source.py": ("tests/receipts/test_cli.py", "database or admin API"),
    "receipts/_cli_verify.py": ("tests/receipts/test_cli.py", "CLI subcommands"),
    "receipts/_errors.py": ("tests/receipts/test_init.py", "exception tree only"),
    "receipts/_provider.py": ("tests/receipts/test_service.py", "key and file helpers"),
    "receipts/_store_duckdb.py": ("tests/receipts/test_store.py", "store contract, both stores"),
    "receipts/_wire.py": ("tests/receipts/test_api.py", "JSON converters of the API"),
    "receipts/_witness_client.py": ("tests/receipts/test_publisher.py", "the publisher's client"),
    "receipts/_witness_server.py": ("tests/receipts/test_witness.py", "served by the CLI"),
    "receipts/testing.py": ("tests/receipts/test_publisher.py", "in-memory witnesses"),
    "receipts/metric_names.py": ("tests/receipts/test_log.py", "constants only"),
    "dashboards/_dashboard.py": ("tests/dashboards/test_build.py", "built and linted together"),
    "dashboards/_errors.py": ("tests/dashboards/test_cli.py", "exception tree only"),
    "dashboards/_gpus.py": ("tests/dashboards/test_build.py", "built and linted together"),
    "dashboards/_panels.py": ("tests/dashboards/test_build.py", "built and linted together"),
    "dashboards/_receipts.py": ("tests/dashboards/test_build.py", "built and linted together"),
    "dashboards/_requests.py": ("tests/dashboards/test_build.py", "built and linted together"),
    "dashboards/_slo.py": ("tests/dashboards/test_build.py", "built and linted together"),
    "alerts/_catalog.py": ("tests/alerts/test_render.py", "the rules, rendered and counted"),
    "alerts/_errors.py": ("tests/alerts/test_settings.py", "exception tree only"),
}


def modules() -> list[Path]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.name not in ("__init__.py", "__main__.py"):
                found.append(path.relative_to(ROOT))
    return found


def test_every_module_has_a_test_module() -> None:
    missing = []
    for module in modules():
        mirrored = ROOT / "tests" / module.parent / f"test_{module.stem.lstrip('_')}.py"
        if mirrored.exists():
            continue
        covered = COVERED_ELSEWHERE.get(str(module))
        if covered is None or not (ROOT / covered[0]).exists():
            missing.append(str(module))
    assert missing == []


def test_no_stale_exemptions() -> None:
    known = {str(m) for m in modules()}
    assert sorted(set(COVERED_ELSEWHERE) - known) == []
