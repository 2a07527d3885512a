"""The relayer's pure rules (trellis/relayer/plan.py) and its client-update planning (trellis/relayer/updates.py):
batching by encoded size and item count, item codes (duplicates count as done), what to do about a pending packet
(recv / ack / timeout / wait at the exact timeout boundaries), shards, and the bisection heights chosen when a skip
lacks trust (against the light-client vector chain, whose commit 12 lacks trust from 1).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools

import pytest

from tests.fixtures.interchain_clients import LC, host, lc_create, submit
from tests.fixtures.sim_endpoint import SimNet
from trellis.core.codec import decode, encode
from trellis.core.execution.results import ResultCode
from trellis.core.ledger.block import Header
from trellis.core.lightclient import LightBlock
from trellis.core.modules.interchain.messages import (
    HeaderUpdate,
    Packet,
    RecvPacket,
    Relay,
    Timeout,
    UpdateClient,
)
from trellis.keys.signer import MemorySigner
from trellis.relayer import plan
from trellis.relayer.endpoint import ChainHead, EndpointError
from trellis.relayer.submit import signed_size
from trellis.relayer.updates import UpdateError, plan_update, read_client

PK = MemorySigner(hashlib.sha256(b"relayer").digest()).public_key


def pkt(seq: int, *, size: int = 100, th: int = 0, tt: int = 0) -> Packet:
    return Packet(
        sequence=seq,
        source_port="transfer",
        source_channel="channel-0",
        dest_port="transfer",
        dest_channel="channel-1",
        data=b"x" * size,
        timeout_height=th if th or tt else 1000,
        timeout_time_ms=tt,
    )


def recv(seq: int, proof_size: int = 1500, size: int = 100) -> RecvPacket:
    return RecvPacket(packet=pkt(seq, size=size), proof=b"p" * proof_size)


def update(size: int = 3000) -> UpdateClient:
    return UpdateClient(
        client_id="client-0",
        update=HeaderUpdate(
            trusted_height=1,
            header=b"h" * size,
            commit=b"c" * 500,
            validators=b"v" * 300,
            trusted_validators=b"t" * 300,
        ),
    )


def size_of(p: UpdateClient | Relay) -> int:
    return signed_size("chain-b", PK, p)


# -- batching ----------------------------------------------------------------------------------------------------
def test_batches_respect_the_byte_limit_exactly_and_keep_the_order() -> None:
    items = [recv(i) for i in range(1, 101)]
    out = plan.batch_items(update(), items, size_of, max_bytes=65_536, max_items=256)
    relays = [p for p in out.payloads if isinstance(p, Relay)]
    assert out.oversized == [] and len(relays) == len(out.payloads) > 1
    assert [it.packet.sequence for r in relays for it in r.items] == list(range(1, 101))
    for r in relays:
        assert size_of(r) <= 65_536
    # Greedy: each batch but the last is full (the next item would not have fitted).
    for r, nxt in itertools.pairwise(relays):
        assert size_of(Relay(update=r.update, items=[*r.items, nxt.items[0]])) > 65_536
    # The update rides in the first relay only.
    assert relays[0].update == update() and all(r.update is None for r in relays[1:])


def test_batches_respect_the_item_limit() -> None:
    items = [recv(i, proof_size=10, size=1) for i in range(1, 46)]
    out = plan.batch_items(None, items, size_of, max_bytes=65_536, max_items=20)
    assert [len(p.items) for p in out.payloads if isinstance(p, Relay)] == [20, 20, 5]


def test_an_update_that_does_not_fit_beside_an_item_goes_alone_first() -> None:
    items = [recv(1, proof_size=33_000), recv(2, proof_size=33_000)]
    big = update(size=34_000)
    out = plan.batch_items(big, items, size_of, max_bytes=65_536)
    assert out.payloads[0] == big
    assert [type(p).__name__ for p in out.payloads] == ["UpdateClient", "Relay", "Relay"]
    assert all(size_of(p) <= 65_536 for p in out.payloads)


def test_an_item_that_fits_no_transaction_is_reported_not_sent() -> None:
    items = [recv(1), recv(2, proof_size=70_000), recv(3)]
    out = plan.batch_items(None, items, size_of, max_bytes=65_536)
    assert [it.packet.sequence for it in out.oversized] == [2]
    assert [it.packet.sequence for p in out.payloads if isinstance(p, Relay) for it in p.items] == [1, 3]


def test_no_items_is_at_most_the_update() -> None:
    assert plan.batch_items(None, [], size_of, max_bytes=65_536).payloads == []
    assert plan.batch_items(update(), [], size_of, max_bytes=65_536).payloads == [update()]


# -- item codes ----------------------------------------------------------------------------------------------------
def test_duplicate_codes_count_as_done_and_others_as_refused() -> None:
    assert plan.outcome_of_code(0) == plan.OK
    assert plan.outcome_of_code(int(ResultCode.ALREADY_RECEIVED)) == plan.DUPLICATE
    assert plan.outcome_of_code(int(ResultCode.PACKET_NOT_PENDING)) == plan.DUPLICATE
    assert plan.outcome_of_code(int(ResultCode.PACKET_TIMED_OUT)) == plan.TIMED_OUT
    for code in (ResultCode.INVALID_PROOF, ResultCode.TIMEOUT_NOT_DUE, ResultCode.COMMITMENT_MISMATCH, 99):
        assert plan.outcome_of_code(int(code)) == plan.REFUSED


def test_item_codes_come_from_the_item_events_by_index() -> None:
    events = [
        ("interchain.client_updated", {"client_id": "client-0"}),
        ("interchain.recv_packet", {"sequence": "1"}),
        ("interchain.item", {"index": "0", "code": "0", "message": ""}),
        ("interchain.item", {"index": "1", "code": "35", "message": "packet 2 was received already"}),
        ("interchain.item", {"index": "2", "code": "ALREADY_RECEIVED"}),
        ("interchain.relay_deferred", {"from_index": "3"}),
    ]
    assert plan.item_codes(events, 4) == [0, 35, 35, None]
    assert plan.item_messages(events) == {1: "packet 2 was received already"}
    assert plan.parse_code("nonsense") is None


# -- decisions at the boundaries (ADR 0015 section 3) --------------------------------------------------------------
def test_timeout_is_provable_exactly_from_the_timeout_height_or_time() -> None:
    p = pkt(1, th=10)
    assert not plan.timeout_provable(p, 9, 0) and plan.timeout_provable(p, 10, 0)
    q = pkt(1, tt=5_000)
    assert not plan.timeout_provable(q, 1, 4_999) and plan.timeout_provable(q, 1, 5_000)


def test_decide_recv_ack_timeout_wait() -> None:
    p = pkt(1, th=10)
    kw = {"dest_time_ms": 0}
    assert plan.decide(p, received=False, ack_written=False, dest_height=8, **kw) == plan.RECV  # block 9 < 10
    assert plan.decide(p, received=False, ack_written=False, dest_height=9, **kw) == plan.WAIT  # block 10 cannot
    assert plan.decide(p, received=False, ack_written=False, dest_height=10, **kw) == plan.TIMEOUT
    assert plan.decide(p, received=True, ack_written=True, dest_height=10, **kw) == plan.ACK
    assert plan.decide(p, received=True, ack_written=False, dest_height=5, **kw) == plan.SKIP
    q = pkt(1, tt=5_000)
    assert plan.decide(q, received=False, ack_written=False, dest_height=3, dest_time_ms=4_999) == plan.RECV
    assert plan.decide(q, received=False, ack_written=False, dest_height=3, dest_time_ms=5_000) == plan.TIMEOUT


def test_shards_partition_the_sequences() -> None:
    seqs = range(1, 101)
    shards = [{s for s in seqs if plan.in_shard(s, (i, 3))} for i in range(3)]
    assert set().union(*shards) == set(seqs) and sum(len(s) for s in shards) == 100
    assert all(plan.in_shard(s, (0, 1)) for s in seqs)


def test_items_per_receipt_fit_the_event_budget() -> None:
    # An update's event plus three events per item stay within a receipt's MAX_EVENTS (64).
    assert 1 + 3 * plan.ITEMS_PER_RECEIPT <= 63
    t = Timeout(packet=pkt(1), next_seq_recv=0, proof=b"p")
    assert (
        plan.batch_items(None, [t] * 30, size_of, max_bytes=65_536, max_items=plan.ITEMS_PER_RECEIPT).payloads[0].items
        == [t] * plan.ITEMS_PER_RECEIPT
    )  # type: ignore[union-attr]


# -- bisection (updates.plan_update over the light-client vector chain) --------------------------------------------
class LcEndpoint:
    """The vector chain as a source endpoint (light blocks only)."""

    name = "light-client-vectors"

    async def light_block(self, height: int) -> LightBlock:
        if height not in LC.headers:
            raise EndpointError(self.name, f"no block {height}")
        return LightBlock(header=LC.headers[height], commit=LC.commits[height], validators=LC.sets[height])

    async def head(self) -> ChainHead:
        return ChainHead(max(LC.headers), LC.headers[max(LC.headers)].time_ms)


def _height(u: UpdateClient) -> int:
    return decode(u.update.header, Header).height


def test_a_skip_lacking_trust_is_bisected_and_the_chain_accepts_each_step() -> None:
    a = host()
    assert submit(a, lc_create(1)).code == 0
    net = SimNet(a)
    ea = net.endpoint(a)

    async def go() -> list[UpdateClient]:
        view = await read_client(ea, "client-0")
        return await plan_update(LcEndpoint(), view, 12, a.time_ms)  # type: ignore[arg-type]

    ups = asyncio.run(go())
    heights = [_height(u) for u in ups]
    assert len(ups) >= 2 and heights[-1] == 12 and heights == sorted(heights)
    trusted = [1, *heights[:-1]]
    assert [u.update.trusted_height for u in ups] == trusted
    for u, t in zip(ups, trusted, strict=True):
        assert u.update.trusted_validators == encode(LC.sets[t])
        r = submit(a, u)
        assert r.code == 0, r.message
    # The one skip from 1 to 12 is what the chain refuses: bisection was needed.
    direct = UpdateClient(
        client_id="client-0",
        update=HeaderUpdate(
            trusted_height=1,
            header=encode(LC.headers[12]),
            commit=encode(LC.commits[12]),
            validators=encode(LC.sets[12]),
            trusted_validators=encode(LC.sets[1]),
        ),
    )
    b = host()
    assert submit(b, lc_create(1)).code == 0
    assert submit(b, direct).code == ResultCode.INVALID_HEADER


def test_an_adjacent_or_trusted_skip_is_one_update_and_a_current_client_none() -> None:
    a = host()
    assert submit(a, lc_create(1)).code == 0
    ea = SimNet(a).endpoint(a)

    async def go(target: int) -> list[UpdateClient]:
        return await plan_update(LcEndpoint(), await read_client(ea, "client-0"), target, a.time_ms)  # type: ignore[arg-type]

    assert [_height(u) for u in asyncio.run(go(3))] == [3]
    assert asyncio.run(go(1)) == []


def test_a_source_block_other_than_the_clients_is_refused() -> None:
    a = host()
    assert submit(a, lc_create(1)).code == 0
    ea = SimNet(a).endpoint(a)

    class Lying(LcEndpoint):
        async def light_block(self, height: int) -> LightBlock:
            lb = await super().light_block(height)
            if height == 1:  # another block 1 than the one the client verified
                h = LC.headers[1]
                forged = Header(
                    **{f: getattr(h, f) for f in h.__struct_fields__ if f != "time_ms"}, time_ms=h.time_ms + 1
                )
                return LightBlock(header=forged, commit=lb.commit, validators=lb.validators)
            return lb

    async def go() -> None:
        await plan_update(Lying(), await read_client(ea, "client-0"), 3, a.time_ms)  # type: ignore[arg-type]

    with pytest.raises(UpdateError, match="holds"):
        asyncio.run(go())
