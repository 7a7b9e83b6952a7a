"""Tiles: path encoding, the tiles a size adds, and the log read back by a spec-written reader
over real HTTP (admin routes) and from `tiles_dir`."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from receipts import MemoryStore, ReceiptService
from receipts._errors import FormatError
from receipts._tiles import TileRef, decode_bundle, encode_bundle, encode_index, tiles_between
from telemetry.observe._admin import build_log_app
from tests.receipts._spec_tiles import read_log, tile_path
from tests.receipts._support import config, record


def test_index_paths_follow_the_spec() -> None:
    assert encode_index(1234067) == "x001/x234/067"
    assert encode_index(0) == "000"
    assert encode_index(999) == "999"
    assert encode_index(1000) == "x001/000"
    for n in (0, 7, 999, 1000, 1234067, 10**12 + 5):
        assert encode_index(n) == tile_path("0", n, 256)[len("tile/0/") :]


@pytest.mark.parametrize(
    ("path", "ref"),
    [
        ("tile/0/000", TileRef(0, 0)),
        ("tile/2/x001/x234/067.p/5", TileRef(2, 1234067, 5)),
        ("tile/entries/x001/000", TileRef(None, 1000)),
        ("tile/entries/003.p/255", TileRef(None, 3, 255)),
    ],
)
def test_tile_paths_round_trip(path: str, ref: TileRef) -> None:
    assert TileRef.parse(path) == ref
    assert ref.path() == path


@pytest.mark.parametrize(
    "path",
    [
        "tile/0/0",  # not 3 digits
        "tile/0/x000/001",  # non-canonical leading group
        "tile/00/000",  # leading zero in the level
        "tile/64/000",  # level beyond 63
        "tile/0/000.p/0",
        "tile/0/000.p/256",
        "tile/0/000.p/07",
        "tile/0/001/002",  # upper group without x
        "tile/entries",
        "checkpoint/x",
    ],
)
def test_bad_tile_paths_are_refused(path: str) -> None:
    with pytest.raises(FormatError):
        TileRef.parse(path)


def test_the_tiles_of_a_tree_of_70000_are_the_specs_example() -> None:
    refs = [r for r in tiles_between(0, 70_000) if r.level is not None]
    level0 = [r for r in refs if r.level == 0]
    assert len([r for r in level0 if r.width == 256]) == 273
    assert [r for r in level0 if r.width != 256] == [TileRef(0, 273, 112)]
    assert [r for r in refs if r.level == 1] == [TileRef(1, 0), TileRef(1, 1, 17)]
    assert [r for r in refs if r.level == 2] == [TileRef(2, 0, 1)]
    assert [r for r in tiles_between(0, 256) if r.level is not None] == [
        TileRef(0, 0),
        TileRef(1, 0, 1),
    ]
    # growing by one entry changes only the right edge
    assert tiles_between(70_000, 70_001) == [TileRef(None, 273, 113), TileRef(0, 273, 113)]


def test_bundles_round_trip_and_refuse_truncation() -> None:
    entries = [b"", b"a", b"x" * 300]
    data = encode_bundle(entries)
    assert data[:2] == b"\x00\x00" and data[2:4] == b"\x00\x01"
    assert decode_bundle(data) == entries
    with pytest.raises(FormatError):
        decode_bundle(data[:-1])
    with pytest.raises(FormatError):
        encode_bundle([b"x" * 65536])


def _get(base: str):
    def get(path: str) -> bytes:
        with urllib.request.urlopen(base + path, timeout=10) as response:
            return response.read()

    return get


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[ReceiptService, str]]:
    service = ReceiptService(
        config(tmp_path, tiles_dir=tmp_path / "tiles", checkpoint_interval_seconds=0.05),
        store=MemoryStore(),
    )
    service.start()
    runner = web.AppRunner(build_log_app(service.log_files()))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield service, f"http://127.0.0.1:{runner.addresses[0][1]}/log/"
    finally:
        await runner.cleanup()
        service.stop()


async def _grow(service: ReceiptService, start: int, end: int) -> None:
    for i in range(start, end):
        service.submit(record(i))
    await asyncio.to_thread(service.flush, 10, checkpoint=True)
    assert await asyncio.to_thread(service.wait_published, end, 10)


async def test_tiles_read_back_by_a_spec_reader(
    served: tuple[ReceiptService, str], tmp_path: Path
) -> None:
    service, base = served
    await _grow(service, 0, 300)
    first = await asyncio.to_thread(read_log, _get(base))
    stored = [row.raw for row in service.store.entries(0, 1000)]
    assert first.size == 300 and first.entries == stored
    assert first.root == service.latest_checkpoint().root  # type: ignore[union-attr]
    partial = first.tiles["tile/0/001.p/44"]

    await _grow(service, 300, 600)
    second = await asyncio.to_thread(read_log, _get(base))
    assert second.entries == [row.raw for row in service.store.entries(0, 1000)]
    # the partial tiles became full tiles with the same prefix
    assert second.tiles["tile/0/001"].startswith(partial)
    assert second.tiles["tile/entries/001"].startswith(first.tiles["tile/entries/001.p/44"])
    assert second.tiles["tile/1/000.p/2"]
    # what was served before is still served unchanged (immutable), the full one in parallel
    assert await asyncio.to_thread(_get(base), "tile/0/001.p/44") == partial

    # tiles_dir holds the same files, checkpoint included
    from_dir = await asyncio.to_thread(read_log, lambda p: (tmp_path / "tiles" / p).read_bytes())
    assert from_dir.root == second.root and from_dir.entries == second.entries


async def test_headers_and_what_is_not_served(served: tuple[ReceiptService, str]) -> None:
    service, base = served
    await _grow(service, 0, 10)

    def head(path: str) -> tuple[int, dict[str, str]]:
        try:
            with urllib.request.urlopen(base + path, timeout=10) as response:
                return response.status, dict(response.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers)

    status, headers = await asyncio.to_thread(head, "checkpoint")
    assert status == 200 and headers["Content-Type"] == "text/plain; charset=utf-8"
    assert "max-age=2" in headers["Cache-Control"]
    status, headers = await asyncio.to_thread(head, "tile/0/000.p/10")
    assert status == 200 and headers["Content-Type"] == "application/octet-stream"
    assert "immutable" in headers["Cache-Control"]
    # beyond the published size, not canonical, or not a log path at all
    for path in ("tile/0/000.p/11", "tile/0/000", "tile/0/0", "tile/entries/001.p/1", "x"):
        assert (await asyncio.to_thread(head, path))[0] == 404
