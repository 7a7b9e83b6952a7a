"""`receipts agreement` and `receipts verify --bundle [--debit-note --agreement]` as subprocesses:
the AI runtime's counters from signed receipts, a bundle checked offline, and a yagna debit
note that is over-billed, exact, within tolerance or under-billed."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from receipts import ReceiptService
from telemetry import Placement, Processor
from tests.receipts._support import BASE_NS, config, record
from tests.receipts._support import receipts_cli as cli

pytestmark = pytest.mark.slow  # the CLI runs in subprocesses
AGREEMENT = "65b470a4702bbeeb61848835cda6b6da170788dadea6e2fb3c79d57a56108aad"
S = 1_000_000_000

# (start s, end s, processor): gpu-sec = union = 3 + 1.5 s; 0 → 6.5 s; 4 requests
REQUESTS = [
    (0.0, 2.0, Processor.GPU),
    (1.0, 3.0, Processor.CPU),
    (5.0, 6.0, Processor.REMOTE),
    (5.5, 6.5, Processor.CPU),
]

# The shapes yagna's REST API serves (ya-client model; see docs/decisions/0016).
AGREEMENT_JSON: dict[str, Any] = {
    "agreementId": AGREEMENT,
    "demand": {
        "properties": {"golem": {"srv": {"caps": {"multi-activity": True}}}},
        "constraints": "(&(golem.runtime.name=ai))",
        "demandId": "e5877b5f-demand",
        "requestorId": "0x82a630d2447ffd282657978f9f76c02da8be9819",
        "timestamp": "2026-12-01T17:24:51.436205004Z",
    },
    "offer": {
        "properties": {
            "golem": {
                "com": {
                    "pricing": {
                        "model": {
                            "@tag": "linear",
                            "linear": {"coeffs": [0.004, 0.002, 0.003, 0.001]},
                        }
                    },
                    "scheme": "payu",
                    "usage": {
                        "vector": [
                            "ai-runtime.requests",
                            "golem.usage.duration_sec",
                            "golem.usage.gpu-sec",
                        ]
                    },
                },
                "runtime": {"name": "ai", "version": "0.1.0"},
            }
        },
        "constraints": "(&(golem.srv.comp.expiration>1702660586846))",
        "offerId": "dd78921d-offer",
        "providerId": "0xfadb10dd14828de1b2ec5ce1f238f54bd50b5952",
        "timestamp": "2026-12-01T17:24:51.436205004Z",
    },
    "validTo": "2026-12-01T18:24:51.432171Z",
    "state": "Approved",
    "timestamp": "2026-12-01T17:24:51.436205004Z",
}


def debit_note(vector: list[Any]) -> dict[str, Any]:
    return {
        "debitNoteId": "4d1d9e5c-0a52-4d1f-9d34-6f3bdf1c2c11",
        "issuerId": "0xfadb10dd14828de1b2ec5ce1f238f54bd50b5952",
        "recipientId": "0x82a630d2447ffd282657978f9f76c02da8be9819",
        "payeeAddr": "0xfadb10dd14828de1b2ec5ce1f238f54bd50b5952",
        "payerAddr": "0x82a630d2447ffd282657978f9f76c02da8be9819",
        "paymentPlatform": "erc20-holesky-tglm",
        "timestamp": "2026-12-01T17:30:00.000000Z",
        "agreementId": AGREEMENT,
        "activityId": "a7c3c0e6d1f84b2c",
        "totalAmountDue": "0.0302",
        "usageCounterVector": vector,
        "status": "RECEIVED",
    }


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    data = tmp_path_factory.mktemp("data")
    # per-request agreement IDs: each request names its own (X-Golem-Agreement-Id)
    service = ReceiptService(config(data, trust_client_agreement_header=True))
    service.start()
    for i, (start, end, processor) in enumerate(REQUESTS):
        service.submit(
            dataclasses.replace(
                record(i),
                start_unix_ns=BASE_NS + int(start * S),
                end_unix_ns=BASE_NS + int(end * S),
                duration_ns=int((end - start) * S),
                placement=Placement(processor),
                agreement_id=AGREEMENT,
            )
        )
    service.submit(dataclasses.replace(record(9), agreement_id="another"))
    service.stop()
    return data, service.verifier_key


def test_agreement_counters_and_the_bundle(log: tuple[Path, str], tmp_path: Path) -> None:
    data, key = log
    result = cli("--data-dir", str(data), "agreement", AGREEMENT, "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["usage"] == {
        "golem.usage.gpu-sec": "4.500000000",
        "golem.usage.duration_sec": "6.500000000",
        "ai-runtime.requests": 4,
    }
    assert summary["processors"] == {"gpu": 1, "cpu": 2, "remote": 1}
    assert summary["in_flight_seconds"] == {
        "gpu": "1.000000000",
        "cpu+gpu": "1.000000000",
        "cpu": "1.500000000",
        "remote": "0.500000000",
        "cpu+remote": "0.500000000",
    }
    assert summary["without_local_gpu_seconds"] == "2.500000000"
    assert summary["request_seconds"] == "6.000000000"
    human = cli("--data-dir", str(data), "agreement", AGREEMENT)
    assert "golem.usage.gpu-sec: 4.500000000" in human.stdout
    assert cli("--data-dir", str(data), "agreement", "nobody").returncode == 1

    bundle = tmp_path / "bundle"
    written = cli("--data-dir", str(data), "agreement", AGREEMENT, "--bundle", str(bundle))
    assert written.returncode == 0, written.stderr
    assert len(list(bundle.glob("*.json"))) == 4 and (bundle / "checkpoint").exists()
    offline = cli("verify", "--bundle", str(bundle), "--key", key, "--json")
    assert offline.returncode == 0, offline.stderr
    assert json.loads(offline.stdout) == summary  # the requestor sees the provider's summary
    assert offline.stderr.count("OK:") == 4


@pytest.mark.parametrize(
    ("vector", "code", "verdict"),
    [
        ([4, 6.5, 4.5], 0, "matches the receipts"),
        ([4, 6.5, 4.52], 0, "within tolerance"),
        ([4, 6.5, 4.8], 1, "OVER-BILLED"),
        ([5, 6.5, 4.5], 1, "OVER-BILLED"),
        ([4, 6.0, 3.0], 0, "under-billed"),
    ],
    ids=["exact", "within-1%", "over-gpu-sec", "over-requests", "under"],
)
def test_debit_note_against_the_bundle(
    log: tuple[Path, str], tmp_path: Path, vector: list[Any], code: int, verdict: str
) -> None:
    data, key = log
    bundle = tmp_path / "bundle"
    assert (
        cli("--data-dir", str(data), "agreement", AGREEMENT, "--bundle", str(bundle)).returncode
        == 0
    )
    (tmp_path / "agreement.json").write_text(json.dumps(AGREEMENT_JSON))
    (tmp_path / "note.json").write_text(json.dumps(debit_note(vector)))
    args = (
        "verify",
        "--bundle",
        str(bundle),
        "--key",
        key,
        "--agreement",
        str(tmp_path / "agreement.json"),
    )
    result = cli(*args, "--debit-note", str(tmp_path / "note.json"))
    assert result.returncode == code, result.stderr
    assert verdict in result.stderr


def test_bad_bundles_and_bills(log: tuple[Path, str], tmp_path: Path) -> None:
    data, key = log
    bundle = tmp_path / "bundle"
    assert (
        cli("--data-dir", str(data), "agreement", AGREEMENT, "--bundle", str(bundle)).returncode
        == 0
    )
    agreement, note = tmp_path / "agreement.json", tmp_path / "note.json"
    flat = copy.deepcopy(AGREEMENT_JSON)  # flat property keys, as some yagna clients show them
    flat["offer"]["properties"] = {
        "golem.com.usage.vector": AGREEMENT_JSON["offer"]["properties"]["golem"]["com"]["usage"][
            "vector"
        ]
    }
    agreement.write_text(json.dumps(flat))
    note.write_text(json.dumps(debit_note([4, 6.5, 4.5])))
    base = (
        "verify",
        "--bundle",
        str(bundle),
        "--key",
        key,
        "--agreement",
        str(agreement),
        "--debit-note",
        str(note),
    )
    assert cli(*base).returncode == 0
    cases = [
        (lambda: note.write_text('{"debitNoteId": "x", "agreementId": '), 2, "not JSON"),
        (lambda: note.write_text(json.dumps(debit_note([4, 6.5]))), 2, "2 counters"),
        (
            lambda: note.write_text(json.dumps({**debit_note([1, 1, 1]), "agreementId": "x"})),
            2,
            "agreement x",
        ),
        (
            lambda: agreement.write_text(json.dumps({"agreementId": AGREEMENT, "offer": {}})),
            2,
            "offer.properties",
        ),
        (lambda: note.write_text(json.dumps(debit_note([-4, 6.5, 4.5]))), 2, "negative counter"),
        (lambda: note.write_text(json.dumps(debit_note(["4", 6.5, 4.5]))), 2, "list of numbers"),
    ]
    for damage, code, message in cases:
        damage()
        result = cli(*base)
        assert result.returncode == code and message in result.stderr, (message, result.stderr)
        assert "Traceback" not in result.stderr
        agreement.write_text(json.dumps(flat))
        note.write_text(json.dumps(debit_note([4, 6.5, 4.5])))
    for tolerance in ("abc", "-1", "NaN", "inf"):
        result = cli(*base, "--tolerance", tolerance)
        assert result.returncode == 2 and "--tolerance" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    checkpoint = bundle / "checkpoint"
    signed = checkpoint.read_bytes()
    checkpoint.write_bytes(signed[:20])  # no receipt proves against it: they fail, not the bill
    damaged = cli(*base)
    assert damaged.returncode == 1 and "FAIL: 0.json" in damaged.stderr, damaged.stderr
    assert "receipts are for agreement" not in damaged.stderr
    checkpoint.write_bytes(signed)
    first = sorted(bundle.glob("*.json"))[0]
    raw = first.read_bytes()
    first.write_bytes(raw.replace(b'"outcome":"', b'"outcome":"x', 1))  # edited: signature fails
    edited = cli("verify", "--bundle", str(bundle), "--key", key)
    assert edited.returncode == 1 and "FAIL" in edited.stderr
    first.write_bytes(raw[:50])  # truncated: malformed
    truncated = cli("verify", "--bundle", str(bundle), "--key", key)
    assert truncated.returncode == 2 and "Traceback" not in truncated.stderr
