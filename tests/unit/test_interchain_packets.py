"""Packets between two in-process chains (ADR 0015 section 3; docs/spec/interchain.md 5): receive, ack, timeout,
timeout on close, the relay batch and send_packet, with every refusal the plan names.

Packets are sent with the test-only ``EchoApp`` (``tests/fixtures/two_chains.py``) on port ``echo``; proofs come from
the real state trees and every message runs through the chains' handlers in real blocks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.fixtures.chain_sim import SimChain
from tests.fixtures.two_chains import (
    EchoApp,
    Path,
    connect,
    echo_key,
    echo_send,
    item_codes,
    not_received_proof,
    packet_apps,
    pending,
    relay_acks,
    relay_packets,
    relay_timeouts,
    update_client,
    update_message,
)
from trellis.core.codec import decode, encode
from trellis.core.execution.results import ResultCode
from trellis.core.ledger.block import Receipt
from trellis.core.modules.interchain.messages import (
    ORDERED,
    UNORDERED,
    Ack,
    Acknowledge,
    ChanCloseConfirm,
    ChanCloseInit,
    Packet,
    RecvPacket,
    Relay,
    RelayItem,
    Timeout,
)
from trellis.core.modules.interchain.state import (
    CLOSED,
    OPEN,
    ack_key,
    channel_key,
    has_receipt,
    packet_key,
    read_ack,
    read_channel,
    read_packet,
    read_seq,
    receipt_key,
    seq_recv_key,
    seq_send_key,
)

ECHO = "echo"


@dataclass
class World:
    a: SimChain
    b: SimChain
    app: EchoApp
    path: Path

    @property
    def ea(self) -> tuple[str, str]:
        return self.path.a.port, self.path.a.channel

    @property
    def eb(self) -> tuple[str, str]:
        return self.path.b.port, self.path.b.channel


def _world(order: int) -> Iterator[World]:
    a = SimChain("chain-a", accounts={"alice": 1000})
    b = SimChain("chain-b", accounts={"alice": 1000})
    app = EchoApp()
    with packet_apps({ECHO: app}):
        path = connect(a, b, order=order, port=ECHO, version=app.version)
        yield World(a, b, app, path)


@pytest.fixture
def w() -> Iterator[World]:
    yield from _world(UNORDERED)


@pytest.fixture
def wo() -> Iterator[World]:
    yield from _world(ORDERED)


def send(w: World, data: bytes = b"hello", *, timeout_height: int = 0, timeout_time_ms: int = 0) -> Packet:
    """Send from ``a``; the stored packet."""
    if timeout_height == 0 and timeout_time_ms == 0:
        timeout_height = 1_000_000
    r = echo_send(w.a, w.path, data, timeout_height=timeout_height, timeout_time_ms=timeout_time_ms)
    assert r.code == 0, r.message
    port, chan = w.ea
    seq = read_seq(w.a.reader(), seq_send_key(port, chan)) - 1
    packet = read_packet(w.a.reader(), port, chan, seq)
    assert packet is not None
    return packet


def recv_item(w: World, packet: Packet, height: int | None = None) -> RecvPacket:
    h = w.a.height if height is None else height
    key = packet_key(packet.source_port, packet.source_channel, packet.sequence)
    return RecvPacket(packet=packet, proof=w.a.prove(key, h))


def relay_to_b(w: World, items: list[RelayItem], *, time_step_ms: int | None = None, name: str = "relayer") -> Receipt:
    """One relay on ``b``, updating its client of ``a`` to ``a``'s tip; the receipt (which must succeed)."""
    update = update_message(w.b, w.a, w.path.b.client_id)
    tx = w.b.sign(name, Relay(update=update, items=items))
    (r,) = w.b.commit_block([tx], time_step_ms)
    assert r.code == 0, r.message
    return r


def relay_to_a(w: World, items: list[RelayItem], *, name: str = "relayer") -> Receipt:
    update = update_message(w.a, w.b, w.path.a.client_id)
    r = w.a.submit(name, Relay(update=update, items=items))
    assert r.code == 0, r.message
    return r


def ack_item(w: World, packet: Packet, ack: Ack | None = None) -> Acknowledge:
    port, chan = w.eb
    stored = read_ack(w.b.reader(), port, chan, packet.sequence)
    return Acknowledge(
        packet=packet, ack=stored if ack is None else ack, proof=w.b.prove(ack_key(port, chan, packet.sequence))
    )


def timeout_item(w: World, packet: Packet, height: int | None = None) -> Timeout:
    h = w.b.height if height is None else height
    next_seq, proof = not_received_proof(w.b, w.path, packet, h)
    return Timeout(packet=packet, next_seq_recv=next_seq, proof=proof)


def events_of(r: Receipt, type_: str) -> list[dict[str, bytes]]:
    return [dict(e.attributes) for e in r.events if e.type == type_]


# -- the round trip ----------------------------------------------------------------------------------------------------
def test_send_recv_ack_round_trip(w: World) -> None:
    packet = send(w, b"hello")
    assert (packet.dest_port, packet.dest_channel) == w.eb
    (r,) = relay_packets(w.a, w.b, w.path)
    assert item_codes(r) == [0]
    assert w.app.received == [("chain-b", 1)]
    port, chan = w.eb
    assert has_receipt(w.b.reader(), port, chan, 1)
    ack = read_ack(w.b.reader(), port, chan, 1)
    assert ack == Ack(code=0, result=b"hello", reason="")
    assert w.b.get(echo_key(chan, 1)) == b"hello"
    (wa,) = events_of(r, "interchain.write_ack")
    assert wa["ack"] == encode(ack) and wa["code"] == b"0"
    assert events_of(r, "interchain.recv_packet")[0]["packet"] == encode(packet)
    (r,) = relay_acks(w.a, w.b, w.path)
    assert item_codes(r) == [0]
    assert w.app.acked == [("chain-a", 1, 0)]
    assert pending(w.a, w.path) == []
    assert read_packet(w.a.reader(), *w.ea, 1) is None


def test_send_packet_event_and_sequences(w: World) -> None:
    r = echo_send(w.a, w.path, b"x", timeout_height=500)
    (ev,) = events_of(r, "interchain.send_packet")
    packet = decode(ev["packet"], Packet)
    assert packet.sequence == 1 and ev["sequence"] == b"1" and ev["timeout_height"] == b"500"
    assert len(ev["packet_id"]) == 32
    assert send(w, b"y").sequence == 2


# -- receive refusals ----------------------------------------------------------------------------------------------
def test_replayed_packet_is_already_received_and_changes_nothing(w: World) -> None:
    packet = send(w)
    item = recv_item(w, packet)
    relay_to_b(w, [item])
    before = dict(w.b.reader()._state)  # type: ignore[attr-defined]
    r = relay_to_b(w, [item])
    assert item_codes(r) == [ResultCode.ALREADY_RECEIVED]
    after = dict(w.b.reader()._state)  # type: ignore[attr-defined]
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    # only the relayer's nonce moved (and nothing of the channel, the receipt or the ack)
    assert all(not k.startswith(b"interchain/") and not k.startswith(b"echo/") for k in changed)
    assert w.app.received == [("chain-b", 1)]


def test_second_relayer_in_the_same_block_is_refused(w: World) -> None:
    packet = send(w)
    update = update_message(w.b, w.a, w.path.b.client_id)
    one = w.b.sign("relayer", Relay(update=update, items=[recv_item(w, packet)]))
    two = w.b.sign("relayer-2", Relay(update=update, items=[recv_item(w, packet)]))
    r1, r2 = w.b.commit_block([one, two])
    assert r1.code == 0 and r2.code == 0  # the second update is a duplicate: a no-op success
    assert item_codes(r1) == [0]
    assert item_codes(r2) == [ResultCode.ALREADY_RECEIVED]
    assert w.app.received == [("chain-b", 1)]


def test_ordered_out_of_order_then_in_order(wo: World) -> None:
    w = wo
    p1, p2 = send(w, b"one"), send(w, b"two")
    r = relay_to_b(w, [recv_item(w, p2)])
    assert item_codes(r) == [ResultCode.OUT_OF_ORDER]
    r = relay_to_b(w, [recv_item(w, p1), recv_item(w, p2), recv_item(w, p1)])
    assert item_codes(r) == [0, 0, ResultCode.ALREADY_RECEIVED]
    assert read_seq(w.b.reader(), seq_recv_key(*w.eb)) == 3
    assert w.app.received == [("chain-b", 1), ("chain-b", 2)]
    # acks come back in order only
    r = relay_to_a(w, [ack_item(w, p2), ack_item(w, p1), ack_item(w, p2)])
    assert item_codes(r) == [ResultCode.OUT_OF_ORDER, 0, 0]


@pytest.mark.parametrize(
    "field,value",
    [
        ("data", b"HELLO"),
        ("timeout_height", 999_999),
        ("timeout_time_ms", 10**15),
        ("sequence", 2),
    ],
)
def test_mutated_packet_fails_its_proof(w: World, field: str, value: object) -> None:
    packet = send(w, b"hello")
    send(w, b"other")  # a real packet 2 exists, under another value
    fields = {f: getattr(packet, f) for f in packet.__struct_fields__}
    fields[field] = value
    forged = Packet(**fields)  # type: ignore[arg-type]
    item = RecvPacket(packet=forged, proof=recv_item(w, packet).proof)
    r = relay_to_b(w, [item])
    assert item_codes(r) == [ResultCode.INVALID_PROOF]
    assert w.app.received == []
    assert not has_receipt(w.b.reader(), *w.eb, forged.sequence)


def test_packet_from_another_source_is_refused(w: World) -> None:
    packet = send(w)
    fields = {f: getattr(packet, f) for f in packet.__struct_fields__}
    fields["source_channel"] = "channel-7"
    r = relay_to_b(w, [RecvPacket(packet=Packet(**fields), proof=recv_item(w, packet).proof)])  # type: ignore[arg-type]
    assert item_codes(r) == [ResultCode.INVALID_HANDSHAKE]


def test_receive_boundary_by_height(w: World) -> None:
    # The next block of b is h = b.height + 1: receivable iff h < timeout_height.
    late = send(w, b"late", timeout_height=w.b.height + 1 + 2)  # b's next relay block is timeout_height - 2
    w.b.advance(1)  # now b's next block is timeout_height - 1: still receivable
    ok = send(w, b"ok", timeout_height=w.b.height + 1 + 1)
    r = relay_to_b(w, [recv_item(w, ok)])
    assert item_codes(r) == [0]
    # b's next block is now late.timeout_height exactly: refused
    assert w.b.height + 1 == late.timeout_height
    r = relay_to_b(w, [recv_item(w, late)])
    assert item_codes(r) == [ResultCode.PACKET_TIMED_OUT]
    assert w.app.received == [("chain-b", ok.sequence)]


def test_receive_boundary_by_time(w: World) -> None:
    t = w.b.time_ms + 5000
    p1 = send(w, b"one", timeout_time_ms=t)
    p2 = send(w, b"two", timeout_time_ms=t)
    r = relay_to_b(w, [recv_item(w, p1)], time_step_ms=t - 1 - w.b.time_ms)  # block time t - 1: receivable
    assert item_codes(r) == [0]
    r = relay_to_b(w, [recv_item(w, p2)], time_step_ms=1)  # block time t: refused
    assert w.b.time_ms == t
    assert item_codes(r) == [ResultCode.PACKET_TIMED_OUT]


# -- acks ----------------------------------------------------------------------------------------------------------
def test_ack_refusals_mutated_packet_and_ack(w: World) -> None:
    packet = send(w, b"hello")
    relay_packets(w.a, w.b, w.path)
    good = ack_item(w, packet)
    fields = {f: getattr(packet, f) for f in packet.__struct_fields__}
    fields["data"] = b"HELLO"
    forged_packet = Acknowledge(packet=Packet(**fields), ack=good.ack, proof=good.proof)  # type: ignore[arg-type]
    forged_ack = Acknowledge(packet=packet, ack=Ack(code=1, result=b"", reason="no"), proof=good.proof)
    r = relay_to_a(w, [forged_packet, forged_ack, good, good])
    assert item_codes(r) == [
        ResultCode.COMMITMENT_MISMATCH,
        ResultCode.INVALID_PROOF,
        0,
        ResultCode.PACKET_NOT_PENDING,
    ]
    assert w.app.acked == [("chain-a", 1, 0)]


def test_error_acks_undo_the_application_and_keep_the_receipt(w: World) -> None:
    fail, nack, ok = send(w, b"fail!"), send(w, b"nack!"), send(w, b"fine")
    r = relay_to_b(w, [recv_item(w, fail), recv_item(w, nack), recv_item(w, ok)])
    assert item_codes(r) == [0, 0, 0]
    port, chan = w.eb
    a1 = read_ack(w.b.reader(), port, chan, fail.sequence)
    a2 = read_ack(w.b.reader(), port, chan, nack.sequence)
    assert a1 is not None and a1.code == ResultCode.INVALID_CHANGE and "fail" in a1.reason
    assert a2 == Ack(code=99, result=b"", reason="nack")
    assert w.b.get(echo_key(chan, fail.sequence)) is None  # the app's write was undone
    assert w.b.get(echo_key(chan, nack.sequence)) is None
    assert w.b.get(echo_key(chan, ok.sequence)) == b"fine"
    assert all(has_receipt(w.b.reader(), port, chan, p.sequence) for p in (fail, nack, ok))
    relay_acks(w.a, w.b, w.path)
    assert sorted(w.app.acked) == [
        ("chain-a", 1, int(ResultCode.INVALID_CHANGE)),
        ("chain-a", 2, 99),
        ("chain-a", 3, 0),
    ]


# -- timeouts ------------------------------------------------------------------------------------------------------
def test_timeout_due_boundary_by_height(w: World) -> None:
    packet = send(w, timeout_height=w.b.height + 3)
    w.b.advance(packet.timeout_height - 1 - w.b.height)
    assert w.b.height == packet.timeout_height - 1
    early = timeout_item(w, packet)  # proof height P = timeout_height - 1
    r = relay_to_a(w, [early])
    assert item_codes(r) == [ResultCode.TIMEOUT_NOT_DUE]
    assert read_packet(w.a.reader(), *w.ea, packet.sequence) == packet
    w.b.advance(1)
    r = relay_to_a(w, [timeout_item(w, packet)])  # P = timeout_height
    assert item_codes(r) == [0]
    assert events_of(r, "interchain.timeout_packet")[0]["sequence"] == b"1"
    assert w.app.timed_out == [("chain-a", 1)]
    assert read_packet(w.a.reader(), *w.ea, packet.sequence) is None
    # exactly once: a second timeout, a late ack
    r = relay_to_a(w, [timeout_item(w, packet), Acknowledge(packet=packet, ack=Ack(code=0), proof=early.proof)])
    assert item_codes(r) == [ResultCode.PACKET_NOT_PENDING, ResultCode.PACKET_NOT_PENDING]
    assert w.app.timed_out == [("chain-a", 1)] and w.app.acked == []
    # and b can no longer receive it
    assert relay_packets(w.a, w.b, w.path) == []
    r = relay_to_b(w, [recv_item(w, packet, packet.timeout_height - 3 + 1)])
    assert item_codes(r) == [ResultCode.PACKET_TIMED_OUT]


def test_timeout_due_boundary_by_time(w: World) -> None:
    t = w.b.time_ms + 10_000
    packet = send(w, timeout_time_ms=t)
    w.b.advance(1, t - 1 - w.b.time_ms)  # header time t - 1
    r = relay_to_a(w, [timeout_item(w, packet)])
    assert item_codes(r) == [ResultCode.TIMEOUT_NOT_DUE]
    w.b.advance(1, 1)  # header time t
    assert w.b.header(w.b.height).time_ms == t
    r = relay_to_a(w, [timeout_item(w, packet)])
    assert item_codes(r) == [0]
    assert w.app.timed_out == [("chain-a", 1)]


def test_timeout_of_a_received_packet_is_refused(w: World) -> None:
    packet = send(w, timeout_height=w.b.height + 3)
    relay_packets(w.a, w.b, w.path)
    w.b.advance(3)
    r = relay_to_a(w, [timeout_item(w, packet)])  # proof of a receipt's absence: there is one
    assert item_codes(r) == [ResultCode.INVALID_PROOF]
    # the honest relayer sees nothing to time out; the ack still comes back
    assert relay_timeouts(w.a, w.b, w.path) == []
    (r,) = relay_acks(w.a, w.b, w.path)
    assert item_codes(r) == [0]
    assert w.app.timed_out == [] and w.app.acked == [("chain-a", 1, 0)]


def test_ack_after_timeout_is_not_pending(w: World) -> None:
    packet = send(w, timeout_height=w.b.height + 2)
    w.b.advance(2)
    (r,) = relay_timeouts(w.a, w.b, w.path)
    assert item_codes(r) == [0]
    forged = Acknowledge(packet=packet, ack=Ack(code=0, result=b"hello"), proof=w.b.prove(ack_key(*w.eb, 1)))
    r = relay_to_a(w, [forged])
    assert item_codes(r) == [ResultCode.PACKET_NOT_PENDING]
    assert w.app.acked == []


def test_ordered_timeout_closes_the_channel_and_the_counterparty_confirms(wo: World) -> None:
    w = wo
    p1 = send(w, b"one")
    p2 = send(w, b"two", timeout_height=w.b.height + 2)
    r = relay_to_b(w, [recv_item(w, p1)])
    assert item_codes(r) == [0]
    w.b.advance(2)
    # a lie about seq_recv fails its proof; a seq_recv past the packet says it was received
    honest = timeout_item(w, p2)
    assert honest.next_seq_recv == 2
    lie = Timeout(packet=p2, next_seq_recv=1, proof=honest.proof)
    r1 = Timeout(packet=p1, next_seq_recv=2, proof=honest.proof)
    r = relay_to_a(w, [lie, r1, honest])
    assert item_codes(r) == [ResultCode.INVALID_PROOF, ResultCode.ALREADY_RECEIVED, 0]
    assert read_channel(w.a.reader(), *w.ea).state == CLOSED  # type: ignore[union-attr]
    assert [e.type for e in r.events].count("interchain.channel_close") == 1
    # the ack of p1 still comes back on the closed channel
    (r,) = relay_acks(w.a, w.b, w.path)
    assert item_codes(r) == [0]
    h = w.a.height
    update_client(w.b, w.a, w.path)
    port, chan = w.eb
    proof = w.a.prove(channel_key(*w.ea), h)
    r = w.b.submit("relayer", ChanCloseConfirm(port=port, channel=chan, proof_init=proof))
    assert r.code == 0, r.message
    assert read_channel(w.b.reader(), port, chan).state == CLOSED  # type: ignore[union-attr]


def test_timeout_on_close(w: World) -> None:
    packet = send(w)  # far timeout: never due
    port, chan = w.eb
    assert w.b.submit("relayer", ChanCloseInit(port=port, channel=chan)).code == 0
    # b refuses to receive on a closed channel
    r = relay_to_b(w, [recv_item(w, packet)])
    assert item_codes(r) == [ResultCode.CHANNEL_NOT_OPEN]
    (r,) = relay_timeouts(w.a, w.b, w.path)
    assert r.code == 0, r.message
    assert w.app.timed_out == [("chain-a", 1)]
    assert pending(w.a, w.path) == []
    assert read_channel(w.a.reader(), *w.ea).state == OPEN  # type: ignore[union-attr]  (unordered: stays open)


# -- send_packet ---------------------------------------------------------------------------------------------------
def test_send_packet_refusals(w: World) -> None:
    update_client(w.a, w.b, w.path)
    latest_h, latest_t = w.b.height, w.b.time_ms
    assert echo_send(w.a, w.path, b"x").code == ResultCode.INVALID_CHANGE  # no timeout
    assert echo_send(w.a, w.path, b"x", timeout_height=latest_h).code == ResultCode.PACKET_TIMED_OUT
    assert echo_send(w.a, w.path, b"x", timeout_time_ms=latest_t).code == ResultCode.PACKET_TIMED_OUT
    assert echo_send(w.a, w.path, b"x", timeout_height=latest_h + 1).code == 0
    assert echo_send(w.a, w.path, b"x", timeout_time_ms=latest_t + 1).code == 0
    port, chan = w.ea
    assert w.a.submit("relayer", ChanCloseInit(port=port, channel=chan)).code == 0
    assert echo_send(w.a, w.path, b"x", timeout_height=10**6).code == ResultCode.CHANNEL_NOT_OPEN


# -- relay ---------------------------------------------------------------------------------------------------------
def test_relay_refused_update_fails_the_transaction(w: World) -> None:
    packet = send(w)
    update = update_message(w.b, w.a, w.path.b.client_id)
    assert update is not None
    bad = type(update)(client_id="client-9", update=update.update)
    r = w.b.submit("relayer", Relay(update=bad, items=[recv_item(w, packet)]))
    assert r.code == ResultCode.CLIENT_NOT_FOUND
    assert not has_receipt(w.b.reader(), *w.eb, packet.sequence) and w.app.received == []


def test_relay_receipt_stays_within_the_event_limit(w: World) -> None:
    packets = [send(w, bytes([65 + i % 26])) for i in range(25)]
    items: list[RelayItem] = [recv_item(w, p) for p in packets]
    r = relay_to_b(w, items)
    assert len(r.events) <= 64
    assert decode(encode(r), Receipt) == r  # the receipt decodes under its own bounds
    done = item_codes(r)
    (deferred,) = events_of(r, "interchain.relay_deferred")
    assert done == [0] * len(done) and int(deferred["from_index"]) == len(done) < 25
    assert not has_receipt(w.b.reader(), *w.eb, packets[len(done)].sequence)
    relay_packets(w.a, w.b, w.path)
    assert sorted(s for _, s in w.app.received) == list(range(1, 26))


def test_receipt_is_written_under_its_key(w: World) -> None:
    packet = send(w)
    relay_packets(w.a, w.b, w.path)
    assert w.b.get(receipt_key(*w.eb, packet.sequence)) == b"\x01"


def test_a_refused_item_keeps_none_of_its_writes(wo: World) -> None:
    # An ordered ack moves seq_ack before its proof is checked: a refused ack must leave seq_ack where it was.
    w = wo
    p1 = send(w, b"one")
    relay_packets(w.a, w.b, w.path)
    good = ack_item(w, p1)
    forged = Acknowledge(packet=p1, ack=Ack(code=7, result=b"", reason="x"), proof=good.proof)
    r = relay_to_a(w, [forged, good])
    assert item_codes(r) == [ResultCode.INVALID_PROOF, 0]
    assert w.app.acked == [("chain-a", 1, 0)]
