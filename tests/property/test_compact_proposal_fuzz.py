"""Hostile compact proposals (ADR 0012) never crash a node: the reference decoder raises only
``MalformedCompact``, and a driver fed arbitrary or edited compact-proposal frames either rebuilds exactly the
signed block, holds the proposal while it asks for batches, ignores it, or disconnects the sender."""

from __future__ import annotations

import struct
from functools import cache

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.property.test_decode_fuzz import edited
from tests.shell.test_batches import PARAMS, leader_and_follower, sent
from tests.shell.test_consensus_driver import Harness, make_node
from trellis.core.crypto.suite import ED25519
from trellis.core.ledger.tx import tx_hash
from trellis.node.batches import BatchStore, MalformedCompact, batch_digest, resolve_refs, unpack_refs
from trellis.node.wire import INLINE, BatchMsg, BatchRequestMsg, CompactProposalMsg, encode_msg

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HELD = [[b"a", b"bb", b"ccc"], [b"d"], []]


def held_store() -> tuple[BatchStore, list[bytes]]:
    store = BatchStore()
    digests = []
    for txs in HELD:
        d = batch_digest(ED25519, txs)
        store.add(d, txs, [tx_hash(ED25519, t) for t in txs])
        digests.append(d)
    return store, digests


@st.composite
def flat_refs(draw: st.DrawFn) -> bytes:
    pair = st.tuples(
        st.one_of(st.integers(0, 4), st.just(INLINE), st.integers(0, 0xFFFF)),
        st.one_of(st.integers(0, 4), st.integers(0, 0xFFFF)),
    )
    pairs = draw(st.lists(pair, max_size=8))
    refs = b"".join(struct.pack(">2H", a, b) for a, b in pairs)
    if draw(st.booleans()):
        refs += draw(st.binary(max_size=3))  # a torn reference
    return refs


@given(
    picks=st.lists(st.integers(0, 3), max_size=4),
    refs=flat_refs(),
    inline=st.lists(st.binary(max_size=8), max_size=4),
    tx_count=st.integers(0, 10),
)
@FUZZ
def test_the_reference_decoder_raises_only_malformed_compact(
    picks: list[int], refs: bytes, inline: list[bytes], tx_count: int
) -> None:
    store, digests = held_store()
    batches = [digests[i] if i < len(digests) else b"\x05" * 32 for i in picks]
    try:
        pairs = unpack_refs(batches, refs, len(inline), tx_count)
    except MalformedCompact:
        return
    assert len(pairs) == tx_count
    if any(d not in store for d in batches):
        return
    try:
        raws, hashes = resolve_refs(ED25519, store, batches, pairs, inline)
    except MalformedCompact:
        return
    assert len(raws) == len(hashes) == tx_count
    assert hashes == [tx_hash(ED25519, r) for r in raws]


@cache
def _leader_frames() -> tuple[CompactProposalMsg, list[BatchMsg], object]:
    leader, _ = leader_and_follower()
    (compact,) = sent(leader, CompactProposalMsg)
    return compact, sent(leader, BatchMsg), leader.driver.state.proposals[0]


def _follower() -> Harness:
    _, batches, _ = _leader_frames()
    follower = make_node(PARAMS, signer=None)
    follower.driver.start()
    for b in batches:
        follower.frame(b)
    return follower


def _judge(follower: Harness) -> None:
    """Whatever arrived: rebuilt exactly, held with a request out, ignored, or the sender disconnected."""
    _, _, original = _leader_frames()
    got = follower.driver.state.proposals.get(0)
    if got is not None:
        assert got.block.header == original.block.header  # type: ignore[attr-defined]
    for _peer, req in follower.net.sent:
        if isinstance(req, BatchRequestMsg):
            assert req.digests
    assert len(follower.driver._held) <= 8


@given(data=st.data())
@FUZZ
def test_an_edited_compact_proposal_frame_never_crashes_the_follower(data: st.DataObject) -> None:
    compact, _, _ = _leader_frames()
    follower = _follower()
    follower.driver.on_frame("peer-1", data.draw(edited(encode_msg(compact))))
    _judge(follower)


@given(
    refs=flat_refs(),
    inline=st.lists(st.binary(max_size=300), max_size=3),
    extra=st.lists(st.binary(min_size=32, max_size=32), max_size=2),
    keep=st.booleans(),
    tx_count=st.integers(0, 4),
)
@FUZZ
def test_arbitrary_references_never_crash_the_follower(
    refs: bytes, inline: list[bytes], extra: list[bytes], keep: bool, tx_count: int
) -> None:
    compact, _, _ = _leader_frames()
    follower = _follower()
    header = msgspec.structs.replace(compact.block_header, tx_count=tx_count)
    bad = msgspec.structs.replace(
        compact,
        block_header=header,
        batches=(compact.batches if keep else []) + extra,
        refs=refs,
        inline=inline,
    )
    follower.frame(bad)
    _judge(follower)
    # The block header changed, so its id no longer matches the signed proposal unless tx_count did not change.
    if header != compact.block_header:
        assert follower.net.disconnects


@given(frame=st.binary(max_size=300))
@FUZZ
def test_random_bytes_never_crash_the_follower(frame: bytes) -> None:
    follower = _follower()
    follower.driver.on_frame("peer-1", frame)
    _judge(follower)
