"""The log as C2SP tlog-tiles (height 8): hash tiles, entry bundles and the checkpoint.

    <prefix>checkpoint                    the published checkpoint note, with its cosignatures
    <prefix>tile/<L>/<N>[.p/<W>]          W (256 when full) hashes of level 8*L subtrees
    <prefix>tile/entries/<N>[.p/<W>]      W entries, each a big-endian uint16 length + the bytes

N is written in 3-digit groups, all but the last prefixed with `x` (1234067 -> x001/x234/067).
A hash at tile level L is the root of 256**L leaves, so tile (L, N) holds the level-8L hashes of
`MerkleTree` from N*256 on: the tree keeps every complete subtree hash as it grows, and a tile
is a slice of it, never recomputed. Only tiles whose hashes all lie within the published
checkpoint are served; every tile and bundle is immutable once it can be served (the entries it
covers never change), only the checkpoint is not.
"""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from receipts._errors import FormatError

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
CHECKPOINT_PATH = "checkpoint"
MAX_ENTRY_BYTES = 0xFFFF
_GROUP = re.compile(r"[0-9]{3}")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_MAX_LEVEL = 63


def encode_index(index: int) -> str:
    """`N` of a tile path: 3-digit groups, every group but the last prefixed with `x`."""
    digits = str(index)
    digits = digits.zfill(-(-len(digits) // 3) * 3)
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join([*("x" + g for g in groups[:-1]), groups[-1]])


@dataclass(frozen=True)
class TileRef:
    """One tile: `level` None for an entry bundle; `width` hashes or entries (256 when full)."""

    level: int | None
    index: int
    width: int = TILE_WIDTH

    @property
    def hash_level(self) -> int:
        """The tile level whose hashes it covers (0 for an entry bundle)."""
        return 0 if self.level is None else self.level

    @property
    def end(self) -> int:
        """The tree size that first holds every hash or entry of this tile."""
        return int((self.index * TILE_WIDTH + self.width) << (TILE_HEIGHT * self.hash_level))

    def path(self) -> str:
        kind = "entries" if self.level is None else str(self.level)
        partial = "" if self.width == TILE_WIDTH else f".p/{self.width}"
        return f"tile/{kind}/{encode_index(self.index)}{partial}"

    @classmethod
    def parse(cls, path: str) -> TileRef:
        """The tile at `path` (relative to the prefix); FormatError unless it is canonical."""
        parts = path.split("/")
        if len(parts) < 3 or parts[0] != "tile":
            raise FormatError(f"not a tile path: {path!r}")
        kind, rest = parts[1], parts[2:]
        width = TILE_WIDTH
        if len(rest) >= 2 and rest[-2].endswith(".p"):
            if not _DECIMAL.fullmatch(rest[-1]) or not 1 <= int(rest[-1]) < TILE_WIDTH:
                raise FormatError(f"bad partial tile width in {path!r}")
            width = int(rest[-1])
            rest = [*rest[:-2], rest[-2][:-2]]
        *upper, last = rest
        if not _GROUP.fullmatch(last) or not all(
            g.startswith("x") and _GROUP.fullmatch(g[1:]) for g in upper
        ):
            raise FormatError(f"bad tile index in {path!r}")
        index = int("".join(g[1:] for g in upper) + last)
        level: int | None
        if kind == "entries":
            level = None
        elif _DECIMAL.fullmatch(kind) and int(kind) <= _MAX_LEVEL:
            level = int(kind)
        else:
            raise FormatError(f"bad tile level in {path!r}")
        ref = cls(level, index, width)
        if ref.path() != path:
            raise FormatError(f"tile path {path!r} is not in canonical form")
        return ref


def tiles_between(old_size: int, new_size: int) -> list[TileRef]:
    """Every tile of the tree of `new_size` that the tree of `old_size` did not have: the full
    tiles completed in between and the partial tiles of `new_size` (bundles first, level by level).
    """
    refs: list[TileRef] = []
    for level in (None, *range(_MAX_LEVEL + 1)):
        span = TILE_WIDTH ** (0 if level is None else level)
        old, new = old_size // span, new_size // span
        if new == 0:
            break
        refs.extend(TileRef(level, n) for n in range(old // TILE_WIDTH, new // TILE_WIDTH))
        if new % TILE_WIDTH and new != old:
            refs.append(TileRef(level, new // TILE_WIDTH, new % TILE_WIDTH))
    return refs


def encode_bundle(entries: Iterable[bytes]) -> bytes:
    """An entry bundle: each entry as a big-endian uint16 length and its bytes."""
    parts: list[bytes] = []
    for entry in entries:
        if len(entry) > MAX_ENTRY_BYTES:
            raise FormatError(f"log entry of {len(entry)} bytes does not fit an entry bundle")
        parts += (len(entry).to_bytes(2, "big"), entry)
    return b"".join(parts)


def decode_bundle(data: bytes) -> list[bytes]:
    """The entries of an entry bundle; FormatError if it is truncated."""
    entries, offset = [], 0
    while offset < len(data):
        if offset + 2 > len(data):
            raise FormatError("entry bundle is truncated")
        size = int.from_bytes(data[offset : offset + 2], "big")
        offset += 2
        if offset + size > len(data):
            raise FormatError("entry bundle is truncated")
        entries.append(data[offset : offset + size])
        offset += size
    return entries


class TileSource(Protocol):
    """Where tiles come from: the log's tree and its stored entries."""

    def hashes(self, level: int, start: int, count: int) -> bytes: ...

    def entries(self, start: int, count: int) -> Sequence[bytes]: ...


def render(ref: TileRef, source: TileSource) -> bytes:
    start = ref.index * TILE_WIDTH
    if ref.level is None:
        entries = source.entries(start, ref.width)
        if len(entries) != ref.width:
            raise FormatError(f"{ref.path()}: only {len(entries)} entries are stored")
        return encode_bundle(entries)
    return source.hashes(ref.level * TILE_HEIGHT, start, ref.width)


class Tiles:
    """The served view: the published checkpoint and the tiles within it, cached by path.

    `read` runs in worker threads; `publish` in the publisher's. Rendered tiles are kept in an
    LRU cache of at most `cache_bytes`, so a popular tile is a dictionary lookup.
    """

    def __init__(self, source: TileSource, cache_bytes: int = 64 << 20) -> None:
        self._source = source
        self._lock = threading.Lock()
        self._size = 0
        self._note: bytes | None = None
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._cached_bytes = 0
        self._cache_limit = cache_bytes

    @property
    def size(self) -> int:
        return self._size

    @property
    def note(self) -> bytes | None:
        return self._note

    def publish(self, size: int, note: bytes) -> None:
        with self._lock:
            self._size, self._note = size, note

    def cached(self, path: str) -> bytes | None:
        """A tile already rendered (what `read` would answer), without touching the source."""
        with self._lock:
            body = self._cache.get(path)
            if body is not None:
                self._cache.move_to_end(path)
            return body

    def read(self, path: str) -> tuple[bytes, bool] | None:
        """(body, immutable) of `path`, or None when the log has no such file (yet)."""
        if path == CHECKPOINT_PATH:
            note = self._note
            return None if note is None else (note, False)
        try:
            ref = TileRef.parse(path)
        except FormatError:
            return None
        if ref.end > self._size:
            return None
        body = self.cached(path)
        if body is not None:
            return body, True
        body = render(ref, self._source)
        with self._lock:
            if path not in self._cache:
                self._cache[path] = body
                self._cached_bytes += len(body)
            while self._cached_bytes > self._cache_limit and self._cache:
                _, evicted = self._cache.popitem(last=False)
                self._cached_bytes -= len(evicted)
        return body, True


def write_atomically(path: Path, data: bytes, *, mode: int = 0o666, sync_dir: bool = False) -> None:
    """Write `data` to `path` through a temporary file and a rename, so readers never see half;
    a new file gets `mode` (less the umask). With `sync_dir` the directory is fsynced too, so the
    rename itself survives a crash."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    if sync_dir:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class TilesDirectory:
    """`[receipts] tiles_dir`: the same files written below a directory for static hosting."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def published_note(self) -> bytes | None:
        try:
            return (self.root / CHECKPOINT_PATH).read_bytes()
        except FileNotFoundError:
            return None

    def write(self, refs: Iterable[TileRef], source: TileSource, note: bytes) -> None:
        """Write `refs`, then the checkpoint last: what it names is already in place."""
        for ref in refs:
            write_atomically(self.root / ref.path(), render(ref, source))
        write_atomically(self.root / CHECKPOINT_PATH, note)
