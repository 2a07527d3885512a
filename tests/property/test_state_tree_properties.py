"""The authenticated state tree (trellis/core/ledger/state_tree.py), checked against a plain dict model.

- History independence: after any sequence of batched writes and deletes, the root equals the root of the
  final key set built from scratch, and the stored tree has the canonical shape.
- Proofs: inclusion proofs verify for present keys with their value, non-inclusion proofs for absent keys,
  and every false claim fails.
- Tampering: changing one byte of the encoded proof, the key, the value, the header's state root or its
  height makes verification fail (``DecodeError`` when the proof bytes no longer decode, otherwise
  ``ProofError``), unless the changed claim happens to be true (another absent key on the same path).
  Exhaustively, byte by byte, for a few small trees; at random for larger ones.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trellis.core import codec
from trellis.core.crypto.suite import ED25519
from trellis.core.errors import DecodeError, ProofError
from trellis.core.ledger.block import Header
from trellis.core.ledger.state_tree import (
    MissingNode,
    StateProof,
    apply_updates,
    key_path,
    lookup,
    prove,
    value_hash,
    verify_state_proof,
)
from trellis.core.types import ZERO_HASH

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class DictNodes:
    """An in-memory node store (a ``NodeReader``)."""

    def __init__(self) -> None:
        self.nodes: dict[bytes, bytes] = {}

    def get_node(self, node_hash: bytes) -> bytes | None:
        return self.nodes.get(node_hash)

    def apply(self, root: bytes, updates: dict[bytes, bytes | None]) -> bytes:
        up = apply_updates(ED25519, self, root, updates)
        self.nodes.update(up.nodes)
        return up.root


def build(model: dict[bytes, bytes]) -> tuple[DictNodes, bytes]:
    nodes = DictNodes()
    return nodes, nodes.apply(ZERO_HASH, dict(model))


# Keys whose paths share long prefixes, so trees get deep paths, chains of one-child internal nodes and
# collapses on delete. Path of b"p0" starts d91fdf...; the comments give how many nibbles each shares with it.
PREFIX_KEYS = {
    b"p0": 64,
    b"p2872682": 6,
    b"p1039411": 5,
    b"p2363432": 5,
    b"p42673": 4,
    b"p89325": 4,
    b"p90860": 4,
    b"p3883": 3,
    b"p4741": 3,
    b"p6121": 3,
}
PLAIN_KEYS = [b"", b"\x00", b"\x01", *(b"k%d" % i for i in range(17))]
KEY_POOL = [*PREFIX_KEYS, *PLAIN_KEYS]
KEY = st.sampled_from(KEY_POOL)
VALUE = st.binary(max_size=3)
BATCHES = st.lists(st.dictionaries(KEY, st.one_of(st.none(), VALUE), max_size=10), min_size=1, max_size=6)
MODEL = st.dictionaries(KEY, VALUE, max_size=len(KEY_POOL))


def _shared_nibbles(a: bytes, b: bytes) -> int:
    ha, hb = key_path(ED25519, a).hex(), key_path(ED25519, b).hex()
    return next((i for i in range(64) if ha[i] != hb[i]), 64)


def test_prefix_key_pool_shares_the_stated_path_prefixes() -> None:
    for key, shared in PREFIX_KEYS.items():
        assert _shared_nibbles(key, b"p0") == shared


def check_shape(nodes: DictNodes, root: bytes) -> int:
    """Walk the stored tree: check content addressing and the canonical shape; return the number of keys."""
    if root == ZERO_HASH:
        return 0

    def walk(h: bytes, depth: int, is_root: bool) -> tuple[int, bool]:
        enc = nodes.get_node(h)
        assert enc is not None
        if enc[0] == 1:
            assert len(enc) == 65
            assert h == ED25519.tagged_hash(b"trellis/smt/leaf", enc[1:])
            return 1, True
        assert enc[0] == 2
        bitmap = int.from_bytes(enc[1:3], "big")
        children = [enc[3 + 32 * i : 35 + 32 * i] for i in range(bitmap.bit_count())]
        assert len(enc) == 3 + 32 * len(children)
        assert h == ED25519.tagged_hash(b"trellis/smt/node", enc[1:])
        assert children, "internal node without children"
        results = [walk(c, depth + 1, False) for c in children]
        if len(children) == 1:
            assert not results[0][1], "internal node whose only child is a leaf"
        keys = sum(n for n, _ in results)
        assert keys >= 2, "a subtree with one key must be that key's leaf"
        return keys, False

    return walk(root, 0, True)[0]


def header_at(root: bytes, height: int = 9) -> Header:
    return Header(
        chain_id="state",
        height=height,
        time_ms=1,
        parent_hash=ZERO_HASH,
        tx_root=ZERO_HASH,
        results_root=ZERO_HASH,
        state_root=root,
        tx_count=0,
        proposer=b"\x00" * 20,
        validators_hash=ZERO_HASH,
        next_validators_hash=ZERO_HASH,
    )


def _flip(data: bytes, pos: int, mask: int) -> bytes:
    return data[:pos] + bytes([data[pos] ^ mask]) + data[pos + 1 :]


# --- Shape and history independence ------------------------------------------------------------------------


def test_empty_tree_root_is_the_zero_hash() -> None:
    assert build({})[1] == ZERO_HASH


def test_tree_of_one_key_is_that_keys_leaf() -> None:
    root = build({b"a": b"1"})[1]
    expected = ED25519.tagged_hash(b"trellis/smt/leaf", key_path(ED25519, b"a") + value_hash(ED25519, b"1"))
    assert root == expected


def test_empty_batch_leaves_the_root_unchanged() -> None:
    nodes, root = build({b"a": b"1"})
    assert apply_updates(ED25519, nodes, root, {}).root == root


def test_deleting_every_key_gives_the_empty_root() -> None:
    nodes, root = build({k: b"v" for k in KEY_POOL})
    assert nodes.apply(root, dict.fromkeys(KEY_POOL)) == ZERO_HASH


def test_update_under_a_root_missing_from_the_store_raises_missing_node() -> None:
    with pytest.raises(MissingNode):
        apply_updates(ED25519, DictNodes(), b"\x42" * 32, {b"a": b"1"})


@SETTINGS
@given(BATCHES)
def test_root_after_any_update_sequence_equals_the_root_built_from_scratch(batches: list[dict[bytes, Any]]) -> None:
    nodes = DictNodes()
    root = ZERO_HASH
    model: dict[bytes, bytes] = {}
    for batch in batches:
        root = nodes.apply(root, batch)
        for k, v in batch.items():
            if v is None:
                model.pop(k, None)
            else:
                model[k] = v
        assert root == build(model)[1]
        assert check_shape(nodes, root) == len(model)


@SETTINGS
@given(BATCHES)
def test_lookup_after_any_update_sequence_agrees_with_the_model(batches: list[dict[bytes, Any]]) -> None:
    nodes = DictNodes()
    root = ZERO_HASH
    model: dict[bytes, bytes | None] = {}
    for batch in batches:
        root = nodes.apply(root, batch)
        model.update(batch)
    for key in KEY_POOL:
        value = model.get(key)
        assert lookup(ED25519, nodes, root, key) == (None if value is None else value_hash(ED25519, value))


@SETTINGS
@given(MODEL, MODEL)
def test_every_past_root_stays_readable_after_later_updates(
    first: dict[bytes, bytes], second: dict[bytes, bytes]
) -> None:
    nodes, old_root = build(first)
    nodes.apply(old_root, {**dict.fromkeys(first), **second})
    for key in KEY_POOL:
        expected = first.get(key)
        assert lookup(ED25519, nodes, old_root, key) == (None if expected is None else value_hash(ED25519, expected))


# --- Proofs ------------------------------------------------------------------------------------------------


@SETTINGS
@given(MODEL)
def test_inclusion_proof_of_every_present_key_verifies(model: dict[bytes, bytes]) -> None:
    nodes, root = build(model)
    for key, value in model.items():
        proof = prove(ED25519, nodes, root, key, 9)
        assert proof.leaf is not None
        verify_state_proof(ED25519, key, value, proof, header_at(root))


@SETTINGS
@given(MODEL)
def test_non_inclusion_proof_of_every_absent_key_verifies(model: dict[bytes, bytes]) -> None:
    nodes, root = build(model)
    for key in KEY_POOL:
        if key not in model:
            verify_state_proof(ED25519, key, None, prove(ED25519, nodes, root, key, 9), header_at(root))


@SETTINGS
@given(MODEL.filter(bool), st.data())
def test_inclusion_proof_with_a_wrong_value_fails(model: dict[bytes, bytes], data: st.DataObject) -> None:
    nodes, root = build(model)
    key = data.draw(st.sampled_from(sorted(model)))
    wrong = data.draw(VALUE.filter(lambda v: v != model[key]))
    with pytest.raises(ProofError):
        verify_state_proof(ED25519, key, wrong, prove(ED25519, nodes, root, key, 9), header_at(root))


@SETTINGS
@given(MODEL.filter(bool), st.data())
def test_claiming_a_present_key_absent_fails(model: dict[bytes, bytes], data: st.DataObject) -> None:
    nodes, root = build(model)
    key = data.draw(st.sampled_from(sorted(model)))
    with pytest.raises(ProofError):
        verify_state_proof(ED25519, key, None, prove(ED25519, nodes, root, key, 9), header_at(root))


@SETTINGS
@given(MODEL.filter(lambda m: len(m) < len(KEY_POOL)), st.data(), VALUE)
def test_claiming_an_absent_key_present_fails(model: dict[bytes, bytes], data: st.DataObject, value: bytes) -> None:
    nodes, root = build(model)
    key = data.draw(st.sampled_from([k for k in KEY_POOL if k not in model]))
    with pytest.raises(ProofError):
        verify_state_proof(ED25519, key, value, prove(ED25519, nodes, root, key, 9), header_at(root))


@SETTINGS
@given(MODEL.filter(lambda m: len(m) >= 2), st.data())
def test_proof_of_one_key_does_not_prove_another(model: dict[bytes, bytes], data: st.DataObject) -> None:
    nodes, root = build(model)
    key, other = data.draw(st.lists(st.sampled_from(sorted(model)), min_size=2, max_size=2, unique=True))
    with pytest.raises(ProofError):
        verify_state_proof(ED25519, other, model[other], prove(ED25519, nodes, root, key, 9), header_at(root))


def test_proof_for_another_height_fails() -> None:
    nodes, root = build({b"a": b"1"})
    with pytest.raises(ProofError):
        verify_state_proof(ED25519, b"a", b"1", prove(ED25519, nodes, root, b"a", 8), header_at(root, 9))


def test_non_inclusion_in_the_empty_tree_is_an_empty_proof() -> None:
    proof = prove(ED25519, DictNodes(), ZERO_HASH, b"a", 9)
    assert proof == StateProof(height=9, steps=[], leaf=None)
    verify_state_proof(ED25519, b"a", None, proof, header_at(ZERO_HASH))


def test_proof_depth_follows_the_shared_path_prefix() -> None:
    # p0 and p2872682 share 6 nibbles: their leaves hang under 7 internal nodes.
    nodes, root = build({b"p0": b"x", b"p2872682": b"y"})
    proof = prove(ED25519, nodes, root, b"p0", 9)
    assert len(proof.steps) == 7
    assert [s.bitmap.bit_count() for s in proof.steps] == [1] * 6 + [2]
    verify_state_proof(ED25519, b"p0", b"x", proof, header_at(root))


# --- Tampering ---------------------------------------------------------------------------------------------


def _fails(key: bytes, value: bytes | None, proof_bytes: bytes, header: Header) -> bool:
    """True iff verification of the (possibly tampered) claim fails with DecodeError or ProofError."""
    try:
        proof = codec.decode(proof_bytes, StateProof)
    except DecodeError:
        return True
    try:
        verify_state_proof(ED25519, key, value, proof, header)
    except ProofError:
        return True
    return False


def _check_one_byte_changes(model: dict[bytes, bytes], key: bytes, masks: list[int], positions: Any = None) -> None:
    """Change each byte (or the ``positions`` chosen) of proof, key, value, state root and height in turn."""
    nodes, root = build(model)
    value = model.get(key)
    header = header_at(root)
    proof_bytes = codec.encode(prove(ED25519, nodes, root, key, header.height))
    assert not _fails(key, value, proof_bytes, header)

    def pick(n: int) -> range | list[int]:
        return range(n) if positions is None else [p % n for p in positions]

    for mask in masks:
        for pos in pick(len(proof_bytes)):
            assert _fails(key, value, _flip(proof_bytes, pos, mask), header), f"proof byte {pos} ^ {mask:#x}"
        for pos in pick(len(key)) if key else []:
            other = _flip(key, pos, mask)
            truly_absent = value is None and other not in model
            assert _fails(other, value, proof_bytes, header) or truly_absent, f"key byte {pos} ^ {mask:#x}"
        for pos in pick(len(value)) if value else []:
            assert _fails(key, _flip(value, pos, mask), proof_bytes, header), f"value byte {pos} ^ {mask:#x}"
        for pos in pick(32):
            tampered = header_at(_flip(root, pos, mask), header.height)
            assert _fails(key, value, proof_bytes, tampered), f"state root byte {pos} ^ {mask:#x}"
        for bit in pick(64):
            assert _fails(key, value, proof_bytes, header_at(root, header.height ^ (mask << (bit % 57)))), "height"
    if value is not None:
        assert _fails(key, value + b"\x00", proof_bytes, header)
        assert _fails(key, None, proof_bytes, header)


SMALL_TREES = {
    "empty": {},
    "one key": {b"k1": b"v1"},
    "three keys": {b"k1": b"v1", b"k2": b"", b"k3": b"\xff\x00"},
    "shared prefixes": {k: k[-1:] for k in list(PREFIX_KEYS)[:7]},
}


@pytest.mark.parametrize("tree", SMALL_TREES, ids=list(SMALL_TREES))
def test_any_one_byte_change_breaks_every_proof_of_a_small_tree(tree: str) -> None:
    model = SMALL_TREES[tree]
    for key in [*model, b"k5", b"p4741", b"absent"]:
        _check_one_byte_changes(model, key, masks=[0x01, 0x80, 0xFF])


@SETTINGS
@given(MODEL, KEY, st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=8), st.integers(1, 255))
def test_random_one_byte_changes_break_proofs_of_random_trees(
    model: dict[bytes, bytes], key: bytes, positions: list[int], mask: int
) -> None:
    _check_one_byte_changes(model, key, masks=[mask], positions=positions)
