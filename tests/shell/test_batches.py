"""Batch dissemination (ADR 0012): the bounded batch store, compact proposals (encode, decode, rebuild), fetching
missing batches, and peers that send malformed compact proposals."""

from __future__ import annotations

import gc
import random
import struct
import tracemalloc
from collections.abc import Callable

import msgspec
import pytest

from trellis.abci import CheckedTx
from trellis.app.application import TrellisApp
from trellis.core.codec import decode, encode
from trellis.core.consensus.machine import proposer_of
from trellis.core.crypto.suite import ED25519, address_of
from trellis.core.execution.block import ExecutedBlock
from trellis.core.ledger.block import Block, block_hash
from trellis.core.ledger.tx import tx_hash
from trellis.core.ledger.votes import SignedProposalHeader, proposal_signing_bytes
from trellis.node.batches import (
    BATCH_DOMAIN,
    TX_OVERHEAD_BYTES,
    BatchStore,
    MalformedCompact,
    batch_digest,
    compact_refs,
    resolve_refs,
    unpack_refs,
)
from trellis.node.consensus_driver import (
    MAX_BODIES_PER_PROPOSAL,
    MAX_HELD_PER_HEIGHT,
    MAX_HELD_PER_PROPOSER,
    MAX_RELAYED_PER_ROUND,
)
from trellis.node.wire import (
    INLINE,
    BatchMsg,
    BatchRequestMsg,
    CompactProposalMsg,
    ProposalHeaderMsg,
    StatusMsg,
    decode_msg,
    encode_msg,
)
from trellis.storage.chain_store import ChainStore
from trellis.storage.kv import MemoryStore

from .test_consensus_driver import GENESIS_MS, TIMEOUTS, VALIDATORS, Harness, kv_tx, make_node, make_params, submit
from .test_verifier import CountingVerifier

PARAMS = make_params(VALIDATORS)


def raw_batch(tag: bytes, n: int, size: int = 10) -> list[bytes]:
    return [tag + bytes([i]) * size for i in range(n)]


def stored(store: BatchStore, txs: list[bytes]) -> bytes:
    digest = batch_digest(ED25519, txs)
    store.add(digest, txs, [tx_hash(ED25519, t) for t in txs])
    return digest


# -- the batch store ------------------------------------------------------------------------------------------
def test_a_batch_digest_is_domain_separated_and_depends_on_order() -> None:
    txs = [b"a", b"b"]
    assert batch_digest(ED25519, txs) == ED25519.tagged_hash(BATCH_DOMAIN, encode(txs))
    assert batch_digest(ED25519, txs) != batch_digest(ED25519, txs[::-1])
    assert batch_digest(ED25519, txs) != tx_hash(ED25519, encode(txs))


def test_the_store_finds_a_batch_by_digest_and_a_transaction_by_hash() -> None:
    store = BatchStore()
    txs = raw_batch(b"x", 3)
    digest = stored(store, txs)
    b = store.get(digest)
    assert b is not None and b.txs == txs
    assert store.locate(tx_hash(ED25519, txs[2])) == (digest, 2)
    assert store.locate(b"\x00" * 32) is None
    assert not store.add(digest, txs, [tx_hash(ED25519, t) for t in txs])  # already held


def test_the_store_evicts_the_oldest_batches_beyond_its_count() -> None:
    store = BatchStore(max_batches=2)
    first = stored(store, raw_batch(b"a", 2))
    second = stored(store, raw_batch(b"b", 2))
    third = stored(store, raw_batch(b"c", 2))
    assert first not in store and second in store and third in store
    assert store.locate(tx_hash(ED25519, raw_batch(b"a", 2)[0])) is None
    assert store.evicted == 1


def test_the_store_stays_within_its_byte_bound() -> None:
    per_batch = 4 * (11 + TX_OVERHEAD_BYTES)
    store = BatchStore(max_bytes=3 * per_batch)
    for i in range(10):
        stored(store, raw_batch(bytes([i]), 4))
        assert store.size_bytes <= store.max_bytes
    assert len(store) == 3


def stored_from(store: BatchStore, txs: list[bytes], source: str | None) -> bytes:
    digest = batch_digest(ED25519, txs)
    store.add(digest, txs, [tx_hash(ED25519, t) for t in txs], source=source)
    return digest


def test_a_peer_beyond_its_share_loses_its_own_oldest_batches_not_others() -> None:
    per_batch = 4 * (11 + TX_OVERHEAD_BYTES)
    store = BatchStore(max_bytes=6 * per_batch, max_source_bytes=2 * per_batch)
    own = stored_from(store, raw_batch(b"o", 4), None)
    honest = stored_from(store, raw_batch(b"h", 4), "honest")
    junk = [stored_from(store, raw_batch(bytes([i]), 4), "junk") for i in range(20)]
    assert own in store and honest in store
    assert [d in store for d in junk] == [False] * 18 + [True] * 2
    assert store.source_bytes("junk") == 2 * per_batch <= store.max_source_bytes
    assert store.size_bytes <= store.max_bytes


def test_a_peer_whose_batches_are_all_gone_is_forgotten() -> None:
    store = BatchStore(retain_heights=0)
    txs = raw_batch(b"p", 2)
    stored_from(store, txs, "peer")
    store.note_committed(1, [tx_hash(ED25519, t) for t in txs])
    assert len(store) == 0 and store.source_bytes("peer") == 0
    assert store._by_source == {} and store._source_bytes == {}


def test_a_batch_larger_than_a_peers_share_is_refused_from_that_peer() -> None:
    store = BatchStore(max_bytes=10_000, max_source_bytes=1000)
    txs = raw_batch(b"big", 4, size=300)
    assert not store.add(batch_digest(ED25519, txs), txs, [tx_hash(ED25519, t) for t in txs], source="peer")
    assert store.add(batch_digest(ED25519, txs), txs, [tx_hash(ED25519, t) for t in txs])  # our own: fits the store


def test_batches_from_a_peer_are_kept_under_that_peer() -> None:
    leader, follower = leader_and_follower()
    (batch,) = sent(leader, BatchMsg)
    follower.frame(batch, peer="peer-7")
    assert follower.driver.batches.source_bytes("peer-7") > 0


def test_a_batch_larger_than_the_whole_store_is_refused() -> None:
    store = BatchStore(max_bytes=100)
    txs = raw_batch(b"big", 1, size=200)
    assert not store.add(batch_digest(ED25519, txs), txs, [tx_hash(ED25519, txs[0])])
    assert len(store) == 0


def test_a_batch_whose_transactions_all_committed_is_dropped_a_few_heights_later() -> None:
    store = BatchStore(retain_heights=2)
    done, half = raw_batch(b"d", 2), raw_batch(b"h", 2)
    d_done, d_half = stored(store, done), stored(store, half)
    store.note_committed(5, [tx_hash(ED25519, t) for t in done] + [tx_hash(ED25519, half[0])])
    store.note_committed(6, [])
    assert d_done in store
    store.note_committed(7, [])
    assert d_done not in store
    assert d_half in store  # one of its transactions is still pending


# -- references -------------------------------------------------------------------------------------------------
def test_compact_references_rebuild_the_same_transactions_in_order() -> None:
    store = BatchStore()
    a, b = raw_batch(b"a", 3), raw_batch(b"b", 2)
    stored(store, a)
    stored(store, b)
    block = [b[1], a[0], b"loose-1", a[2], b"loose-2", b[0]]
    hashes = [tx_hash(ED25519, t) for t in block]
    c = compact_refs(store, hashes, block)
    assert c.inline == [b"loose-1", b"loose-2"]
    assert len(c.batches) == 2
    assert c.referenced_bytes == sum(len(t) for t in block) - len(b"loose-1") - len(b"loose-2")
    pairs = unpack_refs(c.batches, c.refs, len(c.inline), len(block))
    assert resolve_refs(ED25519, store, c.batches, pairs, c.inline) == (block, hashes)


@pytest.mark.parametrize(
    ("batches", "flat", "inline", "count", "why"),
    [
        ([b"\x01" * 32], [0, 0], 0, 2, "reference bytes"),
        ([b"\x01" * 32], [1, 0], 0, 1, "out of range"),
        ([b"\x01" * 32, b"\x01" * 32], [0, 0, 1, 0], 0, 2, "twice"),
        ([b"\x01" * 32, b"\x02" * 32], [0, 0], 0, 1, "never referenced"),
        ([], [INLINE, 0], 2, 1, "inline"),
    ],
)
def test_malformed_references_are_refused(
    batches: list[bytes], flat: list[int], inline: int, count: int, why: str
) -> None:
    refs = struct.pack(f">{len(flat)}H", *flat)
    with pytest.raises(MalformedCompact, match=why):
        unpack_refs(batches, refs, inline, count)


def test_a_position_beyond_its_batch_is_refused() -> None:
    store = BatchStore()
    digest = stored(store, raw_batch(b"a", 2))
    pairs = unpack_refs([digest], struct.pack(">2H", 0, 2), 0, 1)
    with pytest.raises(MalformedCompact, match="beyond"):
        resolve_refs(ED25519, store, [digest], pairs, [])


# -- the driver: a leader and a follower ------------------------------------------------------------------------
def leader_and_follower() -> tuple[Harness, Harness]:
    """Our validator proposes height 1 round 0 with one client transaction; the follower (not voting) has seen
    none of its frames yet."""
    ours = next(s for s in VALIDATORS if proposer_of(make_node(PARAMS).driver.state, 1, 0) == _addr(s))
    leader = make_node(PARAMS, signer=ours)
    leader.driver.start()
    leader.timers.advance(TIMEOUTS.commit_ms)
    submit(leader, kv_tx(0))
    follower = make_node(PARAMS, signer=None)
    follower.driver.start()
    return leader, follower


def _addr(s: object) -> bytes:
    return address_of(ED25519, s.public_key)  # type: ignore[attr-defined]


def sent(node: Harness, kind: type) -> list:  # type: ignore[type-arg]
    return node.net.broadcast_of(kind)


def test_the_leader_flushes_its_batch_before_proposing_and_the_proposal_references_it() -> None:
    leader, _ = leader_and_follower()
    kinds = [type(m) for m in leader.net.broadcasts if not isinstance(m, StatusMsg)]
    assert kinds.index(BatchMsg) < kinds.index(CompactProposalMsg)
    (msg,) = sent(leader, CompactProposalMsg)
    (batch,) = sent(leader, BatchMsg)
    assert msg.batches == [batch_digest(ED25519, batch.txs)] and msg.inline == []
    assert leader.driver.stats.bytes_by_reference == len(batch.txs[0])


def test_a_follower_rebuilds_the_block_from_the_batch_it_holds() -> None:
    leader, follower = leader_and_follower()
    for m in sent(leader, BatchMsg) + sent(leader, CompactProposalMsg):
        follower.frame(m)
    sp = follower.driver.state.proposals[0]
    assert sp == leader.driver.state.proposals[0]
    assert follower.net.sent_to("peer-1", BatchRequestMsg) == []
    assert follower.driver.stats.proposals_rebuilt == 1
    assert follower.net.disconnects == []


def test_a_follower_missing_a_batch_fetches_it_from_the_sender_then_rebuilds() -> None:
    leader, follower = leader_and_follower()
    (compact,) = sent(leader, CompactProposalMsg)
    follower.frame(compact)
    assert 0 not in follower.driver.state.proposals
    (req,) = follower.net.sent_to("peer-1", BatchRequestMsg)
    assert req.digests == compact.batches
    # The leader answers from its store.
    leader.frame(req, peer="follower")
    (answer,) = leader.net.sent_to("follower", BatchMsg)
    follower.frame(answer)
    assert follower.driver.state.proposals[0] == leader.driver.state.proposals[0]
    assert follower.driver.stats.batches_fetched == 1


def test_a_re_sent_compact_proposal_asks_again_for_what_is_still_missing() -> None:
    leader, follower = leader_and_follower()
    (compact,) = sent(leader, CompactProposalMsg)
    follower.frame(compact)
    follower.frame(compact)  # at once: not asked again
    assert len(follower.net.sent_to("peer-1", BatchRequestMsg)) == 1
    follower.timers.advance(300)
    follower.frame(compact, peer="peer-2")
    assert len(follower.net.sent_to("peer-2", BatchRequestMsg)) == 1


def test_a_request_for_unknown_digests_gets_nothing() -> None:
    leader, _ = leader_and_follower()
    leader.frame(BatchRequestMsg(digests=[b"\x07" * 32]), peer="asker")
    assert leader.net.sent_to("asker", BatchMsg) == []
    assert leader.net.disconnects == []


def test_repeated_requests_for_a_batch_are_answered_once_per_half_gossip_interval() -> None:
    leader, _ = leader_and_follower()
    (batch,) = sent(leader, BatchMsg)
    digest = batch_digest(ED25519, batch.txs)
    for _ in range(5):
        leader.frame(BatchRequestMsg(digests=[digest, digest]), peer="asker")
    assert len(leader.net.sent_to("asker", BatchMsg)) == 1
    assert leader.driver.stats.batch_requests_throttled == 4
    leader.frame(BatchRequestMsg(digests=[digest]), peer="another")  # another peer is served at once
    assert len(leader.net.sent_to("another", BatchMsg)) == 1
    leader.timers.advance(leader.driver.gossip_interval_ms // 2)
    leader.frame(BatchRequestMsg(digests=[digest]), peer="asker")
    assert len(leader.net.sent_to("asker", BatchMsg)) == 2


def test_a_transaction_in_no_known_batch_travels_inline() -> None:
    leader, follower = leader_and_follower()
    (compact,) = sent(leader, CompactProposalMsg)
    leader.driver.batches = BatchStore()  # the leader forgot its batches (evicted)
    leader.timers.advance(leader.driver.gossip_interval_ms)  # the gossip tick re-sends the proposal
    resent = [m for m in sent(leader, CompactProposalMsg) if m != compact]
    assert resent and resent[-1].batches == [] and len(resent[-1].inline) == 1
    follower.frame(resent[-1])
    assert follower.driver.state.proposals[0] == leader.driver.state.proposals[0]


def _tamper(msg: CompactProposalMsg, **changes: object) -> CompactProposalMsg:
    return msgspec.structs.replace(msg, **changes)


MALFORMED: dict[str, Callable[[CompactProposalMsg], dict[str, object]]] = {
    "batch index out of range": lambda c: {"refs": struct.pack(">2H", 5, 0)},
    "fewer references than transactions": lambda c: {"refs": b""},
    "a digest listed but never referenced": lambda c: {"batches": [*c.batches, b"\x09" * 32]},
    "a digest listed twice": lambda c: {"batches": [*c.batches, *c.batches]},
    "an inline transaction no reference uses": lambda c: {"inline": [b"stray"]},
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_compact_proposal_disconnects_its_sender(case: str) -> None:
    leader, follower = leader_and_follower()
    (compact,) = sent(leader, CompactProposalMsg)
    for m in sent(leader, BatchMsg):
        follower.frame(m)
    follower.frame(_tamper(compact, **MALFORMED[case](compact)))
    ((peer, reason),) = follower.net.disconnects
    assert peer == "peer-1" and reason.startswith("invalid message")
    assert 0 not in follower.driver.state.proposals


def test_a_compact_proposal_whose_header_is_not_the_signed_block_disconnects_its_sender() -> None:
    leader, follower = leader_and_follower()
    (compact,) = sent(leader, CompactProposalMsg)
    other_header = msgspec.structs.replace(compact.block_header, time_ms=1)
    follower.frame(_tamper(compact, block_header=other_header))
    ((_, reason),) = follower.net.disconnects
    assert "header" in reason


def test_a_referenced_transaction_that_does_not_decode_disconnects_the_sender() -> None:
    leader, follower = leader_and_follower()
    (compact,) = sent(leader, CompactProposalMsg)
    junk = _tamper(compact, batches=[], refs=struct.pack(">2H", INLINE, 0), inline=[b"\xc1junk"])
    follower.frame(junk)
    ((_, reason),) = follower.net.disconnects
    assert "does not decode" in reason


def test_a_compact_proposal_carrying_other_transactions_than_its_header_disconnects_the_sender() -> None:
    leader, follower = leader_and_follower()
    (compact,) = sent(leader, CompactProposalMsg)
    # The proposer's genuine signed header and block header, with a valid transaction that is not the block's.
    swapped = _tamper(compact, batches=[], refs=struct.pack(">2H", INLINE, 0), inline=[kv_tx(0, b"other")])
    follower.frame(swapped)
    ((peer, reason),) = follower.net.disconnects
    assert peer == "peer-1" and "tx_root" in reason
    assert 0 not in follower.driver.state.proposals
    # The genuine proposal still takes the round's slot afterwards.
    for m in sent(leader, BatchMsg):
        follower.frame(m, peer="peer-2")
    follower.frame(compact, peer="peer-2")
    assert follower.driver.state.proposals[0] == leader.driver.state.proposals[0]


def test_compact_messages_round_trip_through_the_canonical_decoder() -> None:
    leader, _ = leader_and_follower()
    for m in leader.net.broadcasts:
        assert decode_msg(encode_msg(m), 1 << 20) == m


def _signed_header(compact: CompactProposalMsg, round_: int, height: int = 1) -> SignedProposalHeader:
    """The proposal of ``compact`` moved to ``(height, round_)``, signed by that round's proposer."""
    p = msgspec.structs.replace(compact.header.proposal, round=round_, height=height)
    signers = {_addr(s): s for s in VALIDATORS}
    proposer = proposer_of(make_node(PARAMS).driver.state, height, round_)
    return SignedProposalHeader(
        proposal=p, proposer=proposer, signature=signers[proposer].sign(proposal_signing_bytes(p))
    )


def test_held_proposals_are_bounded_per_proposer() -> None:
    leader, follower = leader_and_follower()
    (compact,) = sent(leader, CompactProposalMsg)
    # Properly signed proposals of many rounds of height 1, each missing its batch: only a few per proposer are
    # held (two validators share the rounds).
    for r in range(20):
        follower.frame(_tamper(compact, header=_signed_header(compact, r)))
    held = follower.driver._held
    assert len(held) == 2 * MAX_HELD_PER_PROPOSER
    assert {k[2] for k in held} == {_addr(s) for s in VALIDATORS}


def test_held_proposals_are_bounded_per_height() -> None:
    leader, follower = leader_and_follower()
    (compact,) = sent(leader, CompactProposalMsg)
    follower.driver.state.order = [bytes([i]) * 20 for i in range(20)]  # many validators take the rounds...
    follower.driver._worth_holding = lambda msg: True  # type: ignore[method-assign]  # ...and sign them
    for r in range(20):
        p = msgspec.structs.replace(compact.header.proposal, round=r)
        header = SignedProposalHeader(proposal=p, proposer=bytes([r]) * 20, signature=b"\x00" * 64)
        follower.frame(_tamper(compact, header=header))
    assert len(follower.driver._held) == MAX_HELD_PER_HEIGHT


def _ghost_body(compact: CompactProposalMsg, tag: bytes = b"ghost") -> CompactProposalMsg:
    """The genuine signed header and block header with every transaction referenced in a batch nobody has."""
    count = compact.block_header.tx_count
    refs = b"".join(struct.pack(">2H", 0, i) for i in range(count))
    return _tamper(compact, batches=[ED25519.tagged_hash(b"ghost", tag)], refs=refs, inline=[])


def test_a_relayed_copy_referencing_a_missing_batch_does_not_keep_out_the_genuine_proposal() -> None:
    leader, follower = leader_and_follower()
    (compact,) = sent(leader, CompactProposalMsg)
    for m in sent(leader, BatchMsg):
        follower.frame(m)
    follower.frame(_ghost_body(compact), peer="relay")  # first: held while its batch is asked for
    assert 0 not in follower.driver.state.proposals
    follower.frame(compact)  # the genuine body resolves at once
    assert follower.driver.state.proposals[0] == leader.driver.state.proposals[0]
    assert follower.driver._held == {}
    assert follower.net.disconnects == []


def test_the_body_that_resolves_and_matches_the_header_is_taken_whatever_was_held_first() -> None:
    leader, follower = leader_and_follower()
    (compact,) = sent(leader, CompactProposalMsg)
    (batch,) = sent(leader, BatchMsg)
    wrong = raw_batch(b"w", 1)
    wrong_body = _tamper(compact, batches=[batch_digest(ED25519, wrong)])
    follower.frame(_ghost_body(compact), peer="relay-1")
    follower.frame(wrong_body, peer="relay-2")
    follower.frame(compact)  # its batch is missing too: three bodies of one signed proposal wait
    (bodies,) = follower.driver._held.values()
    assert len(bodies) == 3
    follower.frame(BatchMsg(txs=wrong), peer="relay-2")  # resolves relay-2's body: not the header's tx_root
    assert 0 not in follower.driver.state.proposals
    assert [p for p, _ in follower.net.disconnects] == ["relay-2"]
    follower.frame(batch)
    assert follower.driver.state.proposals[0] == leader.driver.state.proposals[0]
    assert follower.driver._held == {}


def test_bodies_held_per_proposal_are_bounded_and_one_per_peer() -> None:
    leader, follower = leader_and_follower()
    (compact,) = sent(leader, CompactProposalMsg)
    for i in range(3):  # one peer's newer body replaces its older one
        follower.frame(_ghost_body(compact, bytes([i])), peer="relay")
    (bodies,) = follower.driver._held.values()
    assert len(bodies) == 1 and bodies[0].msg == _ghost_body(compact, b"\x02")
    for i in range(10):
        follower.frame(_ghost_body(compact, bytes([i])), peer=f"relay-{i}")
    (bodies,) = follower.driver._held.values()
    assert len(bodies) == MAX_BODIES_PER_PROPOSAL


def test_a_forged_compact_proposal_is_not_held() -> None:
    leader, follower = leader_and_follower()
    (compact,) = sent(leader, CompactProposalMsg)
    forged = msgspec.structs.replace(compact.header, signature=b"\x00" * 64)
    follower.frame(_tamper(compact, header=forged))
    assert follower.driver._held == {}
    assert follower.net.sent_to("peer-1", BatchRequestMsg) == []
    follower.frame(compact)
    assert len(follower.driver._held) == 1


# -- process_proposal with the mempool's checked transactions -------------------------------------------------
def built_block() -> tuple[list[CheckedTx], ExecutedBlock]:
    builder = TrellisApp(PARAMS, ChainStore(MemoryStore()))
    checked = [builder.check_tx(kv_tx(n)) for n in range(3)]
    executed = builder.prepare_proposal(checked, GENESIS_MS + 20_000, _addr(VALIDATORS[0]))
    return checked, executed


def test_known_checked_transactions_skip_the_signature_checks_and_give_the_same_result() -> None:
    checked, executed = built_block()
    block = executed.block
    full_v, known_v = CountingVerifier(), CountingVerifier()
    full = TrellisApp(PARAMS, ChainStore(MemoryStore()), verifier=full_v).process_proposal(block)
    known: list[CheckedTx | None] = [
        CheckedTx(tx=block.txs[i], raw=c.raw, hash=c.hash, sender=c.sender) for i, c in enumerate(checked)
    ]
    known[1] = None
    fast = TrellisApp(PARAMS, ChainStore(MemoryStore()), verifier=known_v).process_proposal(block, (), known)
    assert (full_v.seen, known_v.seen) == (3, 1)
    assert fast.block_id == full.block_id == block_hash(ED25519, block.header)
    assert fast.output.tx_hashes == full.output.tx_hashes


def test_a_known_entry_for_a_different_transaction_object_is_checked_in_full() -> None:
    checked, executed = built_block()
    block = decode(encode(executed.block), Block)  # the same values, as a peer's bytes decode to
    v = CountingVerifier()
    # Equal values but not the block's own objects: nothing is taken on trust.
    TrellisApp(PARAMS, ChainStore(MemoryStore()), verifier=v).process_proposal(block, (), checked)
    assert v.seen == 3


# -- relaying signed headers ------------------------------------------------------------------------------------
def _headers_relayed(node: Harness) -> list[ProposalHeaderMsg]:
    return sent(node, ProposalHeaderMsg)


def test_junk_proposals_for_the_current_height_are_neither_relayed_nor_remembered() -> None:
    leader, follower = leader_and_follower()
    (compact,) = sent(leader, CompactProposalMsg)
    for i in range(200):
        p = msgspec.structs.replace(compact.header.proposal, block_hash=bytes([i % 256]) * 32, round=i % 5)
        forged = SignedProposalHeader(proposal=p, proposer=compact.header.proposer, signature=bytes(64))
        follower.frame(_tamper(compact, header=forged))
    assert _headers_relayed(follower) == []
    assert follower.driver._relayed == set()
    follower.frame(compact)  # the genuine one is relayed, once
    follower.frame(compact)
    assert [m.header for m in _headers_relayed(follower)] == [compact.header]


def test_a_proposer_signing_many_blocks_for_one_round_has_only_two_of_them_relayed() -> None:
    leader, follower = leader_and_follower()
    (compact,) = sent(leader, CompactProposalMsg)
    signer = next(s for s in VALIDATORS if _addr(s) == compact.header.proposer)
    for i in range(6):
        p = msgspec.structs.replace(compact.header.proposal, block_hash=bytes([i]) * 32)
        header = SignedProposalHeader(
            proposal=p, proposer=_addr(signer), signature=signer.sign(proposal_signing_bytes(p))
        )
        follower.frame(_tamper(compact, header=header))
    assert len(_headers_relayed(follower)) == MAX_RELAYED_PER_ROUND


# -- memory under junk from a peer ------------------------------------------------------------------------------
def test_junk_batches_from_a_peer_hold_no_more_memory_than_the_batch_store_even_without_the_cyclic_collector() -> None:
    """A Byzantine peer's batches of transactions that do not decode or carry bad signatures: what stays alive
    is the (bounded) batch store, nothing per batch beyond it, with the cyclic collector off (a node runs it
    rarely). Refusals kept as caught exceptions held each whole batch in a reference cycle: ~1.7 MB here per
    0.4 MB batch, 35 MB after 20."""
    node = make_node(PARAMS, signer=None)
    node.driver.batches = BatchStore(max_bytes=2 * 1024 * 1024)
    node.driver.start()
    rng = random.Random(5)
    good = kv_tx(0)
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for i in range(20):
            if i % 2:
                txs = [rng.randbytes(390) for _ in range(1000)]  # not transactions at all
            else:
                txs = [good[:-64] + rng.randbytes(64) for _ in range(1000)]  # well formed, bad signatures
            node.frame(BatchMsg(txs=txs))
        held = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
        if enabled:
            gc.enable()
    assert len(node.mempool) == 0 and node.net.disconnects == []
    assert held < 2 * node.driver.batches.max_bytes, f"{held / 1e6:.1f} MB held after 20 junk batches"
