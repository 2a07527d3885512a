"""Binary Merkle trees (trellis/core/crypto/merkle.py): RFC 6962 shape, proofs verify, tampering fails.

A tampered proof must fail with ``ProofError`` and nothing else (pytest.raises lets any other exception
through as a failure).
"""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trellis.core.crypto.merkle import MerkleProof, merkle_proof, merkle_root, root_from_proof, verify_merkle_proof
from trellis.core.crypto.suite import ED25519
from trellis.core.errors import ProofError
from trellis.core.types import ZERO_HASH

SETTINGS = settings(max_examples=200, deadline=None)
# Mostly distinct items (so a proof can only be valid for its own index), sometimes with repeats.
ITEMS = st.one_of(
    st.lists(st.binary(max_size=12), min_size=1, max_size=40, unique=True),
    st.lists(st.binary(max_size=2), min_size=1, max_size=40),
)


def _rfc6962_root(items: list[bytes]) -> bytes:
    """MTH from RFC 6962 section 2.1, written recursively and independently of the library."""
    if len(items) == 1:
        return ED25519.tagged_hash(b"trellis/merkle/leaf", items[0])
    k = 1
    while k * 2 < len(items):
        k *= 2
    left, right = _rfc6962_root(items[:k]), _rfc6962_root(items[k:])
    return ED25519.tagged_hash(b"trellis/merkle/node", left + right)


@st.composite
def tree_and_index(draw: st.DrawFn) -> tuple[list[bytes], int]:
    items = draw(ITEMS)
    return items, draw(st.integers(min_value=0, max_value=len(items) - 1))


def test_root_of_no_items_is_the_zero_hash() -> None:
    assert merkle_root(ED25519, []) == ZERO_HASH


def test_root_of_one_item_is_its_leaf_hash() -> None:
    assert merkle_root(ED25519, [b"a"]) == ED25519.tagged_hash(b"trellis/merkle/leaf", b"a")


@SETTINGS
@given(ITEMS)
def test_root_has_the_rfc6962_shape(items: list[bytes]) -> None:
    assert merkle_root(ED25519, items) == _rfc6962_root(items)


def test_every_proof_of_every_tree_up_to_70_leaves_verifies() -> None:
    for n in range(1, 71):
        items = [i.to_bytes(2, "big") for i in range(n)]
        root = merkle_root(ED25519, items)
        for i in range(n):
            proof = merkle_proof(ED25519, items, i)
            assert (proof.index, proof.size) == (i, n)
            assert len(proof.siblings) <= (n - 1).bit_length()
            verify_merkle_proof(ED25519, items[i], proof, root, size=n)


@SETTINGS
@given(tree_and_index())
def test_proof_of_every_item_verifies_against_the_root(tree: tuple[list[bytes], int]) -> None:
    items, index = tree
    verify_merkle_proof(ED25519, items[index], merkle_proof(ED25519, items, index), merkle_root(ED25519, items))


def test_proof_for_an_index_outside_the_list_is_an_index_error() -> None:
    with pytest.raises(IndexError):
        merkle_proof(ED25519, [b"a", b"b"], 2)


def _flip(data: bytes, pos: int, mask: int) -> bytes:
    return data[:pos] + bytes([data[pos] ^ mask]) + data[pos + 1 :]


MASK = st.integers(min_value=1, max_value=255)


@SETTINGS
@given(tree_and_index(), st.data())
def test_proof_with_any_sibling_byte_changed_fails(tree: tuple[list[bytes], int], data: st.DataObject) -> None:
    items, index = tree
    proof = merkle_proof(ED25519, items, index)
    if not proof.siblings:
        return  # a one-leaf tree has no siblings
    s = data.draw(st.integers(min_value=0, max_value=len(proof.siblings) - 1), label="sibling")
    pos = data.draw(st.integers(min_value=0, max_value=31), label="byte")
    siblings = list(proof.siblings)
    siblings[s] = _flip(siblings[s], pos, data.draw(MASK, label="mask"))
    tampered = msgspec.structs.replace(proof, siblings=siblings)
    with pytest.raises(ProofError):
        verify_merkle_proof(ED25519, items[index], tampered, merkle_root(ED25519, items))


@SETTINGS
@given(tree_and_index(), st.data())
def test_proof_with_another_index_fails_unless_that_index_holds_the_same_item(
    tree: tuple[list[bytes], int], data: st.DataObject
) -> None:
    items, index = tree
    proof = merkle_proof(ED25519, items, index)
    other = data.draw(
        st.one_of(
            st.integers(min_value=0, max_value=len(items) + 2), st.integers(min_value=0, max_value=2**64 - 1)
        ).filter(lambda i: i != index)
    )
    try:
        verify_merkle_proof(
            ED25519, items[index], msgspec.structs.replace(proof, index=other), merkle_root(ED25519, items)
        )
    except ProofError:
        return
    # Accepted only if the claim is true: the same item also sits at the other index (with the same siblings).
    assert other < len(items)
    assert items[other] == items[index]


@SETTINGS
@given(tree_and_index(), st.data())
def test_proof_claiming_another_size_fails_when_the_verifier_knows_the_size(
    tree: tuple[list[bytes], int], data: st.DataObject
) -> None:
    items, index = tree
    n = len(items)
    proof = merkle_proof(ED25519, items, index)
    other = data.draw(
        st.one_of(st.integers(min_value=0, max_value=2 * n + 2), st.integers(min_value=0, max_value=2**64 - 1)).filter(
            lambda s: s != n
        )
    )
    with pytest.raises(ProofError):
        verify_merkle_proof(
            ED25519, items[index], msgspec.structs.replace(proof, size=other), merkle_root(ED25519, items), size=n
        )


def test_root_does_not_commit_to_the_size_so_verifiers_must_pass_it() -> None:
    # Index 4 of 5 leaves and index 2 of 3 leaves both hash the leaf with one left sibling: without the trusted
    # size, a proof of leaf 4 can be passed off as a proof of leaf 2 (and index 0 of 3 as index 0 of 4).
    items = [b"a", b"b", b"c", b"d", b"e"]
    root = merkle_root(ED25519, items)
    moved = msgspec.structs.replace(merkle_proof(ED25519, items, 4), index=2, size=3)
    verify_merkle_proof(ED25519, b"e", moved, root)
    with pytest.raises(ProofError):
        verify_merkle_proof(ED25519, b"e", moved, root, size=5)


@SETTINGS
@given(tree_and_index(), st.binary(max_size=12))
def test_proof_of_another_item_fails(tree: tuple[list[bytes], int], other: bytes) -> None:
    items, index = tree
    if other == items[index]:
        return
    with pytest.raises(ProofError):
        verify_merkle_proof(ED25519, other, merkle_proof(ED25519, items, index), merkle_root(ED25519, items))


@SETTINGS
@given(tree_and_index(), st.integers(min_value=0, max_value=31), MASK)
def test_proof_against_a_changed_root_fails(tree: tuple[list[bytes], int], pos: int, mask: int) -> None:
    items, index = tree
    root = _flip(merkle_root(ED25519, items), pos, mask)
    with pytest.raises(ProofError):
        verify_merkle_proof(ED25519, items[index], merkle_proof(ED25519, items, index), root)


@SETTINGS
@given(tree_and_index(), st.data())
def test_proof_with_a_sibling_removed_or_added_fails(tree: tuple[list[bytes], int], data: st.DataObject) -> None:
    items, index = tree
    proof = merkle_proof(ED25519, items, index)
    siblings = list(proof.siblings)
    if siblings and data.draw(st.booleans(), label="remove"):
        del siblings[data.draw(st.integers(min_value=0, max_value=len(siblings) - 1))]
    else:
        siblings.insert(
            data.draw(st.integers(min_value=0, max_value=len(siblings))), data.draw(st.binary(min_size=32, max_size=32))
        )
    with pytest.raises(ProofError):
        verify_merkle_proof(
            ED25519, items[index], msgspec.structs.replace(proof, siblings=siblings), merkle_root(ED25519, items)
        )


@SETTINGS
@given(
    st.binary(max_size=8),
    st.builds(
        MerkleProof,
        index=st.integers(min_value=0, max_value=2**64 - 1),
        size=st.integers(min_value=0, max_value=2**64 - 1),
        siblings=st.lists(st.binary(min_size=32, max_size=32), max_size=64),
    ),
)
def test_arbitrary_proof_either_yields_a_root_or_raises_proof_error(item: bytes, proof: MerkleProof) -> None:
    try:
        root = root_from_proof(ED25519, item, proof)
    except ProofError:
        return
    assert len(root) == 32
