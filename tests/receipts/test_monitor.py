"""`receipts monitor`'s checks on logs built here: catch-up, state, split views, forks, shrinking
logs, bad receipt signatures, missing witness quorums, and entry bundles read back."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from receipts import ConsistencyError, QuorumError, SignatureError, WitnessPolicy
from receipts._cosign import NO_WITNESSES, add_signatures, cosign
from receipts._errors import FormatError, StoreError
from receipts._keys import Cosigner, Signer
from receipts._merkle import MerkleTree, leaf_hash
from receipts._monitor import HttpFetcher, Monitor, StateFile
from receipts._note import Checkpoint, SignedNote, sign_checkpoint
from receipts._tiles import TILE_HEIGHT, Tiles
from tests._net import free_port
from tests.receipts._support import record, sign_with, signer


class Log:
    """A log served from memory: its entries, tree and tiles, with a signed checkpoint."""

    def __init__(self, key: Signer, entries: Sequence[bytes]) -> None:
        self.raw = list(entries)
        self.tree = MerkleTree(leaf_hash(e) for e in self.raw)
        self.tiles = Tiles(self)
        note = sign_checkpoint(Checkpoint(key.name, len(self.raw), self.tree.root()), key)
        self.tiles.publish(len(self.raw), note)
        self.missing: set[str] = set()

    def hashes(self, level: int, start: int, count: int) -> bytes:  # TileSource
        return self.tree.hashes(level, start, count)

    def entries(self, start: int, count: int) -> list[bytes]:  # TileSource
        return self.raw[start : start + count]

    def get(self, path: str) -> bytes | None:  # TileFetcher
        if path in self.missing:
            return None
        found = self.tiles.read(path)
        return None if found is None else found[0]

    def cosign(self, *witnesses: Cosigner) -> None:
        note = self.tiles.note
        assert note is not None
        text = SignedNote.parse(note).text
        signed = add_signatures(note, [cosign(text, w, 1_700_000_000) for w in witnesses])
        self.tiles.publish(len(self.raw), signed)


def make_log(key: Signer, ids: Sequence[int]) -> Log:
    sign = sign_with(key)
    return Log(key, [sign(record(i)) for i in ids])


KEY = signer("monitor.example/log")
W1 = Cosigner(Ed25519PrivateKey.generate(), "w1.example")


def monitor(log: Log, state: Path | None = None, policy: WitnessPolicy = NO_WITNESSES):
    states = StateFile(state, KEY.name) if state else None
    return Monitor(log, KEY.verifier(), policy, states, workers=1)


def test_catches_up_and_continues_from_its_state(tmp_path: Path) -> None:
    assert TILE_HEIGHT == 8
    first = make_log(KEY, range(300))
    update = monitor(first, tmp_path).check()
    assert (update.old_size, update.new_size) == (0, 300)
    grown = make_log(KEY, range(700))
    resumed = monitor(grown, tmp_path)
    assert resumed.size == 300
    assert resumed.check().old_size == 300
    assert resumed.check().new_size == 700  # nothing new the second time
    assert monitor(grown, tmp_path).size == 700


def test_a_partial_bundle_that_is_gone_is_read_from_the_full_one(tmp_path: Path) -> None:
    log = make_log(KEY, range(260))
    monitor(make_log(KEY, range(100)), tmp_path).check()
    log.missing.add("tile/entries/000.p/100")
    assert monitor(log, tmp_path).check().new_size == 260


def test_split_view_two_roots_for_one_size(tmp_path: Path) -> None:
    monitor(make_log(KEY, range(50)), tmp_path).check()
    other = make_log(KEY, range(1, 51))  # same size, other receipts, same log key
    with pytest.raises(ConsistencyError, match=r"fork \(split view\).*size 50"):
        monitor(other, tmp_path).check()


def test_a_rewritten_history_is_a_fork(tmp_path: Path) -> None:
    monitor(make_log(KEY, range(40)), tmp_path).check()
    rewritten = make_log(KEY, [*range(39), 1000, *range(40, 60)])
    with pytest.raises(ConsistencyError, match="not consistent with the checkpoint of size 40"):
        monitor(rewritten, tmp_path).check()


def test_a_shrinking_log(tmp_path: Path) -> None:
    monitor(make_log(KEY, range(30)), tmp_path).check()
    with pytest.raises(ConsistencyError, match="shrank"):
        monitor(make_log(KEY, range(20)), tmp_path).check()


def test_a_receipt_with_a_bad_signature(tmp_path: Path) -> None:
    other = signer(KEY.name)  # same origin, another key: signatures do not verify
    entries = [sign_with(KEY)(record(i)) for i in range(10)]
    entries[7] = sign_with(other)(record(7))
    log = Log(KEY, entries)
    with pytest.raises(SignatureError, match="receipt 7"):
        monitor(log, tmp_path).check()
    assert monitor(log, tmp_path).size == 0  # nothing saved from a failed check


def test_the_witness_quorum(tmp_path: Path) -> None:
    log = make_log(KEY, range(5))
    policy = WitnessPolicy((W1.verifier(),), 1)
    with pytest.raises(QuorumError, match="0 valid"):
        monitor(log, policy=policy).check()
    log.cosign(W1)
    assert monitor(log, policy=policy).check().witnesses == ("w1.example",)


def test_an_unreachable_log_or_a_bad_url() -> None:
    with pytest.raises(StoreError, match="cannot read"):
        HttpFetcher(f"http://127.0.0.1:{free_port()}/log/").get("checkpoint")
    with pytest.raises(FormatError):
        HttpFetcher("ftp://example/log/")


def _damage(data: dict[str, object], how: str) -> bytes:
    if how == "not json":
        return b'{"origin": '
    if how == "no checkpoint":
        return json.dumps({k: v for k, v in data.items() if k != "checkpoint"}).encode()
    if how == "checkpoint not base64":
        return json.dumps({**data, "checkpoint": "!!"}).encode()
    if how == "checkpoint not a note":
        return json.dumps({**data, "checkpoint": base64.b64encode(b"x").decode()}).encode()
    # signed under the log's name by a key that is not the log's
    other = signer(KEY.name)
    note = sign_checkpoint(Checkpoint(KEY.name, 3, bytes(32)), other)
    return json.dumps({**data, "checkpoint": base64.b64encode(note).decode()}).encode()


@pytest.mark.parametrize(
    "how",
    ["not json", "no checkpoint", "checkpoint not base64", "checkpoint not a note", "other key"],
)
def test_a_damaged_state_file_is_named_and_left_alone(tmp_path: Path, how: str) -> None:
    log = make_log(KEY, range(3))
    monitor(log, tmp_path).check()
    path = StateFile(tmp_path, KEY.name).path
    damaged = _damage(json.loads(path.read_bytes()), how)
    path.write_bytes(damaged)
    with pytest.raises(StoreError, match=f"monitor state {path}"):
        monitor(log, tmp_path)
    assert path.read_bytes() == damaged
