"""Binary Merkle trees over ordered lists (transaction and receipt roots) with inclusion proofs.

The shape is RFC 6962's (Certificate Transparency): for n > 1 leaves the left subtree holds the largest power
of two strictly below n. Leaves and inner nodes are domain-separated:

    leaf  = tagged_hash("trellis/merkle/leaf", item)
    inner = tagged_hash("trellis/merkle/node", left || right)
    root of [] = 32 zero bytes

An inclusion proof is the list of sibling hashes from the leaf up to the root, plus the leaf's index and the
tree size, which fix the left/right order at every level.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import msgspec

from trellis.core.crypto.suite import Suite
from trellis.core.errors import ProofError
from trellis.core.types import U64, ZERO_HASH, CoreStruct, Hash32

_LEAF = b"trellis/merkle/leaf"
_NODE = b"trellis/merkle/node"


class MerkleProof(CoreStruct, frozen=True):
    """Inclusion proof of one item in a binary Merkle tree."""

    index: U64
    """Position of the item among the leaves (0-based)."""
    size: U64
    """Number of leaves in the tree."""
    siblings: Annotated[list[Hash32], msgspec.Meta(max_length=64)]
    """Sibling hashes from the leaf level up to (not including) the root."""


def _leaf_hashes(suite: Suite, items: Sequence[bytes]) -> list[bytes]:
    return suite.tagged_hashes(_LEAF, items)


def _next_level(suite: Suite, level: list[bytes]) -> list[bytes]:
    """Pair adjacent nodes; an odd last node is carried up unchanged."""
    nxt = suite.tagged_hashes(_NODE, [level[i] + level[i + 1] for i in range(0, len(level) - 1, 2)])
    if len(level) % 2:
        nxt.append(level[-1])
    return nxt


def _root_of_hashes(suite: Suite, hashes: list[bytes]) -> bytes:
    # Bottom-up reduction that yields exactly the RFC 6962 shape: pair adjacent nodes, carry an odd last
    # node up unchanged. (For CT trees both constructions give the same root.)
    level = hashes
    while len(level) > 1:
        level = _next_level(suite, level)
    return level[0]


def merkle_root(suite: Suite, items: Sequence[bytes]) -> bytes:
    """Return the Merkle root of ``items`` (each item is the bytes of one leaf); 32 zero bytes if empty."""
    if not items:
        return ZERO_HASH
    return _root_of_hashes(suite, _leaf_hashes(suite, items))


def merkle_proof(suite: Suite, items: Sequence[bytes], index: int) -> MerkleProof:
    """Return the inclusion proof of ``items[index]``.

    Raises:
        IndexError: ``index`` is outside ``items``.
    """
    n = len(items)
    if not 0 <= index < n:
        raise IndexError(f"leaf index {index} outside a tree of {n} leaves")
    level = _leaf_hashes(suite, items)
    siblings: list[bytes] = []
    i = index
    while len(level) > 1:
        sib = i ^ 1
        if sib < len(level):
            siblings.append(level[sib])
        level = _next_level(suite, level)
        i //= 2
    return MerkleProof(index=index, size=n, siblings=siblings)


def root_from_proof(suite: Suite, item: bytes, proof: MerkleProof) -> bytes:
    """Recompute the root implied by ``proof`` for ``item``.

    Raises:
        ProofError: the index is outside the size, or the number of siblings does not fit the size.
    """
    if not 0 <= proof.index < proof.size:
        raise ProofError(f"proof index {proof.index} outside a tree of {proof.size} leaves")
    th = suite.tagged_hash
    node = th(_LEAF, item)
    i, width = proof.index, proof.size
    used = 0
    while width > 1:
        sib = i ^ 1
        if sib < width:
            if used >= len(proof.siblings):
                raise ProofError("proof has too few sibling hashes for the tree size")
            s = proof.siblings[used]
            used += 1
            node = th(_NODE, s + node) if i & 1 else th(_NODE, node + s)
        i //= 2
        width = (width + 1) // 2
    if used != len(proof.siblings):
        raise ProofError("proof has more sibling hashes than the tree size allows")
    return node


def verify_merkle_proof(suite: Suite, item: bytes, proof: MerkleProof, root: bytes, *, size: int | None = None) -> None:
    """Check that ``item`` is leaf ``proof.index`` of the tree with root ``root``.

    Args:
        suite: the chain's crypto suite.
        item: the leaf's bytes.
        proof: the inclusion proof.
        root: the trusted root.
        size: the number of leaves the tree with ``root`` is known to have (a header's ``tx_count``). The root
            does not commit to the size, and proofs for different (index, size) pairs can hash alike (index 4
            of 5 and index 2 of 3 both combine the leaf with one left sibling), so a verifier that relies on
            ``proof.index`` must pass the size it trusts. None skips the check (membership only).

    Raises:
        ProofError: the proof is for another tree size, is malformed, or leads to a different root.
    """
    if size is not None and proof.size != size:
        raise ProofError(f"proof is for a tree of {proof.size} leaves; the tree has {size}")
    if root_from_proof(suite, item, proof) != root:
        raise ProofError("Merkle proof does not lead to the expected root")
