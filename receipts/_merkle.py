"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and their verification.

Leaf hash = SHA-256(0x00 || entry), node hash = SHA-256(0x01 || left || right), the root of an
empty tree is SHA-256(""). Nothing is padded: a tree of n > 1 leaves splits at the largest power of
two strictly below n.

Consistency from size 0 follows C2SP tlog-witness: the empty tree is a prefix of every tree, so the
proof must be empty and the old root must be `EMPTY_ROOT` (an arbitrary "size 0" root never passes).

`MerkleTree` keeps every level of complete subtrees as one `bytearray` of concatenated 32-byte
hashes (level l, index j covers leaves [j * 2**l, (j + 1) * 2**l)); appends are O(log n) and any
root, inclusion or consistency proof for any size up to the current one is O(log n) hashes away.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from receipts._errors import ConsistencyError, InclusionError

HASH_SIZE = 32
EMPTY_ROOT: bytes = hashlib.sha256(b"").digest()

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_MAX_SIZE = 2**64 - 1


def leaf_hash(entry: bytes) -> bytes:
    """RFC 6962 hash of one log entry."""
    return hashlib.sha256(_LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 hash of an interior node."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    """Largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        raise ValueError(f"{what} must be {HASH_SIZE} bytes")


class CompactRange:
    """The roots of the complete subtrees that make up a tree's first `size` leaves, largest
    first: enough to append leaves and compute every later root without the earlier leaves."""

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        self.size = size
        self.hashes = [bytes(h) for h in hashes]
        if len(self.hashes) != size.bit_count() or not all(_is_hash(h) for h in self.hashes):
            raise ValueError(f"a compact range of size {size} has {size.bit_count()} hashes")

    def append(self, leaf_hash: bytes) -> None:
        _check_hash(leaf_hash, "leaf hash")
        value, n, hashes = bytes(leaf_hash), self.size, self.hashes
        while n & 1:  # merge with the equal-sized subtrees on the right edge
            value = node_hash(hashes.pop(), value)
            n >>= 1
        hashes.append(value)
        self.size += 1

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        root = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            root = node_hash(left, root)
        return root


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """Root of the tree over the given leaf hashes, `EMPTY_ROOT` when there are none."""
    compact = CompactRange()
    for h in leaf_hashes:
        compact.append(h)
    return compact.root()


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes | bytearray) and len(value) == HASH_SIZE


def _is_size(value: object) -> bool:
    return isinstance(value, int) and 0 <= value <= _MAX_SIZE


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that `leaf_hash` is leaf `index` of the tree of `size` leaves with root `root`.

    Raises `InclusionError` naming the reason; returns None when the proof holds.
    """
    if not (_is_hash(leaf_hash) and _is_hash(root) and all(_is_hash(p) for p in proof)):
        raise InclusionError(f"inclusion proof: every hash must be {HASH_SIZE} bytes")
    if not (_is_size(index) and _is_size(size)):
        raise InclusionError("inclusion proof: index and size must be integers in [0, 2^64)")
    if index >= size:
        raise InclusionError(f"inclusion proof: index {index} is outside a tree of size {size}")
    fn, sn, r = index, size - 1, bytes(leaf_hash)
    for p in proof:
        if sn == 0:
            raise InclusionError(
                f"inclusion proof: path too long for index {index} in a tree of size {size}"
            )
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InclusionError(
            f"inclusion proof: path too short for index {index} in a tree of size {size}"
        )
    if r != root:
        raise InclusionError(
            f"inclusion proof: leaf {index} does not lead to the root of the tree of size {size}"
        )


def verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree (`size2`, `root2`) extends the tree (`size1`, `root1`).

    Raises `ConsistencyError` naming the reason; returns None when the proof holds.
    """
    if not (_is_hash(root1) and _is_hash(root2) and all(_is_hash(p) for p in proof)):
        raise ConsistencyError(f"consistency proof: every hash must be {HASH_SIZE} bytes")
    if not (_is_size(size1) and _is_size(size2)):
        raise ConsistencyError("consistency proof: sizes must be integers in [0, 2^64)")
    if size1 > size2:
        raise ConsistencyError(f"consistency proof: tree shrank from {size1} to {size2}")
    if size1 == 0:
        if proof:
            raise ConsistencyError("consistency proof: from size 0 the proof must be empty")
        if root1 != EMPTY_ROOT:
            raise ConsistencyError("consistency proof: a tree of size 0 must have the empty root")
        if size2 == 0 and root2 != EMPTY_ROOT:
            raise ConsistencyError("consistency proof: a tree of size 0 must have the empty root")
        return
    if size1 == size2:
        if proof:
            raise ConsistencyError("consistency proof: trees of equal size need an empty proof")
        if root1 != root2:
            raise ConsistencyError(f"consistency proof: two different roots for size {size1}")
        return
    if not proof:
        raise ConsistencyError(f"consistency proof: empty proof from size {size1} to {size2}")

    path = [bytes(p) for p in proof]
    if size1 & (size1 - 1) == 0:
        path.insert(0, bytes(root1))
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ConsistencyError(f"consistency proof: path too long from size {size1} to {size2}")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ConsistencyError(f"consistency proof: path too short from size {size1} to {size2}")
    if fr != root1:
        raise ConsistencyError(f"consistency proof: old root of size {size1} does not match")
    if sr != root2:
        raise ConsistencyError(f"consistency proof: new root of size {size2} does not match")


class MerkleTree:
    """An append-only RFC 6962 tree that can prove anything about any of its past sizes."""

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        leaves = bytearray()
        for h in leaf_hashes:
            _check_hash(h, "leaf hash")
            leaves += h
        self._levels: list[bytearray] = [leaves]
        self._size = len(leaves) // HASH_SIZE
        below = bytes(leaves)
        while len(below) >= 2 * HASH_SIZE:
            pairs = len(below) // (2 * HASH_SIZE)
            sha256 = hashlib.sha256
            level = b"".join(
                [
                    sha256(_NODE_PREFIX + below[i : i + 2 * HASH_SIZE]).digest()
                    for i in range(0, pairs * 2 * HASH_SIZE, 2 * HASH_SIZE)
                ]
            )
            self._levels.append(bytearray(level))
            below = level

    @property
    def size(self) -> int:
        return self._size

    def append(self, leaf_hash: bytes) -> int:
        """Add one leaf hash; returns the new leaf's index."""
        _check_hash(leaf_hash, "leaf hash")
        index = self._size
        levels = self._levels
        levels[0] += leaf_hash
        n, level = index + 1, 0
        while not n & 1:
            parent = hashlib.sha256(_NODE_PREFIX + levels[level][-2 * HASH_SIZE :]).digest()
            level += 1
            n >>= 1
            if level == len(levels):
                levels.append(bytearray())
            levels[level] += parent
        self._size = index + 1
        return index

    def truncate(self, size: int) -> None:
        """Forget every leaf from index `size` on: only for leaves no checkpoint has covered."""
        self._check_size(size)
        for level, hashes in enumerate(self._levels):
            del hashes[(size >> level) * HASH_SIZE :]
        self._size = size

    def leaf(self, index: int) -> bytes:
        if not 0 <= index < self._size:
            raise IndexError(f"leaf {index} is outside a tree of size {self._size}")
        return self._stored(0, index)

    def hashes(self, level: int, start: int, count: int) -> bytes:
        """`count` concatenated hashes of complete subtrees of 2**level leaves, from `start`."""
        stored = self._levels[level] if level < len(self._levels) else b""
        if start < 0 or count < 0 or (start + count) * HASH_SIZE > len(stored):
            raise ValueError(f"no {count} complete subtrees at level {level} from {start}")
        return bytes(stored[start * HASH_SIZE : (start + count) * HASH_SIZE])

    def root(self, size: int | None = None) -> bytes:
        """Root of the first `size` leaves (default: all of them)."""
        if size is None:
            size = self._size
        self._check_size(size)
        if size == 0:
            return EMPTY_ROOT
        return self._range_hash(0, size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 inclusion path of leaf `index` in the tree of the first `size` leaves."""
        self._check_size(size)
        if not 0 <= index < size:
            raise ValueError(f"leaf {index} is outside a tree of size {size}")
        proof: list[bytes] = []
        start, end = 0, size
        while end - start > 1:
            k = _largest_power_of_two_below(end - start)
            if index < start + k:
                proof.append(self._range_hash(start + k, end))
                end = start + k
            else:
                proof.append(self._range_hash(start, start + k))
                start += k
        proof.reverse()
        return proof

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """RFC 9162 proof that the first `size2` leaves extend the first `size1` (empty from 0)."""
        self._check_size(size2)
        if not 0 <= size1 <= size2:
            raise ValueError(f"no consistency proof from size {size1} to size {size2}")
        if size1 == 0 or size1 == size2:
            return []
        proof: list[bytes] = []
        start, end, m, complete = 0, size2, size1, True
        while m != end - start:
            k = _largest_power_of_two_below(end - start)
            if m <= k:
                proof.append(self._range_hash(start + k, end))
                end = start + k
            else:
                proof.append(self._range_hash(start, start + k))
                m -= k
                start += k
                complete = False
        if not complete:
            proof.append(self._range_hash(start, end))
        proof.reverse()
        return proof

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self._size:
            raise ValueError(f"size {size} is outside a tree of size {self._size}")

    def _stored(self, level: int, index: int) -> bytes:
        offset = index * HASH_SIZE
        return bytes(self._levels[level][offset : offset + HASH_SIZE])

    def _range_hash(self, start: int, end: int) -> bytes:
        """Root of the subtree over leaves [start, end), as RFC 6962 defines it."""
        n = end - start
        if n & (n - 1) == 0 and start % n == 0:
            level = n.bit_length() - 1
            return self._stored(level, start >> level)
        k = _largest_power_of_two_below(n)
        return node_hash(self._range_hash(start, start + k), self._range_hash(start + k, end))
