"""The project's witness: every answer of tlog-witness add-checkpoint, crash-safe state, and the
`receipts witness` CLI serving it over HTTP."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from receipts import MerkleTree, VerifierKey, leaf_hash, sign_checkpoint, verify_cosignatures
from receipts._errors import StoreError
from receipts._keys import Cosigner, generate_cosigner_file
from receipts._note import Checkpoint
from receipts._witness import AddCheckpoint, DirectoryState, Witness, origin_hash
from receipts._witness_client import HttpTransport
from tests._net import free_port
from tests.receipts._support import signer, witness_serve

ROOT = Path(__file__).resolve().parents[2]
LOG = signer("log.example/test")
TREE = MerkleTree(leaf_hash(bytes([i])) for i in range(20))


def note(size: int, log=LOG, root: bytes | None = None) -> bytes:
    checkpoint = Checkpoint(log.name, size, TREE.root(size) if root is None else root)
    return sign_checkpoint(checkpoint, log)


def body(old: int, size: int, proof: list[bytes] | None = None, **kw) -> bytes:
    proof = TREE.consistency_proof(old, size) if proof is None else proof
    return AddCheckpoint(old, tuple(proof), note(size, **kw)).to_bytes()


@pytest.fixture
def witness(tmp_path: Path) -> Witness:
    cosigner = Cosigner(Ed25519PrivateKey.generate(), "witness.example/w1")
    return Witness(cosigner, [LOG.verifier()], DirectoryState(tmp_path / "state"))


def test_cosigns_consistent_checkpoints_and_remembers_them(witness: Witness, tmp_path) -> None:
    first = witness.add_checkpoint(body(0, 5))
    assert first.status == 200 and first.body.startswith("\u2014 witness.example/w1 ".encode())
    cosigned = note(5) + first.body
    assert verify_cosignatures(cosigned, [witness.cosigner.verifier()], 1)
    assert witness.add_checkpoint(body(5, 12)).status == 200
    assert witness.add_checkpoint(body(12, 12)).status == 200  # same size, same root
    # a new witness process on the same state continues from 12
    again = Witness(witness.cosigner, [LOG.verifier()], DirectoryState(tmp_path / "state"))
    conflict = again.add_checkpoint(body(5, 15))
    assert (conflict.status, conflict.body, conflict.content_type) == (
        409,
        b"12\n",
        "text/x.tlog.size",
    )
    monitored = again.latest(origin_hash(LOG.name))
    assert monitored is not None and monitored.startswith(note(12)[: len("log.example/test\n12")])
    assert again.latest("0" * 64) is None


@pytest.mark.parametrize(
    ("make", "status"),
    [
        (lambda: b"old 0\n", 400),  # no blank line, no checkpoint
        (lambda: b"old 01\n\n" + note(3), 400),
        (lambda: body(0, 3, log=signer("other.example/log")), 404),
        (lambda: body(0, 3).replace(note(3)[-20:], b"A" * 19 + b"\n"), 403),  # bad log sig
        (lambda: AddCheckpoint(0, (), note(3)[: note(3).index(b"\n\n") + 2]).to_bytes(), 400),
        (lambda: body(7, 3, proof=[]), 400),  # old > size
        (lambda: body(2, 3), 409),  # never cosigned: its size is 0
        (lambda: body(0, 0, root=b"\x01" * 32), 422),  # size 0 with another root
        (lambda: body(0, 3, proof=[b"\x00" * 32]), 422),  # proof from 0 must be empty
    ],
)
def test_answers_the_spec_statuses(witness: Witness, make, status: int) -> None:
    assert witness.add_checkpoint(make()).status == status


def test_refuses_inconsistent_proofs_and_other_roots_at_its_size(witness: Witness) -> None:
    assert witness.add_checkpoint(body(0, 8)).status == 200
    wrong = TREE.consistency_proof(8, 12)
    wrong[0] = hashlib.sha256(b"x").digest()
    assert witness.add_checkpoint(body(8, 12, proof=wrong)).status == 422
    assert witness.add_checkpoint(body(8, 8, root=b"\x02" * 32)).status == 422
    forked = MerkleTree(leaf_hash(bytes([i + 1])) for i in range(12))
    assert (
        witness.add_checkpoint(
            body(8, 12, proof=forked.consistency_proof(8, 12), root=forked.root())
        ).status
        == 422
    )
    assert witness.add_checkpoint(body(8, 12)).status == 200


def test_racing_submissions_never_roll_it_back(witness: Witness) -> None:
    assert witness.add_checkpoint(body(0, 4)).status == 200
    statuses: list[int] = []
    threads = [
        threading.Thread(
            target=lambda s=s: statuses.append(witness.add_checkpoint(body(4, s)).status)
        )
        for s in (6, 9, 14, 20)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses.count(200) == 1 and statuses.count(409) == 3


def test_old_size_line_rules() -> None:
    with pytest.raises(Exception, match="old"):
        AddCheckpoint.parse(b"new 0\n\n" + note(1))
    too_long = b"old 1\n" + b"".join(base64.b64encode(b"\x00" * 32) + b"\n" for _ in range(64))
    with pytest.raises(Exception, match="63"):
        AddCheckpoint.parse(too_long + b"\n" + note(2))


@pytest.mark.slow
def test_keygen_and_serve_over_http(tmp_path: Path) -> None:
    key = tmp_path / "witness.key"
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "receipts",
            "witness",
            "keygen",
            "--key",
            str(key),
            "--name",
            "witness.example/w1",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    vkey = made.stdout.strip()
    assert vkey.startswith("witness.example/w1+") and (key.stat().st_mode & 0o777) == 0o600
    again = subprocess.run(
        [sys.executable, "-m", "receipts", "witness", "keygen", "--key", str(key), "--name", "w"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert again.returncode == 2 and "already exists" in again.stderr
    port = free_port()
    server = subprocess.Popen(
        witness_serve(key, str(LOG.verifier()), port, tmp_path / "state"),
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}/"
        status = _post_when_up(base + "add-checkpoint", body(0, 6))
        assert status[0] == 200
        assert verify_cosignatures(note(6) + status[2], [VerifierKey.parse(vkey)], 1)
        assert HttpTransport().post(base + "add-checkpoint", body(0, 7), 5)[:2] == (
            409,
            "text/x.tlog.size",
        )
        taken = subprocess.run(
            witness_serve(key, str(LOG.verifier()), port, tmp_path / "s"),
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        )
        assert taken.returncode == 2 and taken.stderr.startswith("error: cannot listen on")
    finally:
        server.terminate()
        _, err = server.communicate(timeout=10)
    assert server.returncode == 0 and "listening on" in err


def _post_when_up(url: str, data: bytes) -> tuple[int, str, bytes]:
    deadline = time.monotonic() + 30
    while True:
        try:
            return HttpTransport().post(url, data, 5)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


DAMAGE = {
    "not json": lambda data: b"{",
    "no root": lambda data: json.dumps({k: v for k, v in data.items() if k != "root"}).encode(),
    "root not base64": lambda data: json.dumps({**data, "root": "!!"}).encode(),
    "negative size": lambda data: json.dumps({**data, "size": -5}).encode(),
    "short root": lambda data: json.dumps({**data, "root": "AAAA"}).encode(),
}


@pytest.mark.parametrize("how", DAMAGE)
def test_a_damaged_state_stops_the_start_and_is_left_alone(
    witness: Witness, tmp_path: Path, how: str
) -> None:
    assert witness.add_checkpoint(body(0, 5)).status == 200
    (path,) = (tmp_path / "state").glob("*.json")
    damaged = DAMAGE[how](json.loads(path.read_bytes()))
    path.write_bytes(damaged)
    # damaged under a running witness: no cosignature, a 500, and the file as it was
    assert witness.add_checkpoint(body(5, 8)).status == 500
    with pytest.raises(StoreError, match=f"witness state {path}"):
        Witness(witness.cosigner, [LOG.verifier()], DirectoryState(tmp_path / "state"))
    assert path.read_bytes() == damaged


def test_garbage_and_hang_ups_get_400_and_the_witness_keeps_serving(tmp_path: Path) -> None:
    key = tmp_path / "witness.key"
    generate_cosigner_file(key, "witness.example/w1")
    port = free_port()
    args = ["--key", str(key), "--log", str(LOG.verifier()), "--listen", f"127.0.0.1:{port}"]
    server = subprocess.Popen(
        [sys.executable, "-m", "receipts", "witness", "serve", *args, "--state", str(tmp_path)],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/add-checkpoint"
    try:
        for garbage in (b"", b"garbage", b"\xff\xfe\x00", b"old x\n\n" + note(3), b"old 0\n\nx\n"):
            assert _post_when_up(url, garbage)[0] == 400, garbage
        with socket.create_connection(("127.0.0.1", port)) as sock:  # promises 100, sends 5
            sock.sendall(
                b"POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nContent-Length: 100\r\n\r\nold 0"
            )
        assert _post_when_up(url, body(0, 6))[0] == 200
    finally:
        server.terminate()
        _, err = server.communicate(timeout=10)
    assert server.returncode == 0 and "Traceback" not in err, err
