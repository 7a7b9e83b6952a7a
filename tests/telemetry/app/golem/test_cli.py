"""`ollama-sidecar golem offer | demand` as subprocesses: no running sidecar, bad input exits 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]
pytestmark = pytest.mark.slow


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "telemetry.app.cli", "golem", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_offer_names_the_provider_key_and_demand_a_tier(tmp_path: Path) -> None:
    keygen = subprocess.run(
        [sys.executable, "-m", "receipts", "--data-dir", str(tmp_path), "keygen"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    key = keygen.stdout.strip()
    offer = run("offer", "--data-dir", str(tmp_path), "--json")
    assert offer.returncode == 0, offer.stderr
    properties = json.loads(offer.stdout)["properties"]
    assert properties["golem.!exp.ollama-sidecar.v1.receipts.verifier-key"] == key
    assert properties["golem.!exp.ollama-sidecar.v1.receipts.origin"] == key.split("+")[0]
    assert "golem.!exp.ollama-sidecar.v1.receipts.witnesses" not in properties
    witness = "witness.example/w+01020304+BAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    config = tmp_path / "sidecar.toml"
    config.write_text(f'[[receipts.witness]]\nurl = "http://127.0.0.1:9/"\nkey = "{witness}"\n')
    witnessed = run("offer", "--data-dir", str(tmp_path), "--config", str(config), "--json")
    assert witnessed.returncode == 0, witnessed.stderr
    listed = json.loads(witnessed.stdout)["properties"]
    assert listed["golem.!exp.ollama-sidecar.v1.receipts.witnesses"] == [witness]
    demand = run("demand", "--tier", "gpu-8gb", "--vendor", "amd")
    assert demand.returncode == 0
    assert "(golem.!exp.ollama-sidecar.v1.inf.gpu.d0.vendor=amd)" in demand.stdout


def test_missing_key_and_unknown_tier_exit_2(tmp_path: Path) -> None:
    missing = run("offer", "--data-dir", str(tmp_path / "empty"))
    assert missing.returncode == 2 and "provider key" in missing.stderr
    assert "Traceback" not in missing.stderr
    unknown = run("demand", "--tier", "gpu-99gb")
    assert unknown.returncode == 2 and "gpu-8gb" in unknown.stderr
