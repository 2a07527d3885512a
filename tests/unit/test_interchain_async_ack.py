"""Asynchronous acknowledgements (docs/spec/interchain.md 5.4; ADR 0016 section 2): an application's ``on_recv``
answering None records the receive and writes no ack; ``interchain.packets.write_ack`` writes it later, exactly
once, and an honest relayer carries it back to the source like a synchronous one. Two ``SimChain``s
(``tests/fixtures/two_chains.py``) with a test application ``LaterApp`` on port ``later``; a ``kv.put`` in the
namespace ``ACK_NAMESPACE`` runs ``write_ack`` (the ``LaterAck`` in its value)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

from tests.fixtures import two_chains as tc
from tests.fixtures.chain_sim import SimChain
from trellis.core.codec import decode, encode
from trellis.core.execution.context import TxContext
from trellis.core.execution.results import ResultCode
from trellis.core.ledger.block import Event, Receipt
from trellis.core.modules.interchain.messages import ORDERED, UNORDERED, Ack, Packet
from trellis.core.modules.interchain.packets import write_ack
from trellis.core.modules.interchain.state import read_ack
from trellis.core.modules.kv.messages import KvPut
from trellis.core.modules.registry import HANDLERS
from trellis.core.types import CoreStruct
from trellis.relayer import plan

PORT = "later"
VERSION = "later-1"
ACK_NAMESPACE = "interchain-test-ack"
MINUTE = 60_000


class LaterAck(CoreStruct, frozen=True):
    """What a ``kv.put`` in ``ACK_NAMESPACE`` asks: ``write_ack(port, channel, sequence, Ack(code, result))``,
    with the received packet when ``packet`` is not empty (its bytes)."""

    port: str
    channel: str
    sequence: int
    code: int
    result: bytes
    packet: bytes = b""


@dataclass
class LaterApp:
    """Answers data starting with ``b"later"`` with None (a pending ack), after writing ``later/<seq>`` (kept:
    the savepoint commits on None); any other data with a success ack of the data."""

    version: str = VERSION
    acked: list[tuple[str, int, int, bytes]] = field(default_factory=list)

    def on_chan_open(self, ctx: TxContext, order: int, counterparty_port: str, version: str) -> None:
        pass

    def on_chan_close(self, ctx: TxContext, channel: str) -> None:
        pass

    def on_recv(self, ctx: TxContext, packet: Packet) -> tuple[Ack | None, list[Event]]:
        if packet.data.startswith(b"later"):
            ctx.put(b"later/" + packet.sequence.to_bytes(8, "big"), packet.data)
            return None, []
        if packet.data.startswith(b"event"):  # events with a success ack, or (b"event-nack") an error ack
            ctx.put(b"event/" + packet.sequence.to_bytes(8, "big"), packet.data)
            events = [Event(type="later.did", attributes=[("data", packet.data)])]
            code = 7 if packet.data.startswith(b"event-nack") else 0
            return Ack(code=code, result=b"" if code else packet.data, reason="no" if code else ""), events
        return Ack(code=0, result=packet.data, reason=""), []

    def on_ack(self, ctx: TxContext, packet: Packet, ack: Ack) -> list[Event]:
        self.acked.append((ctx.params.chain_id, packet.sequence, ack.code, ack.result))
        return []

    def on_timeout(self, ctx: TxContext, packet: Packet) -> list[Event]:
        raise AssertionError("no packet of these tests times out")


@contextmanager
def later_app() -> Iterator[LaterApp]:
    app = LaterApp()
    with tc.packet_apps({PORT: app}):
        inner = HANDLERS[KvPut]

        def put(ctx: TxContext, msg: KvPut) -> list[Event]:
            if msg.namespace != ACK_NAMESPACE:
                return inner(ctx, msg)
            req = decode(msg.value, LaterAck)
            packet = decode(req.packet, Packet) if req.packet else None
            ack = Ack(code=req.code, result=req.result, reason="" if req.code == 0 else "later, no")
            return write_ack(ctx, req.port, req.channel, req.sequence, ack, packet=packet)

        HANDLERS[KvPut] = put
        yield app


def ack_later(chain: SimChain, req: LaterAck) -> Receipt:
    return chain.submit("alice", KvPut(namespace=ACK_NAMESPACE, key=b"ack", value=encode(req)))


@contextmanager
def two(order: int = UNORDERED) -> Iterator[tuple[SimChain, SimChain, tc.Path, LaterApp]]:
    with later_app() as app:
        a = SimChain("later-a", accounts={"alice": 10})
        b = SimChain("later-b", accounts={"alice": 10})
        yield a, b, tc.connect(a, b, order=order, port=PORT, version=VERSION), app


def send(a: SimChain, path: tc.Path, data: bytes) -> Packet:
    r = tc.echo_send(a, path, data, timeout_time_ms=a.time_ms + 10 * MINUTE)
    assert r.code == 0, r.message
    return tc.pending(a, path)[-1]


def test_a_pending_ack_is_written_later_and_relayed() -> None:
    with two() as (a, b, path, app):
        p = send(a, path, b"later-1")
        (r,) = tc.relay_packets(a, b, path)
        assert tc.item_codes(r) == [0]
        assert [e.type for e in r.events if e.type.startswith("interchain.")] == [
            "interchain.client_updated",
            "interchain.recv_packet",
            "interchain.item",
        ]
        d = path.end(b)
        assert tc.received(b, path, p) and read_ack(b.reader(), PORT, d.channel, p.sequence) is None
        assert b.get(b"later/" + p.sequence.to_bytes(8, "big")) == b"later-1"  # on_recv's writes are kept
        # Nothing to carry back, nothing to time out (received), nothing to deliver again: the relayer waits.
        b.advance(3)
        assert tc.relay_all(a, b, path) == []
        assert tc.pending(a, path) == [p]
        assert plan.decide(p, received=True, ack_written=False, dest_height=b.height, dest_time_ms=b.time_ms) == (
            plan.SKIP
        )

        w = ack_later(b, LaterAck(PORT, d.channel, p.sequence, 0, b"done", encode(p)))
        assert w.code == 0, w.message
        (ev,) = [e for e in w.events if e.type == "interchain.write_ack"]
        attrs = dict(ev.attributes)
        assert attrs["code"] == b"0" and decode(attrs["ack"], Ack).result == b"done" and "packet_id" in attrs
        tc.relay_acks(a, b, path)
        assert app.acked == [(a.chain_id, p.sequence, 0, b"done")] and tc.pending(a, path) == []


def test_an_async_error_ack_reaches_the_source() -> None:
    with two() as (a, b, path, app):
        p = send(a, path, b"later-2")
        tc.relay_packets(a, b, path)
        w = ack_later(b, LaterAck(PORT, path.end(b).channel, p.sequence, 77, b""))  # without the packet
        assert w.code == 0, w.message
        (ev,) = [e for e in w.events if e.type == "interchain.write_ack"]
        attrs = dict(ev.attributes)
        assert "packet_id" not in attrs and attrs["source_channel"] == path.end(a).channel.encode()
        assert attrs["sequence"] == str(p.sequence).encode() and attrs["code"] == b"77"
        tc.relay_acks(a, b, path)
        assert app.acked == [(a.chain_id, p.sequence, 77, b"")]


def test_write_ack_is_refused_twice_and_for_what_was_never_received() -> None:
    with two() as (a, b, path, _):
        d = path.end(b)
        p = send(a, path, b"later-3")
        q = send(a, path, b"now")
        tc.relay_packets(a, b, path)
        assert ack_later(b, LaterAck(PORT, d.channel, p.sequence, 0, b"x")).code == 0
        before = read_ack(b.reader(), PORT, d.channel, p.sequence)
        again = ack_later(b, LaterAck(PORT, d.channel, p.sequence, 5, b""))
        assert again.code == ResultCode.DUPLICATE and "acknowledged already" in again.message
        assert read_ack(b.reader(), PORT, d.channel, p.sequence) == before
        sync = ack_later(b, LaterAck(PORT, d.channel, q.sequence, 0, b""))  # acked synchronously at its receive
        assert sync.code == ResultCode.DUPLICATE
        never = ack_later(b, LaterAck(PORT, d.channel, 99, 0, b""))
        assert never.code == ResultCode.NOT_FOUND and "never received" in never.message
        nochan = ack_later(b, LaterAck(PORT, "channel-42", p.sequence, 0, b""))
        assert nochan.code == ResultCode.CHANNEL_NOT_OPEN
        wrong = ack_later(b, LaterAck(PORT, d.channel, p.sequence, 0, b"", encode(q)))
        assert wrong.code == ResultCode.INVALID_CHANGE


def test_write_ack_refuses_an_ack_out_of_bounds() -> None:
    with two() as (a, b, path, _):
        p = send(a, path, b"later-4")
        tc.relay_packets(a, b, path)
        big = ack_later(b, LaterAck(PORT, path.end(b).channel, p.sequence, 0, b"x" * 5000))
        assert big.code == ResultCode.INVALID_CHANGE
        assert read_ack(b.reader(), PORT, path.end(b).channel, p.sequence) is None


@pytest.mark.parametrize("order", [ORDERED])
def test_ordered_channel_receives_on_while_an_ack_is_pending(order: int) -> None:
    with two(order) as (a, b, path, app):
        d = path.end(b)
        p1 = send(a, path, b"later-5")
        p2 = send(a, path, b"now-6")
        (r,) = tc.relay_packets(a, b, path)
        assert tc.item_codes(r) == [0, 0]
        assert read_ack(b.reader(), PORT, d.channel, p1.sequence) is None
        assert read_ack(b.reader(), PORT, d.channel, p2.sequence) is not None
        # The source takes an ordered channel's acks in order: the second waits for the first.
        tc.relay_acks(a, b, path)
        assert app.acked == [] and tc.pending(a, path) == [p1, p2]
        assert ack_later(b, LaterAck(PORT, d.channel, p1.sequence, 0, b"one")).code == 0
        assert ack_later(b, LaterAck(PORT, d.channel, 9, 0, b"")).code == ResultCode.NOT_FOUND
        tc.relay_acks(a, b, path)
        assert [x[1:] for x in app.acked] == [(p1.sequence, 0, b"one"), (p2.sequence, 0, b"now-6")]


def test_the_relayer_waits_for_a_pending_ack_without_an_error_and_relays_it_once_written() -> None:
    """The real relay loop (``trellis.relayer.loop``) over ``SimEndpoint``s: a received packet whose ack is pending
    is neither an error nor delivered again; the ack, written later, is carried back once."""
    import asyncio
    from pathlib import Path as FsPath

    from tests.fixtures.sim_endpoint import SimNet
    from tests.fixtures.two_chains import ECHO_NAMESPACE, EchoSend
    from tests.unit.test_relayer_e2e import run_until, signer
    from trellis.relayer import handshake
    from trellis.relayer.config import ChainConfig, ChannelConfig, PathConfig, RelayerConfig
    from trellis.relayer.loop import Relayer

    with later_app() as app:
        a = SimChain("chain-a", accounts={"alice": 10**6})
        b = SimChain("chain-b", accounts={"alice": 10**6})
        net = SimNet(a, b)
        ea, eb = net.endpoint(a), net.endpoint(b)
        net.advance(a)
        net.advance(b)
        key = signer("relayer")
        ids = asyncio.run(handshake.connect(ea, eb, key, key, port=PORT, version=VERSION))
        chains = {
            c.chain_id: ChainConfig(id=c.chain_id, api=["http://sim"], key=FsPath("/nonexistent.pem")) for c in (a, b)
        }
        path = PathConfig(
            a=a.chain_id,
            b=b.chain_id,
            a_client=ids["a_client"],
            b_client=ids["b_client"],
            a_connection=ids["a_connection"],
            b_connection=ids["b_connection"],
            channels=[ChannelConfig(port=PORT, a_channel=ids["a_channel"], b_channel=ids["b_channel"])],
        )
        cfg = RelayerConfig(chains=chains, paths=[path], scan_interval_s=0.05)
        relayer = Relayer(cfg, {a.chain_id: ea, b.chain_id: eb}, {a.chain_id: key, b.chain_id: key})
        value = encode(EchoSend(PORT, ids["a_channel"], b"later-r", 10_000, 0))
        assert net.submit(a, "alice", KvPut(namespace=ECHO_NAMESPACE, key=b"send", value=value)).code == 0
        bch = ids["b_channel"]

        async def wait_then_ack() -> None:
            for _ in range(200):  # received, then a few more scans with the ack pending
                if b.get(b"later/" + (1).to_bytes(8, "big")) is not None:
                    break
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.3)
            assert tc.pending(
                a,
                tc.Path(
                    a=tc.End(a.chain_id, "", "", PORT, ids["a_channel"]),
                    b=tc.End(b.chain_id, "", "", PORT, bch),
                    order=UNORDERED,
                    version=VERSION,
                ),
            )
            req = LaterAck(PORT, bch, 1, 0, b"late but here")
            assert net.submit(b, "alice", KvPut(namespace=ACK_NAMESPACE, key=b"ack", value=encode(req))).code == 0

        asyncio.run(run_until([relayer], lambda: bool(app.acked), during=wait_then_ack))
        assert app.acked == [(a.chain_id, 1, 0, b"late but here")]
        text = relayer.metrics.render()
        assert 'trellis_relayer_items_total{outcome="ok"} 2' in text  # one receive, one ack
        assert "refused" not in text and "duplicate" not in text and "tx_failed" not in text
        assert all(p.last_error is None for p in relayer.paths)


def test_on_recv_events_go_in_the_receipt_unless_the_ack_is_an_error() -> None:
    """``on_recv``'s events follow ``recv_packet`` (before ``write_ack``) with a success ack; an error ack drops
    them with the application's writes."""
    with two() as (a, b, path, _):
        good = send(a, path, b"event-1")
        bad = send(a, path, b"event-nack")
        (r,) = tc.relay_packets(a, b, path)
        assert tc.item_codes(r) == [0, 0]
        kinds = [e.type for e in r.events if e.type != "interchain.client_updated"]
        assert kinds == [
            "interchain.recv_packet",
            "later.did",
            "interchain.write_ack",
            "interchain.item",
            "interchain.recv_packet",
            "interchain.write_ack",
            "interchain.item",
        ]
        assert dict(r.events[kinds.index("later.did") + 1].attributes) == {"data": b"event-1"}
        assert b.get(b"event/" + good.sequence.to_bytes(8, "big")) == b"event-1"
        assert b.get(b"event/" + bad.sequence.to_bytes(8, "big")) is None
