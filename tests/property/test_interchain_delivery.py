"""Exactly-once delivery under any interleaving (ADR 0015 section 12, "no packet delivered twice" and "exactly one
of {ack, timeout} per packet"): two relayers prepare receive, ack and timeout items from the chains' state at
random moments (so their proofs may be stale, duplicated, early or for packets already settled), submit them in
random order, alone or both in one block, while the chains advance. After every block:

- the destination receives each sequence at most once (one successful ``recv_packet``, one ``on_recv``), and
  holds a receipt (unordered) exactly for the sequences it received;
- the source settles each sequence at most once (``on_ack`` + ``on_timeout`` <= 1), acks only received packets and
  times out only packets the destination never received.

At the end an honest relayer drains everything (packets, acks, then timeouts once due): every packet sent is then
settled exactly once and nothing is pending.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.fixtures.chain_sim import SimChain
from tests.fixtures.two_chains import (
    EchoApp,
    Path,
    connect,
    echo_send,
    not_received_proof,
    packet_apps,
    pending,
    received,
    relay_acks,
    relay_packets,
    relay_timeouts,
    update_message,
)
from trellis.core.ledger.block import Receipt
from trellis.core.ledger.tx import SignedTx
from trellis.core.modules.interchain.messages import (
    ORDERED,
    UNORDERED,
    Acknowledge,
    Packet,
    RecvPacket,
    Relay,
    RelayItem,
    Timeout,
)
from trellis.core.modules.interchain.state import ack_key, has_receipt, packet_key, read_ack

RELAYERS = ("relayer", "relayer-2")
FAR = 60
"""Blocks of the destination after which every packet of a run has timed out (the drain advances that far)."""

SEND = st.tuples(st.just("send"), st.integers(0, 6), st.booleans())
PREPARE = st.tuples(
    st.just("prepare"), st.integers(0, 1), st.sampled_from(["recv", "ack", "timeout"]), st.integers(0, 3), st.booleans()
)
ACTION = st.one_of(
    SEND,
    st.tuples(st.just("advance"), st.sampled_from("ab"), st.integers(1, 5)),
    PREPARE,
    PREPARE,
    PREPARE,
    st.tuples(st.just("submit"), st.integers(0, 1), st.booleans()),
    st.tuples(st.just("submit"), st.integers(0, 1), st.booleans()),
)


class Run:
    """Two chains, one echo path, two relayers' queues and the counters the invariants read."""

    def __init__(self, order: int, app: EchoApp) -> None:
        self.a = SimChain("chain-a", accounts={"alice": 1000})
        self.b = SimChain("chain-b", accounts={"alice": 1000})
        self.app = app
        self.path: Path = connect(self.a, self.b, order=order, port="echo", version=self.app.version)
        self.order = order
        self.sent: list[Packet] = []
        self.queues: list[dict[str, list[Relay]]] = [{"a": [], "b": []} for _ in RELAYERS]
        self.recv_events: Counter[int] = Counter()

    # -- actions ---------------------------------------------------------------------------------------------------
    def send(self, k: int, by_time: bool) -> None:
        if by_time:
            kw = {"timeout_time_ms": self.b.time_ms + (k if k else FAR) * self.b.block_interval_ms}
        else:
            kw = {"timeout_height": self.b.height + (k if k else FAR)}
        r = echo_send(self.a, self.path, b"packet", **kw)
        if r.code == 0:
            self.sent.append(pending(self.a, self.path)[-1])

    def prepare(self, who: int, kind: str, pick: int, both: bool) -> None:
        """Relayer ``who`` builds one item from the chains' state now (``both``: the other relayer queues the same
        transaction too). A timeout is built even for a packet already received: the chain must refuse it."""
        a, b, path = self.a, self.b, self.path
        whom = (0, 1) if both else (who,)
        if not self.sent:
            return
        packet = self.sent[pick % len(self.sent)]
        item: RelayItem
        if kind == "recv":
            h = a.height
            key = packet_key(packet.source_port, packet.source_channel, packet.sequence)
            if a.get(key, h) is None:
                return  # already settled: no proof of it exists at this height
            item = RecvPacket(packet=packet, proof=a.prove(key, h))
            update = update_message(b, a, path.b.client_id, h)
            for r in whom:
                self.queues[r]["b"].append(Relay(update=update, items=[item]))
            return
        h = b.height
        if kind == "ack":
            ack = read_ack(b.reader(h), path.b.port, path.b.channel, packet.sequence)
            if ack is None:
                return
            item = Acknowledge(
                packet=packet, ack=ack, proof=b.prove(ack_key(path.b.port, path.b.channel, packet.sequence), h)
            )
        else:  # a timeout, due or not, received or not
            next_seq, proof = not_received_proof(b, path, packet, h)
            item = Timeout(packet=packet, next_seq_recv=next_seq, proof=proof)
        for r in whom:
            self.queues[r]["a"].append(Relay(update=update_message(a, b, path.a.client_id, h), items=[item]))

    def submit(self, who: int, both: bool) -> None:
        for side, chain in (("a", self.a), ("b", self.b)):
            txs: list[SignedTx] = []
            for r in (who, 1 - who) if both else (who,):
                txs += [chain.sign(RELAYERS[r], relay) for relay in self.queues[r][side]]
                self.queues[r][side] = []
            if txs:
                self.observe(chain.commit_block(txs))

    # -- invariants ------------------------------------------------------------------------------------------------
    def observe(self, receipts: list[Receipt]) -> None:
        for r in receipts:
            for e in r.events:
                if e.type == "interchain.recv_packet":
                    self.recv_events[int(dict(e.attributes)["sequence"])] += 1
        self.check()

    def check(self) -> None:
        a, b, path, app = self.a, self.b, self.path, self.app
        assert all(n == 1 for n in self.recv_events.values()), self.recv_events
        on_recv = Counter(seq for chain, seq in app.received if chain == "chain-b")
        assert all(n == 1 for n in on_recv.values()), on_recv
        assert set(on_recv) == set(self.recv_events)
        settled = Counter([seq for _, seq, _ in app.acked] + [seq for _, seq in app.timed_out])
        assert all(n == 1 for n in settled.values()), (app.acked, app.timed_out)
        for packet in self.sent:
            seq = packet.sequence
            got = received(b, path, packet)
            assert got == (seq in self.recv_events)
            if self.order == UNORDERED:
                assert has_receipt(b.reader(), path.b.port, path.b.channel, seq) == got
            if any(s == seq for _, s, _ in app.acked):
                assert got
            if any(s == seq for _, s in app.timed_out):
                assert not got
            still = a.get(packet_key(path.a.port, path.a.channel, seq)) is not None
            assert still == (settled[seq] == 0)

    def drain(self) -> None:
        a, b, path = self.a, self.b, self.path
        self.observe(relay_packets(a, b, path))
        self.observe(relay_acks(a, b, path))
        b.advance(FAR + 1)
        self.observe(relay_timeouts(a, b, path))
        self.observe(relay_acks(a, b, path))
        assert pending(a, path) == []
        settled = Counter([seq for _, seq, _ in self.app.acked] + [seq for _, seq in self.app.timed_out])
        assert sorted(settled) == [p.sequence for p in self.sent]
        assert all(n == 1 for n in settled.values())


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(  # an early timeout must not settle a packet a stale proof still delivers
    order=UNORDERED,
    sends=[("send", 6, False)],
    actions=[
        ("prepare", 0, "recv", 0, False),
        ("prepare", 1, "timeout", 0, False),
        ("submit", 1, False),
        ("submit", 0, False),
    ],
)
@example(  # an ordered timeout of a received packet (seq_recv past it) must be refused
    order=ORDERED,
    sends=[("send", 2, False)],
    actions=[
        ("prepare", 0, "recv", 0, False),
        ("submit", 0, False),
        ("advance", "b", 3),
        ("prepare", 0, "timeout", 0, False),
        ("submit", 0, False),
    ],
)
@given(
    order=st.sampled_from([UNORDERED, ORDERED]),
    sends=st.lists(SEND, min_size=1, max_size=4),
    actions=st.lists(ACTION, min_size=4, max_size=60),
)
def test_random_interleavings_deliver_and_settle_exactly_once(
    order: int, sends: list[tuple[object, ...]], actions: list[tuple[object, ...]]
) -> None:
    app = EchoApp()
    with packet_apps({"echo": app}):
        run = Run(order, app)
        for action in sends + actions:
            kind, *args = action
            if kind == "send":
                run.send(int(args[0]), bool(args[1]))  # type: ignore[call-overload]
            elif kind == "advance":
                (run.a if args[0] == "a" else run.b).advance(int(args[1]))  # type: ignore[call-overload]
            elif kind == "prepare":
                run.prepare(int(args[0]), str(args[1]), int(args[2]), bool(args[3]))  # type: ignore[call-overload]
            else:
                run.submit(int(args[0]), bool(args[1]))  # type: ignore[call-overload]
        run.submit(0, True)
        run.drain()
