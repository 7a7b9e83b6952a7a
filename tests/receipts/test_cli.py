"""The `receipts` CLI as a user runs it: a subprocess on a stopped sidecar's data directory."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from receipts import COSIGNATURE_V1, ReceiptService, SignedNote, VerifierKey
from receipts._keys import Signer
from receipts._note import NoteSignature, cosignature_message
from tests.receipts._support import OUTCOMES, config, record, signer
from tests.receipts._support import receipts_cli as cli

pytestmark = pytest.mark.slow  # every test runs the CLI in a subprocess


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    data = tmp_path_factory.mktemp("data")
    service = ReceiptService(config(data))
    service.start()
    for i, outcome in enumerate(OUTCOMES * 2):
        service.submit(record(i, outcome))
    service.stop()
    return data, service.verifier_key


def test_verify_export_and_offline_verify(log: tuple[Path, str], tmp_path: Path) -> None:
    data, key = log
    result = cli("--data-dir", str(data), "verify", "req-000000", "req-000004", "--json")
    assert result.returncode == 0, result.stderr
    assert [json.loads(x)["ok"] for x in result.stdout.splitlines()] == [True, True]
    assert cli("--data-dir", str(data), "export", "req-000003", "-o", str(tmp_path)).returncode == 0
    receipt, proof = tmp_path / "req-000003.json", tmp_path / "req-000003.tlog-proof"
    offline = ("verify", "--receipt", str(receipt), "--proof", str(proof), "--key", key)
    assert cli(*offline).returncode == 0
    # one changed byte in the receipt, a truncated proof, a wrong key
    receipt.write_bytes(receipt.read_bytes().replace(b'"status":499', b'"status":498'))
    bad = cli(*offline)
    assert bad.returncode == 1 and "FAIL" in bad.stderr
    cli("--data-dir", str(data), "export", "req-000003", "-o", str(tmp_path))
    proof.write_bytes(proof.read_bytes()[:40])
    truncated = cli(*offline)
    assert truncated.returncode == 2 and "Traceback" not in truncated.stderr
    cli("--data-dir", str(data), "export", "req-000003", "-o", str(tmp_path))
    other = str(signer().verifier())
    wrong = cli("verify", "--receipt", str(receipt), "--proof", str(proof), "--key", other)
    assert wrong.returncode == 1 and "FAIL" in wrong.stderr
    junk = cli("verify", "--receipt", str(receipt), "--proof", str(proof), "--key", "x+y+!!")
    assert junk.returncode == 2 and len(junk.stderr.strip().splitlines()) == 1


def test_show_list_checkpoint_and_pubkey(log: tuple[Path, str]) -> None:
    data, key = log
    show = cli("--data-dir", str(data), "show", "req-000001")
    assert show.returncode == 0 and "outcome: error" in show.stdout and "proof: OK" in show.stdout
    listed = cli("--data-dir", str(data), "list", "--outcome", "timeout", "--json")
    assert [json.loads(x)["request_id"] for x in listed.stdout.splitlines()] == [
        "req-000002",
        "req-000007",
    ]
    assert cli("--data-dir", str(data), "pubkey").stdout.strip() == key
    note = cli("--data-dir", str(data), "checkpoint").stdout
    assert note.splitlines()[1] == str(len(OUTCOMES) * 2)


def test_checkpoint_verify_with_a_witness_cosignature(
    log: tuple[Path, str], tmp_path: Path
) -> None:
    data, key = log
    note = SignedNote.parse(cli("--data-dir", str(data), "checkpoint").stdout.encode())
    witness: Signer = signer("witness.example")
    wkey = witness.verifier()
    cosigning = VerifierKey(wkey.name, _cosig_id(wkey), COSIGNATURE_V1, wkey.public_key)
    stamp = 1_764_000_000
    sig = witness.sign(cosignature_message(note.text, stamp))
    cosigned = SignedNote(
        note.text,
        (
            *note.signatures,
            NoteSignature(cosigning.name, cosigning.key_id, stamp.to_bytes(8, "big") + sig),
        ),
    )
    path = tmp_path / "cp"
    path.write_bytes(cosigned.to_bytes())
    result = cli("checkpoint", "verify", str(path), "--key", key, "--key", str(cosigning), "--json")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["signed_by"]) == 2
    unknown = cli("checkpoint", "verify", str(path), "--key", str(signer().verifier()))
    assert unknown.returncode == 1


def _cosig_id(key: VerifierKey) -> bytes:
    from receipts import key_id

    return key_id(key.name, COSIGNATURE_V1, key.public_key)


def test_keygen_and_usage_errors(tmp_path: Path) -> None:
    made = cli("--data-dir", str(tmp_path), "keygen")
    assert made.returncode == 0
    VerifierKey.parse(made.stdout.strip())
    assert stat.S_IMODE((tmp_path / "provider.key").stat().st_mode) == 0o600
    assert cli("--data-dir", str(tmp_path), "pubkey").stdout == made.stdout
    again = cli("--data-dir", str(tmp_path), "keygen")
    assert again.returncode == 2 and "already exists" in again.stderr
    missing = cli("--data-dir", str(tmp_path / "nowhere"), "verify", "--all")
    assert missing.returncode == 2 and "no receipts database" in missing.stderr
    assert "Traceback" not in missing.stderr
    corrupt = tmp_path / "c"
    corrupt.mkdir()
    (corrupt / "receipts.duckdb").write_bytes(b"garbage" * 1000)
    bad = cli("--data-dir", str(corrupt), "audit")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert cli("verify").returncode == 2
    assert cli("frobnicate").returncode == 2


def test_a_deeply_nested_receipt_is_a_one_line_exit_2(
    log: tuple[Path, str], tmp_path: Path
) -> None:
    data, key = log
    assert cli("--data-dir", str(data), "export", "req-000003", "-o", str(tmp_path)).returncode == 0
    receipt, proof = tmp_path / "req-000003.json", tmp_path / "req-000003.tlog-proof"
    receipt.write_text("[" * 200_000 + "]" * 200_000)
    nested = cli("verify", "--receipt", str(receipt), "--proof", str(proof), "--key", key)
    assert nested.returncode == 2, nested.stderr
    assert nested.stderr.strip() == "error: receipt is not valid JSON: nested too deeply"


@pytest.mark.parametrize(
    "bad", [("--interval", "-1"), ("--interval", "nan"), ("--interval", "0"), ("--workers", "0")]
)
def test_monitor_refuses_a_bad_interval_or_worker_count_before_it_starts(
    bad: tuple[str, str],
) -> None:
    key = str(signer("monitor.example/log").verifier())
    result = cli("monitor", "--log", "http://127.0.0.1:1/log/", "--key", key, *bad)
    assert result.returncode == 2 and result.stderr.startswith(f"error: {bad[0]}: expected")
    assert "Traceback" not in result.stderr
