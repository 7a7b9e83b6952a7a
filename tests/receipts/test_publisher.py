"""The publisher in the receipt service: witnesses cosign each checkpoint (in-memory witnesses
through `receipts.testing`), their sizes survive restarts, and a down or slow witness delays
nothing but its own cosignature."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client import CollectorRegistry

from receipts import MemoryStore, ReceiptService, verify_cosignatures
from receipts._keys import Cosigner
from receipts._witness import DirectoryState, Witness
from receipts.testing import InMemoryWitnessTransport
from telemetry.core._config import WitnessConfig
from tests.receipts._support import config, record

URLS = ("http://w1.test/", "http://w2.test/sub/")


class Witnesses:
    def __init__(self, root: Path) -> None:
        self.cosigners = [Cosigner(Ed25519PrivateKey.generate(), f"w{i}.test") for i in (1, 2)]
        self.root = root
        self.transport: InMemoryWitnessTransport | None = None

    def keys(self):
        return [c.verifier() for c in self.cosigners]

    def configs(self) -> tuple[WitnessConfig, ...]:
        return tuple(WitnessConfig(u, str(k)) for u, k in zip(URLS, self.keys(), strict=True))

    def transport_for(self, log_key) -> InMemoryWitnessTransport:
        self.transport = InMemoryWitnessTransport(
            {
                url: Witness(c, [log_key], DirectoryState(self.root / c.name))
                for url, c in zip(URLS, self.cosigners, strict=True)
            }
        )
        return self.transport


def service(
    tmp_path: Path, witnesses: Witnesses, registry=None, store=None, transport=None
) -> ReceiptService:
    """A service whose provider key exists before the transport is built (it needs the key)."""
    from receipts._provider import open_signer

    tmp_path.mkdir(exist_ok=True)
    key = open_signer(tmp_path, "", create=True).verifier()
    cfg = config(
        tmp_path,
        witness=witnesses.configs(),
        witness_quorum=2,
        checkpoint_interval_seconds=0.05,
    )
    in_memory = witnesses.transport_for(key)
    return ReceiptService(
        cfg,
        store=store or MemoryStore(),
        registry=registry or CollectorRegistry(),
        witness_transport=transport or in_memory,
    )


def publish(s: ReceiptService, start: int, end: int) -> bytes:
    for i in range(start, end):
        s.submit(record(i))
    assert s.flush(10, checkpoint=True)
    assert s.wait_published(end, 10)
    published = s.published_checkpoint()
    assert published is not None
    return published[1]


def test_both_witnesses_cosign_every_new_checkpoint(tmp_path: Path) -> None:
    witnesses = Witnesses(tmp_path / "w")
    registry = CollectorRegistry()
    s = service(tmp_path / "data", witnesses, registry)
    s.start()
    try:
        note = publish(s, 0, 5)
        assert verify_cosignatures(note, witnesses.keys(), 2)
        note = publish(s, 5, 9)
        assert note.splitlines()[1] == b"9" and verify_cosignatures(note, witnesses.keys(), 2)
        # the second submission proved consistency from the size each witness cosigned
        assert witnesses.transport is not None
        assert witnesses.transport.bodies[-1].startswith(b"old 5\n")
        for name in ("w1.test", "w2.test"):
            labels = {"witness": name, "result": "ok"}
            assert (
                registry.get_sample_value("ollama_sidecar_witness_submissions_total", labels) == 2
            )
            lag = registry.get_sample_value(
                "ollama_sidecar_witness_cosigned_size_lag", {"witness": name}
            )
            assert lag == 0
        assert registry.get_sample_value("ollama_sidecar_witness_quorum_age_seconds") < 5
        # the tiles view serves the same cosigned checkpoint
        assert s._tiles is not None and s._tiles.note == note
    finally:
        s.stop()
    saved = json.loads((tmp_path / "data" / "witnesses.json").read_text())
    assert sorted(saved["witnesses"].values()) == [9, 9]


def test_a_down_witness_is_retried_and_delays_nothing(tmp_path: Path) -> None:
    witnesses = Witnesses(tmp_path / "w")
    registry = CollectorRegistry()
    s = service(tmp_path / "data", witnesses, registry)
    assert witnesses.transport is not None
    witnesses.transport.down.add(URLS[1])
    s.start()
    try:
        note = publish(s, 0, 4)
        assert verify_cosignatures(note, witnesses.keys()[:1], 1)
        assert verify_cosignatures(note, witnesses.keys(), 1)
        labels = {"witness": "w2.test", "result": "unreachable"}
        assert registry.get_sample_value("ollama_sidecar_witness_submissions_total", labels) >= 1
        assert (
            registry.get_sample_value(
                "ollama_sidecar_witness_cosigned_size_lag", {"witness": "w2.test"}
            )
            == 4
        )
        witnesses.transport.down.clear()
        deadline = time.monotonic() + 10
        while True:  # retried on the same checkpoint, with backoff
            published = s.published_checkpoint()
            assert published is not None
            try:
                verify_cosignatures(published[1], witnesses.keys(), 2)
                break
            except Exception:
                assert time.monotonic() < deadline
                time.sleep(0.05)
    finally:
        s.stop()


def test_witness_sizes_survive_a_restart_and_are_learned_again_when_lost(
    tmp_path: Path,
) -> None:
    witnesses = Witnesses(tmp_path / "w")
    data = tmp_path / "data"
    store = MemoryStore()
    first = service(data, witnesses, store=store)
    first.start()
    publish(first, 0, 3)
    first.stop()

    second = service(data, witnesses, store=store)
    second.start()
    try:
        publish(second, 3, 6)
        assert witnesses.transport is not None
        # no submission of the size-3 checkpoint again, and none from 0
        assert [b.split(b"\n")[0] for b in witnesses.transport.bodies][:2] == [b"old 3"] * 2
    finally:
        second.stop()

    (data / "witnesses.json").unlink()
    registry = CollectorRegistry()
    third = service(data, witnesses, registry, store=store)
    third.start()
    try:
        note = publish(third, 6, 8)
        assert verify_cosignatures(note, witnesses.keys(), 2)
        assert witnesses.transport is not None
        firsts = sorted(b.split(b"\n")[0] for b in witnesses.transport.bodies[:4])
        assert firsts == [b"old 0", b"old 0", b"old 6", b"old 6"]  # 409 named 6: resubmitted
        labels = {"witness": "w1.test", "result": "conflict"}
        assert registry.get_sample_value("ollama_sidecar_witness_submissions_total", labels) == 1
    finally:
        third.stop()


class _Stuck:
    """A witness that never answers until released."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def post(self, url: str, body: bytes, timeout: float) -> tuple[int, str, bytes]:
        self.release.wait(timeout)
        raise TimeoutError("timed out")


def test_a_slow_witness_never_delays_receipts(tmp_path: Path) -> None:
    witnesses = Witnesses(tmp_path / "w")
    stuck = _Stuck()
    s = service(tmp_path / "data", witnesses, transport=stuck)
    s.start()
    try:
        started = time.monotonic()
        for i in range(50):
            s.submit(record(i))
        assert s.flush(5, checkpoint=True)
        assert time.monotonic() - started < 2
        assert s.store.size() == 50
    finally:
        stuck.release.set()
        s.stop()


class _Liar:
    """Answers 200 with a cosignature by a key that is not the configured one."""

    def post(self, url: str, body: bytes, timeout: float) -> tuple[int, str, bytes]:
        from receipts._cosign import cosign
        from receipts._note import SignedNote
        from receipts._witness import AddCheckpoint

        text = SignedNote.parse(AddCheckpoint.parse(body).checkpoint).text
        other = Cosigner(Ed25519PrivateKey.generate(), "w1.test")
        return 200, "text/plain", cosign(text, other, 1).to_line().encode()


def test_cosignatures_that_do_not_verify_are_not_kept(tmp_path: Path) -> None:
    witnesses = Witnesses(tmp_path / "w")
    registry = CollectorRegistry()
    s = service(tmp_path / "data", witnesses, registry, transport=_Liar())
    s.start()
    try:
        note = publish(s, 0, 2)
        assert note.count("\u2014".encode()) == 1  # the log's signature only
        labels = {"witness": "w1.test", "result": "bad_cosignature"}
        assert registry.get_sample_value("ollama_sidecar_witness_submissions_total", labels) >= 1
    finally:
        s.stop()
