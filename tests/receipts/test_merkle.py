"""RFC 6962 / 9162 vectors, the edge cases that bite, and properties of MerkleTree."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from receipts._errors import ConsistencyError, InclusionError, VerificationError
from receipts._merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    MerkleTree,
    leaf_hash,
    node_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)

ENTRIES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
LEAVES = [leaf_hash(e) for e in ENTRIES]
ROOTS = {
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}
# (first hex digits, last hex digits) of each proof hash, as the reference note abbreviates them.
INCLUSION_VECTORS = {
    (0, 8): [("96a296d2", "09cfc7"), ("5f083f0a", "de3031e"), ("6b47aaf2", "9bf6e4")],
    (5, 8): [("bc1a0643", "599e6b"), ("ca854ea1", "975a0ae0"), ("d37ee418", "9614b7")],
    (2, 3): [("fac54203", "e3c125")],
    (1, 5): [("6e340b9c", "afa01d"), ("5f083f0a", "de3031e"), ("bc1a0643", "599e6b")],
}
CONSISTENCY_VECTORS = {
    (1, 8): INCLUSION_VECTORS[(0, 8)],
    (6, 8): [("0ebc5d34", "c558ef6a"), ("ca854ea1", "975a0ae0"), ("d37ee418", "9614b7")],
    (2, 5): [("5f083f0a", "de3031e"), ("bc1a0643", "599e6b")],
    (6, 7): [("0ebc5d34", "c558ef6a"), ("b08693ec", "6ffb1a5f"), ("d37ee418", "9614b7")],
}


# Straight transcriptions of RFC 9162 §2.1, used as an independent oracle.
def ref_root(d: list[bytes]) -> bytes:
    if not d:
        return EMPTY_ROOT
    if len(d) == 1:
        return d[0]
    k = 1 << ((len(d) - 1).bit_length() - 1)
    return node_hash(ref_root(d[:k]), ref_root(d[k:]))


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) <= 1:
        return []
    k = 1 << ((len(d) - 1).bit_length() - 1)
    if m < k:
        return [*ref_path(m, d[:k]), ref_root(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_root(d[:k])]


def ref_subproof(m: int, d: list[bytes], complete: bool) -> list[bytes]:
    if m == len(d):
        return [] if complete else [ref_root(d)]
    k = 1 << ((len(d) - 1).bit_length() - 1)
    if m <= k:
        return [*ref_subproof(m, d[:k], complete), ref_root(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_root(d[:k])]


def synthetic_leaves(n: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(8, "big")) for i in range(n)]


def assert_abbreviated(proof: list[bytes], expected: list[tuple[str, str]]) -> None:
    assert len(proof) == len(expected)
    for value, (head, tail) in zip(proof, expected, strict=True):
        assert value.hex().startswith(head) and value.hex().endswith(tail), value.hex()


def test_hash_primitives() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"").hex().startswith("6e340b9c")
    assert leaf_hash(b"") != EMPTY_ROOT
    assert (
        node_hash(LEAVES[0], LEAVES[1]) == hashlib.sha256(b"\x01" + LEAVES[0] + LEAVES[1]).digest()
    )
    assert HASH_SIZE == 32


@pytest.mark.parametrize("n", range(1, 9))
def test_rfc6962_roots(n: int) -> None:
    assert root_of(LEAVES[:n]).hex() == ROOTS[n]
    assert MerkleTree(LEAVES).root(n).hex() == ROOTS[n]
    tree = MerkleTree()
    for h in LEAVES[:n]:
        tree.append(h)
    assert tree.root().hex() == ROOTS[n]


def test_empty_tree() -> None:
    assert root_of([]) == EMPTY_ROOT
    assert MerkleTree().root() == EMPTY_ROOT
    assert MerkleTree(LEAVES).root(0) == EMPTY_ROOT


@pytest.mark.parametrize(("index", "size"), sorted(INCLUSION_VECTORS))
def test_rfc6962_inclusion_vectors(index: int, size: int) -> None:
    tree = MerkleTree(LEAVES)
    proof = tree.inclusion_proof(index, size)
    assert_abbreviated(proof, INCLUSION_VECTORS[(index, size)])
    assert proof == ref_path(index, LEAVES[:size])
    verify_inclusion(LEAVES[index], index, size, proof, bytes.fromhex(ROOTS[size]))


@pytest.mark.parametrize(("size1", "size2"), sorted(CONSISTENCY_VECTORS))
def test_rfc6962_consistency_vectors(size1: int, size2: int) -> None:
    tree = MerkleTree(LEAVES)
    proof = tree.consistency_proof(size1, size2)
    assert_abbreviated(proof, CONSISTENCY_VECTORS[(size1, size2)])
    assert proof == ref_subproof(size1, LEAVES[:size2], True)
    verify_consistency(
        size1, size2, bytes.fromhex(ROOTS[size1]), bytes.fromhex(ROOTS[size2]), proof
    )


def test_consistency_equal_sizes() -> None:
    root = bytes.fromhex(ROOTS[5])
    assert MerkleTree(LEAVES).consistency_proof(5, 5) == []
    verify_consistency(5, 5, root, root, [])
    with pytest.raises(ConsistencyError, match="different roots"):
        verify_consistency(5, 5, root, bytes.fromhex(ROOTS[4]), [])
    with pytest.raises(ConsistencyError, match="empty proof"):
        verify_consistency(5, 5, root, root, [LEAVES[0]])


def test_consistency_from_size_zero_policy() -> None:
    root8 = bytes.fromhex(ROOTS[8])
    assert MerkleTree(LEAVES).consistency_proof(0, 8) == []
    verify_consistency(0, 8, EMPTY_ROOT, root8, [])
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    with pytest.raises(ConsistencyError, match="empty root"):
        verify_consistency(0, 8, root8, root8, [])
    with pytest.raises(ConsistencyError, match="empty root"):
        verify_consistency(0, 0, root8, root8, [])
    with pytest.raises(ConsistencyError, match="must be empty"):
        verify_consistency(0, 8, EMPTY_ROOT, root8, [root8])


def test_consistency_rejects_shrinking_and_empty_proof() -> None:
    tree = MerkleTree(LEAVES)
    with pytest.raises(ConsistencyError, match="shrank"):
        verify_consistency(8, 6, tree.root(8), tree.root(6), tree.consistency_proof(6, 8))
    with pytest.raises(ConsistencyError, match="empty proof"):
        verify_consistency(6, 8, tree.root(6), tree.root(8), [])


def test_hash_lengths_are_checked() -> None:
    # A literal port accepts an empty leaf hash, an empty root and an empty path at size 1.
    with pytest.raises(InclusionError, match="32 bytes"):
        verify_inclusion(b"", 0, 1, [], b"")
    with pytest.raises(InclusionError, match="32 bytes"):
        verify_inclusion(LEAVES[0], 0, 2, [LEAVES[1][:31]], root_of(LEAVES[:2]))
    with pytest.raises(ConsistencyError, match="32 bytes"):
        verify_consistency(1, 1, b"", b"", [])
    with pytest.raises(ValueError, match="32 bytes"):
        MerkleTree().append(b"short")
    with pytest.raises(ValueError, match="32 bytes"):
        root_of([b"x" * 33])


@pytest.mark.parametrize(("index", "size"), [(2, 3), (4, 5), (6, 7), (12, 13), (8, 11)])
def test_right_border_needs_the_shift_loop(index: int, size: int) -> None:
    leaves = synthetic_leaves(size)
    proof = ref_path(index, leaves)
    verify_inclusion(leaves[index], index, size, proof, ref_root(leaves))


def test_size_confusion_is_why_size_must_come_from_a_signed_checkpoint() -> None:
    # A path's shape depends only on (index, size): the path of index 0 in a 3-leaf tree also
    # "verifies" a claimed size 4 against the 3-leaf root. The math cannot catch this; callers
    # must take size and root from the signed checkpoint (test_proof covers that link).
    tree = MerkleTree(LEAVES[:3])
    proof = tree.inclusion_proof(0, 3)
    verify_inclusion(LEAVES[0], 0, 3, proof, tree.root())
    verify_inclusion(LEAVES[0], 0, 4, proof, tree.root())
    with pytest.raises(InclusionError):
        verify_inclusion(LEAVES[0], 0, 5, proof, tree.root())


def test_inclusion_rejects_bad_positions() -> None:
    tree = MerkleTree(LEAVES)
    proof = tree.inclusion_proof(3, 8)
    root = tree.root()
    with pytest.raises(InclusionError, match="outside"):
        verify_inclusion(LEAVES[3], 8, 8, proof, root)
    with pytest.raises(InclusionError, match="integers"):
        verify_inclusion(LEAVES[3], -1, 8, proof, root)
    with pytest.raises(InclusionError, match="too long"):
        verify_inclusion(LEAVES[3], 3, 8, [*proof, root], root)
    with pytest.raises(InclusionError, match="too short"):
        verify_inclusion(LEAVES[3], 3, 8, proof[:-1], root)
    with pytest.raises(InclusionError, match="does not lead"):
        verify_inclusion(LEAVES[3], 2, 8, proof, root)
    assert issubclass(InclusionError, VerificationError)


def test_tree_rejects_out_of_range_requests() -> None:
    tree = MerkleTree(LEAVES[:4])
    with pytest.raises(ValueError):
        tree.root(5)
    with pytest.raises(ValueError):
        tree.inclusion_proof(4, 4)
    with pytest.raises(ValueError):
        tree.consistency_proof(3, 5)
    with pytest.raises(ValueError):
        tree.consistency_proof(4, 3)
    with pytest.raises(IndexError):
        tree.leaf(4)
    assert tree.leaf(3) == LEAVES[3]


@settings(max_examples=25, deadline=None)
@given(n=st.integers(min_value=1, max_value=64))
def test_every_inclusion_proof_verifies(n: int) -> None:
    leaves = synthetic_leaves(n)
    tree = MerkleTree()
    for i, h in enumerate(leaves):
        assert tree.append(h) == i
    for size in range(1, n + 1):
        root = tree.root(size)
        assert root == root_of(leaves[:size]) == ref_root(leaves[:size])
        for index in range(size):
            proof = tree.inclusion_proof(index, size)
            verify_inclusion(leaves[index], index, size, proof, root)
            if size > 1:
                with pytest.raises(InclusionError):
                    verify_inclusion(leaves[index], (index + 1) % size, size, proof, root)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(min_value=1, max_value=64))
def test_every_consistency_proof_verifies(n: int) -> None:
    leaves = synthetic_leaves(n)
    tree = MerkleTree(leaves)
    for size2 in range(1, n + 1):
        for size1 in range(1, size2 + 1):
            proof = tree.consistency_proof(size1, size2)
            assert proof == ref_subproof(size1, leaves[:size2], True)
            verify_consistency(size1, size2, tree.root(size1), tree.root(size2), proof)


def test_all_small_trees_exhaustively() -> None:
    # Every (index, size) and (size1, size2) up to 64: the hypothesis runs above sample n.
    leaves = synthetic_leaves(64)
    tree = MerkleTree(leaves)
    for size in range(1, 65):
        root = tree.root(size)
        for index in range(size):
            verify_inclusion(leaves[index], index, size, tree.inclusion_proof(index, size), root)
        for size1 in range(1, size + 1):
            proof = tree.consistency_proof(size1, size)
            verify_consistency(size1, size, tree.root(size1), root, proof)


@settings(max_examples=200, deadline=None)
@given(
    data=st.data(),
    n=st.integers(min_value=2, max_value=40),
)
def test_any_changed_byte_breaks_proofs(data: st.DataObject, n: int) -> None:
    leaves = synthetic_leaves(n)
    tree = MerkleTree(leaves)
    size = data.draw(st.integers(min_value=2, max_value=n))
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    proof = tree.inclusion_proof(index, size)
    which = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
    pos = data.draw(st.integers(min_value=0, max_value=HASH_SIZE - 1))
    bit = data.draw(st.integers(min_value=0, max_value=7))
    bad = bytearray(proof[which])
    bad[pos] ^= 1 << bit
    tampered = [*proof[:which], bytes(bad), *proof[which + 1 :]]
    with pytest.raises(InclusionError):
        verify_inclusion(leaves[index], index, size, tampered, tree.root(size))

    size1 = data.draw(st.integers(min_value=1, max_value=size - 1))
    cproof = tree.consistency_proof(size1, size)
    which = data.draw(st.integers(min_value=0, max_value=len(cproof) - 1))
    bad = bytearray(cproof[which])
    bad[pos] ^= 1 << bit
    ctampered = [*cproof[:which], bytes(bad), *cproof[which + 1 :]]
    with pytest.raises(ConsistencyError):
        verify_consistency(size1, size, tree.root(size1), tree.root(size), ctampered)


def test_rebuild_matches_appends() -> None:
    leaves = synthetic_leaves(1000)
    appended = MerkleTree()
    for h in leaves:
        appended.append(h)
    rebuilt = MerkleTree(leaves)
    assert rebuilt.size == appended.size == 1000
    for size in (1, 2, 3, 511, 512, 513, 999, 1000):
        assert rebuilt.root(size) == appended.root(size) == root_of(leaves[:size])
    rebuilt.append(leaf_hash(b"next"))
    appended.append(leaf_hash(b"next"))
    assert rebuilt.root() == appended.root()


@settings(max_examples=60)
@given(st.integers(min_value=0, max_value=70), st.integers(min_value=0, max_value=70))
def test_truncate_then_append_equals_the_tree_built_from_the_kept_leaves(
    keep: int, more: int
) -> None:
    leaves = synthetic_leaves(keep + 70)
    others = [leaf_hash(b"other %d" % i) for i in range(more)]
    tree = MerkleTree(leaves)
    tree.truncate(keep)
    assert tree.size == keep
    for h in others:
        tree.append(h)
    expected = MerkleTree(leaves[:keep] + others)
    assert tree.size == expected.size
    for size in range(tree.size + 1):
        assert tree.root(size) == expected.root(size)
    if tree.size:
        assert tree.inclusion_proof(tree.size - 1, tree.size) == expected.inclusion_proof(
            tree.size - 1, tree.size
        )
    with pytest.raises(ValueError):
        tree.truncate(tree.size + 1)
