"""A tlog-tiles client written only from the text of C2SP tlog-tiles and RFC 6962 §2.1 (no code
shared with `receipts`): reads the checkpoint, every hash tile and entry bundle of a log, and
checks that they agree with each other and with the checkpoint's root."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

Get = Callable[[str], bytes]


def index_path(n: int) -> str:
    """`x001/x234/067` for 1234067: 3-digit groups, all but the last prefixed with x."""
    groups = []
    while True:
        groups.append(f"{n % 1000:03d}")
        n //= 1000
        if n == 0:
            break
    groups.reverse()
    return "/".join(["x" + g for g in groups[:-1]] + [groups[-1]])


def tile_path(level: str, n: int, width: int) -> str:
    return f"tile/{level}/{index_path(n)}" + ("" if width == 256 else f".p/{width}")


def mth(hashes: list[bytes]) -> bytes:
    """RFC 6962 Merkle Tree Hash over already-hashed leaves."""
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(hashes[:k]) + mth(hashes[k:])).digest()


@dataclass
class ReadLog:
    size: int
    root: bytes
    entries: list[bytes]
    tiles: dict[str, bytes]


def read_log(get: Get) -> ReadLog:
    text = get("checkpoint").decode()
    _, size_line, root_line = text.split("\n")[:3]
    size, root = int(size_line), base64.b64decode(root_line)
    tiles: dict[str, bytes] = {}
    # level 0: leaf hashes; full tiles are 256 hashes, the last one is partial
    leaves: list[bytes] = []
    for n in range(-(-size // 256)):
        width = min(256, size - n * 256)
        data = get(tile_path("0", n, width))
        tiles[tile_path("0", n, width)] = data
        assert len(data) == 32 * width
        leaves += [data[i : i + 32] for i in range(0, len(data), 32)]
    entries: list[bytes] = []
    for n in range(-(-size // 256)):
        width = min(256, size - n * 256)
        data = get(tile_path("entries", n, width))
        tiles[tile_path("entries", n, width)] = data
        offset, bundle = 0, []
        while offset < len(data):
            length = int.from_bytes(data[offset : offset + 2], "big")
            bundle.append(data[offset + 2 : offset + 2 + length])
            offset += 2 + length
        assert len(bundle) == width
        entries += bundle
    for i, entry in enumerate(entries):
        assert hashlib.sha256(b"\x00" + entry).digest() == leaves[i], f"entry {i}"
    # level l >= 1: hash j is the MTH of tile j of level l-1 (full tiles only)
    below, level = leaves, 1
    while len(below) >= 256:
        above = [mth(below[i : i + 256]) for i in range(0, len(below) - 255, 256)]
        for n in range(-(-len(above) // 256)):
            width = min(256, len(above) - n * 256)
            data = get(tile_path(str(level), n, width))
            tiles[tile_path(str(level), n, width)] = data
            assert data == b"".join(above[n * 256 : n * 256 + width]), f"tile {level}/{n}"
        below, level = above, level + 1
    assert (mth(leaves) if leaves else hashlib.sha256(b"").digest()) == root
    return ReadLog(size, root, entries, tiles)
