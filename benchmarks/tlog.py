"""Published-log benchmark: tile serving requests/s, add-checkpoint round trip, monitor catch-up.

    .venv/bin/python benchmarks/tlog.py [--entries 1000000] [--dir DIR] [--workers N]
        [--seconds 5] [--concurrency 32]

- Tile serving: a ReceiptService (in-memory store, 25,600 receipts) behind the admin app in a
  subprocess; aiohttp clients fetch random full tiles and entry bundles under /log/ for
  `--seconds`. Baseline, same server and run: `/healthz`.
- add-checkpoint: `receipts witness serve` in a subprocess; one log grows by 10 entries per
  submission, each submission carrying its consistency proof. Baseline: the same checks and
  fsync in this process, without HTTP.
- Monitor catch-up: `--entries` signed receipts written once as a static tiles directory
  (`--dir` keeps and reuses it; 1M entries is about 1.2 GB and takes minutes to generate),
  served by aiohttp's static files; `receipts monitor`'s check from size 0 with `--workers`
  processes. Baseline: one core checking the receipt signatures of 10,000 of them.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import random
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from benchmarks._harness import ROOT, free_port, median, percentile, wait_http
from receipts._cosign import NO_WITNESSES
from receipts._jcs import encode
from receipts._keys import Signer, VerifierKey, load_cosigner_file
from receipts._merkle import MerkleTree, leaf_hash
from receipts._monitor import HttpFetcher, Monitor, check_signatures
from receipts._note import Checkpoint, sign_checkpoint
from receipts._receipt import _DOMAIN, _envelope, receipt_body
from receipts._tiles import TILE_WIDTH, TileRef, TilesDirectory, encode_bundle, tiles_between
from receipts._witness import AddCheckpoint, DirectoryState, Witness
from receipts._witness_client import HttpTransport

ORIGIN = "bench.example/log"
_PLACEHOLDER = "req-0000000"


def _signer(directory: Path) -> Signer:
    seed_file = directory / "seed"
    if not seed_file.exists():
        directory.mkdir(parents=True, exist_ok=True)
        seed_file.write_bytes(Ed25519PrivateKey.generate().private_bytes_raw())
    return Signer(Ed25519PrivateKey.from_private_bytes(seed_file.read_bytes()), ORIGIN)


def _generate(seed: bytes, start: int, count: int) -> list[bytes]:
    """Signed receipts start..start+count: one canonical body, the request ID substituted."""
    from tests.receipts._support import record

    signer = Signer(Ed25519PrivateKey.from_private_bytes(seed), ORIGIN)
    body = receipt_body(record(0), origin=ORIGIN, key_id=signer.key_id.hex())
    template = encode({**body, "request_id": _PLACEHOLDER})
    head = b'{"alg":"ed25519","key":"' + signer.key_id.hex().encode() + b'","sig":"'
    out = []
    for i in range(start, start + count):
        body_bytes = template.replace(_PLACEHOLDER.encode(), f"req-{i:07d}".encode())
        signature = signer.sign(_DOMAIN + body_bytes)
        sig = head + base64.b64encode(signature) + b'"}'
        out.append(_envelope(body_bytes, sig))
    return out


class _Entries:
    def __init__(self, tree: MerkleTree, root: Path) -> None:
        self.tree, self.root = tree, root

    def hashes(self, level: int, start: int, count: int) -> bytes:
        return self.tree.hashes(level, start, count)

    def entries(self, start: int, count: int) -> list[bytes]:
        raise AssertionError("bundles are written while generating")


def build_tiles(directory: Path, entries: int, workers: int) -> tuple[VerifierKey, float]:
    """The tiles directory of `entries` receipts (reused when complete); (log key, seconds)."""
    signer = _signer(directory)
    tiles = directory / "tiles"
    done = directory / f"complete-{entries}"
    if done.exists():
        return signer.verifier(), 0.0
    started = time.perf_counter()
    seed = (directory / "seed").read_bytes()
    tree = MerkleTree()
    step = 100 * TILE_WIDTH
    with ProcessPoolExecutor(workers) as pool:
        chunks = pool.map(
            _generate,
            [seed] * len(range(0, entries, step)),
            range(0, entries, step),
            [min(step, entries - s) for s in range(0, entries, step)],
        )
        for chunk in chunks:
            for offset in range(0, len(chunk), TILE_WIDTH):
                bundle = chunk[offset : offset + TILE_WIDTH]
                index = tree.size // TILE_WIDTH
                for raw in bundle:
                    tree.append(leaf_hash(raw))
                path = tiles / TileRef(None, index, len(bundle)).path()
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(encode_bundle(bundle))
    note = sign_checkpoint(Checkpoint(ORIGIN, entries, tree.root()), signer)
    hash_tiles = [r for r in tiles_between(0, entries) if r.level is not None]
    TilesDirectory(tiles).write(hash_tiles, _Entries(tree, tiles), note)
    done.touch()
    return signer.verifier(), time.perf_counter() - started


def _serve_static(tiles: Path, port: int) -> None:
    from aiohttp import web

    app = web.Application()
    app.router.add_static("/log/", tiles)
    web.run_app(app, host="127.0.0.1", port=port, print=None)


def _serve_log(port: int, records: int) -> None:
    from aiohttp import web
    from prometheus_client import CollectorRegistry

    from receipts import MemoryStore, ReceiptService
    from telemetry.observe._admin import build_admin_app
    from tests.receipts._support import config, record

    data = Path(tempfile.mkdtemp(prefix="bench-tlog-"))
    service = ReceiptService(config(data), store=MemoryStore())
    service.start()
    for i in range(records):
        service.submit(record(i))
    service.flush(120, checkpoint=True)
    service.wait_published(records, 30)
    app = build_admin_app(CollectorRegistry(), {}, log_files=service.log_files())
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


async def _load(base: str, paths: list[str], seconds: float, concurrency: int) -> float:
    import aiohttp

    done = 0
    end = time.perf_counter() + seconds

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal done
        while time.perf_counter() < end:
            async with session.get(base + random.choice(paths)) as response:
                await response.read()
                assert response.status == 200
            done += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        return done / (time.perf_counter() - started)


def tile_serving(seconds: float, concurrency: int) -> tuple[float, float]:
    port, records = free_port(), 100 * TILE_WIDTH
    server = subprocess.Popen(
        [sys.executable, __file__, "_serve_log", str(port), str(records)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/log/checkpoint", timeout=300)
        base = f"http://127.0.0.1:{port}"
        full = [f"/log/tile/0/{i:03d}" for i in range(100)]
        full += [f"/log/tile/entries/{i:03d}" for i in range(100)]
        asyncio.run(_load(base, full, 1, concurrency))  # warm the tile cache
        tiles = asyncio.run(_load(base, full, seconds, concurrency))
        health = asyncio.run(_load(base, ["/healthz"], seconds, concurrency))
    finally:
        server.terminate()
        server.wait(10)
    return tiles, health


def add_checkpoint(rounds: int, directory: Path) -> tuple[list[float], list[float]]:
    log = Signer(Ed25519PrivateKey.generate(), "bench.example/witnessed")
    key = directory / "witness.key"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "receipts",
            "witness",
            "keygen",
            "--key",
            str(key),
            "--name",
            "bench.example/w",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "receipts",
            "witness",
            "serve",
            "--key",
            str(key),
            "--log",
            str(log.verifier()),
            "--listen",
            f"127.0.0.1:{port}",
            "--state",
            str(directory / "s"),
        ],
        cwd=ROOT,
        stderr=subprocess.DEVNULL,
    )
    local = Witness(load_cosigner_file(key), [log.verifier()], DirectoryState(directory / "l"))
    tree = MerkleTree()
    http, inproc = [], []
    transport = HttpTransport()
    try:
        url = f"http://127.0.0.1:{port}/add-checkpoint"
        deadline = time.monotonic() + 30
        while True:
            try:
                transport.post(url, b"", 2)
                break
            except OSError:
                assert time.monotonic() < deadline, "witness did not start"
                time.sleep(0.1)
        for _ in range(rounds):
            old = tree.size
            for _ in range(10):
                tree.append(leaf_hash(os.urandom(16)))
            note = sign_checkpoint(Checkpoint(log.name, tree.size, tree.root()), log)
            body = AddCheckpoint(old, tuple(tree.consistency_proof(old, tree.size)), note)
            data = body.to_bytes()
            started = time.perf_counter()
            status = transport.post(url, data, 10)[0]
            http.append(time.perf_counter() - started)
            started = time.perf_counter()
            answer = local.add_checkpoint(data)
            inproc.append(time.perf_counter() - started)
            assert status == 200 and answer.status == 200
    finally:
        server.terminate()
        server.wait(10)
    return http, inproc


def monitor_catch_up(directory: Path, entries: int, workers: int) -> tuple[float, float, float]:
    key, generated = build_tiles(directory, entries, workers)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, __file__, "_serve_static", str(directory / "tiles"), str(port)],
        cwd=ROOT,
    )
    try:
        base = f"http://127.0.0.1:{port}/log/"
        wait_http(base + "checkpoint")
        started = time.perf_counter()
        update = Monitor(HttpFetcher(base), key, NO_WITNESSES, None, workers=workers).check()
        seconds = time.perf_counter() - started
        assert update.new_size == entries
    finally:
        server.terminate()
        server.wait(10)
    sample = [(i, raw) for i, raw in enumerate(_generate(_seed(directory), 0, 10_000))]
    started = time.perf_counter()
    assert check_signatures(str(key), sample) is None
    single = len(sample) / (time.perf_counter() - started)
    return seconds, single, generated


def _seed(directory: Path) -> bytes:
    return (directory / "seed").read_bytes()


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "_serve_static":
        _serve_static(Path(sys.argv[2]), int(sys.argv[3]))
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "_serve_log":
        _serve_log(int(sys.argv[2]), int(sys.argv[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, help="keep (and reuse) the generated tiles here")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        tiles, health = tile_serving(args.seconds, args.concurrency)
        rows += [
            ("tile serving (full tiles + bundles), req/s", f"{tiles:,.0f}", ""),
            ("baseline /healthz, same server, req/s", f"{health:,.0f}", ""),
            ("tiles vs baseline", f"{tiles / health:.2f}x", ""),
        ]
        http, inproc = add_checkpoint(args.rounds, Path(tmp) / "witness")
        rows += [
            ("add-checkpoint round trip p50", f"{median(http) * 1e3:.2f} ms", ""),
            ("add-checkpoint round trip p99", f"{percentile(http, 0.99) * 1e3:.2f} ms", ""),
            ("baseline: witness checks in process p50", f"{median(inproc) * 1e3:.2f} ms", ""),
        ]
        directory = args.dir or Path(tmp) / "log"
        seconds, single, generated = monitor_catch_up(directory, args.entries, args.workers)
        rows += [
            (f"monitor catch-up on {args.entries:,} entries", f"{seconds:.1f} s", "< 120 s"),
            ("monitor catch-up rate, entries/s", f"{args.entries / seconds:,.0f}", ""),
            ("baseline: signature checks on one core, /s", f"{single:,.0f}", ""),
            ("catch-up vs one core", f"{args.entries / seconds / single:.2f}x", ""),
        ]
        if generated:
            rows.append(("(generating the tiles took)", f"{generated:.0f} s", ""))
    rows.append(("CPUs / workers", f"{os.cpu_count()} / {args.workers}", ""))
    width = max(len(r[0]) for r in rows)
    print(f"{'metric':<{width}}  {'value':>12}  goal")
    for name, value, goal in rows:
        print(f"{name:<{width}}  {value:>12}  {goal}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
