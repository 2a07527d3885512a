"""The relayer end to end, in process (ADR 0015 section 8): two ``SimChain`` chains with the real interchain
handlers, joined by ``trellis.relayer.handshake.connect`` over ``SimEndpoint``; the ``Relayer`` loop carries echo
packets both ways, brings the acks back, proves timeouts, recovers after a restart from the chains' state alone,
and shares the work with a second relayer without doing anything twice.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.chain_sim import SimChain
from tests.fixtures.sim_endpoint import SimEndpoint, SimNet
from tests.fixtures.two_chains import EchoApp, echo_key, packet_apps
from trellis.core.codec import encode
from trellis.core.ledger.block import block_hash
from trellis.core.modules.interchain.messages import MAX_GENESIS, ORDERED, UNORDERED
from trellis.core.modules.interchain.state import (
    CLOSED,
    TrustedChain,
    has_receipt,
    pending_packets,
    read_ack,
    read_channel,
    read_client,
    trusted_key,
)
from trellis.core.modules.kv.messages import KvPut
from trellis.keys.signer import MemorySigner
from trellis.relayer import handshake
from trellis.relayer.config import ChainConfig, ChannelConfig, PathConfig, RelayerConfig
from trellis.relayer.endpoint import StateRead
from trellis.relayer.loop import Direction, Relayer
from trellis.relayer.submit import Submitter

PORT = "echo"


def signer(name: str) -> MemorySigner:
    """The key ``SimChain`` derives for ``name`` (seed ``sha256(name)``)."""
    return MemorySigner(hashlib.sha256(name.encode()).digest())


@dataclass
class World:
    a: SimChain
    b: SimChain
    net: SimNet
    ea: SimEndpoint
    eb: SimEndpoint
    ids: dict[str, str]
    app: EchoApp

    def config(
        self, scan_interval_s: float = 0.05, channels: list[tuple[str, str]] | None = None, **chain_kw: int
    ) -> RelayerConfig:
        chains = {
            c.chain_id: ChainConfig(id=c.chain_id, api=["http://sim"], key=Path("/nonexistent.pem"), **chain_kw)
            for c in (self.a, self.b)
        }
        pairs = channels or [(self.ids["a_channel"], self.ids["b_channel"])]
        path = PathConfig(
            a=self.a.chain_id,
            b=self.b.chain_id,
            a_client=self.ids["a_client"],
            b_client=self.ids["b_client"],
            a_connection=self.ids["a_connection"],
            b_connection=self.ids["b_connection"],
            channels=[ChannelConfig(port=PORT, a_channel=ac, b_channel=bc) for ac, bc in pairs],
        )
        return RelayerConfig(chains=chains, paths=[path], scan_interval_s=scan_interval_s)

    def relayer(
        self,
        key: str = "relayer",
        *,
        scan_interval_s: float = 0.05,
        channels: list[tuple[str, str]] | None = None,
        chain_kw: dict[str, int] | None = None,
        **kw: object,
    ) -> Relayer:
        s = signer(key)
        return Relayer(
            self.config(scan_interval_s, channels, **(chain_kw or {})),
            {self.a.chain_id: self.ea, self.b.chain_id: self.eb},
            {"chain-a": s, "chain-b": s},
            **kw,  # type: ignore[arg-type]
        )

    def into(self, r: Relayer, chain: SimChain) -> Direction:
        """``r``'s direction into ``chain``."""
        return next(d for d in r.directions if d.dst.name == chain.chain_id)

    def send(
        self, chain: SimChain, data: bytes, *, timeout_height: int = 0, timeout_time_ms: int = 0, channel: str = ""
    ) -> None:
        """Commit an echo packet on ``chain``'s end (as ``alice``)."""
        from tests.fixtures.two_chains import ECHO_NAMESPACE, EchoSend

        chan = channel or (self.ids["a_channel"] if chain is self.a else self.ids["b_channel"])
        if not timeout_height and not timeout_time_ms:
            timeout_height = 10_000  # far: the packet must carry some timeout
        value = encode(EchoSend(PORT, chan, data, timeout_height, timeout_time_ms))
        receipt = self.net.submit(chain, "alice", KvPut(namespace=ECHO_NAMESPACE, key=b"send", value=value))
        assert receipt.code == 0, receipt.message

    def pending(self, chain: SimChain) -> list[int]:
        chan = self.ids["a_channel"] if chain is self.a else self.ids["b_channel"]
        return [p.sequence for p in pending_packets(chain.reader(), PORT, chan, 1, 10_000)]


@pytest.fixture
def echo() -> Iterator[EchoApp]:
    app = EchoApp()
    with packet_apps({PORT: app}):
        yield app


def make_world(
    app: EchoApp, order: int = UNORDERED, trusting_period_ms: int = 7 * 86_400_000, b_accounts: int = 0
) -> World:
    """Chains a and b joined by the handshake. ``b_accounts``: b's genesis funds that many more accounts (too
    large for a create_client), a is governed and its governance trusts b's block 1 as a checkpoint."""
    a = SimChain("chain-a", accounts={"alice": 10**6}, client_policy="governed" if b_accounts else "open")
    b = SimChain("chain-b", accounts={"alice": 10**6, **{f"holder-{i}": 1 for i in range(b_accounts)}})
    net = SimNet(a, b)
    ea, eb = net.endpoint(a), net.endpoint(b)
    net.advance(a)
    net.advance(b)
    if b_accounts:
        trusted = TrustedChain(
            genesis_hash=b.params.genesis_hash,
            added_height=1,
            checkpoint_height=1,
            checkpoint_block_id=block_hash(b.params.suite, b.light_block(1).header),
        )
        a._st.state[trusted_key(b.chain_id)] = encode(trusted)  # as governance writes it (test_interchain_governance)
    s = signer("relayer")
    ids = asyncio.run(
        handshake.connect(ea, eb, s, s, port=PORT, version="echo-1", order=order, trusting_period_ms=trusting_period_ms)
    )
    return World(a, b, net, ea, eb, ids, app)


async def run_until(
    relayers: list[Relayer],
    done: Callable[[], bool],
    timeout_s: float = 30.0,
    during: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Run ``relayers`` until ``done()`` (polled) or fail after ``timeout_s``."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(r.run(stop)) for r in relayers]
    try:
        if during is not None:
            await during()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not done():
            if loop.time() > deadline:
                errors = [p.last_error for r in relayers for p in r.paths]
                raise AssertionError(f"not done in {timeout_s}s; last errors: {errors}")
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.gather(*tasks)


def test_handshake_opens_both_ends(echo: EchoApp) -> None:
    w = make_world(echo)
    for chain, chan in ((w.a, w.ids["a_channel"]), (w.b, w.ids["b_channel"])):
        end = read_channel(chain.reader(), PORT, chan)
        assert end is not None and end.state == 3 and end.version == "echo-1"
    assert w.ids["port"] == PORT


def test_a_chain_whose_genesis_does_not_fit_a_transaction_is_joined_from_a_checkpoint(echo: EchoApp) -> None:
    """b's genesis (2,000 funded accounts) is larger than a create_client may carry: a's client of b starts from the
    checkpoint a's governance trusts, names b's genesis hash, and relays like any other. Without that trust (the
    open policy) the handshake stops with an error saying what governance must do."""
    w = make_world(echo, b_accounts=2000)
    assert len(w.b.genesis_bytes) > MAX_GENESIS
    client = read_client(w.a.reader(), w.ids["a_client"])
    assert client is not None and client.genesis_hash == w.b.params.genesis_hash and client.latest_height >= 1
    created = [r for h in range(1, w.a.height + 1) for r in w.a.receipts(h) if r.events]
    assert any(e.type == "interchain.client_created" for r in created for e in r.events)
    w.send(w.a, b"over")
    w.send(w.b, b"back")
    asyncio.run(run_until([w.relayer()], lambda: not w.pending(w.a) and not w.pending(w.b)))
    assert ("chain-b", 1) in echo.received and ("chain-a", 1) in echo.received
    c = SimChain("chain-c", accounts={"alice": 1, **{f"holder-{i}": 1 for i in range(2000)}})
    net = SimNet(w.a, c)
    net.advance(c)
    s = signer("relayer")
    with pytest.raises(handshake.HandshakeError, match="must trust a checkpoint"):
        asyncio.run(handshake.connect(net.endpoint(w.a), net.endpoint(c), s, s, port=PORT, version="echo-1"))


def test_packets_both_ways_are_received_once_and_acknowledged(echo: EchoApp) -> None:
    w = make_world(echo)
    for i in range(30):
        w.send(w.a, b"a-to-b %d" % i)
    for i in range(5):
        w.send(w.b, b"b-to-a %d" % i)
    w.send(w.a, b"nack please")  # an error ack comes back like any other
    r = w.relayer()
    asyncio.run(run_until([r], lambda: not w.pending(w.a) and not w.pending(w.b)))
    assert sorted(s for c, s in echo.received if c == "chain-b") == list(range(1, 32))
    assert sorted(s for c, s in echo.received if c == "chain-a") == list(range(1, 6))
    assert len(echo.acked) == 36 and (("chain-a", 31, 99) in echo.acked)
    for seq in range(1, 32):
        assert has_receipt(w.b.reader(), PORT, w.ids["b_channel"], seq)
        assert w.b.get(echo_key(w.ids["b_channel"], seq)) is not None or seq == 31
    text = r.metrics.render()
    assert 'trellis_relayer_items_total{outcome="ok"} 72' in text  # 36 recv + 36 acks
    assert "refused" not in text and "tx_failed" not in text
    assert r.metrics.latency_count == 36
    st = r.status()["paths"][0]
    assert st["last_error"] is None and set(st["pending"]) == {"chain-a/echo/channel-0", "chain-b/echo/channel-0"}
    assert st["heights"]["chain-b"]["height"] >= 1 and "chain-b/client-0" in st["clients"]


def test_timeouts_are_proven_after_the_destination_passes_them(echo: EchoApp) -> None:
    w = make_world(echo)
    w.send(w.a, b"late", timeout_height=w.b.height + 2)
    w.send(w.a, b"in time")
    w.net.advance(w.b, 3)  # b passes the first packet's timeout height before any relayer runs
    r = w.relayer()
    asyncio.run(run_until([r], lambda: not w.pending(w.a)))
    assert echo.timed_out == [("chain-a", 1)]
    assert [s for c, s in echo.received if c == "chain-b"] == [2]
    assert not has_receipt(w.b.reader(), PORT, w.ids["b_channel"], 1)


def test_a_packet_timed_out_by_time_is_ended_once_its_time_passes(echo: EchoApp) -> None:
    w = make_world(echo)
    w.send(w.a, b"deadline", timeout_time_ms=w.b.time_ms + 1)  # b's next block is already too late
    r = w.relayer()
    asyncio.run(run_until([r], lambda: not w.pending(w.a)))
    assert echo.timed_out == [("chain-a", 1)] and not echo.received


def test_a_restart_recovers_from_the_chains_alone(echo: EchoApp) -> None:
    w = make_world(echo)
    for i in range(10):
        w.send(w.a, b"first %d" % i)
    first = w.relayer()
    # Stop the first relayer as soon as the packets are received on b, before (all) acks are back on a.
    asyncio.run(run_until([first], lambda: len([1 for c, _ in echo.received if c == "chain-b"]) == 10))
    for i in range(5):
        w.send(w.a, b"second %d" % i)
    w.net.advance(w.b, 1)
    second = w.relayer()  # a new process: nothing carried over but the chains
    asyncio.run(run_until([second], lambda: not w.pending(w.a)))
    assert sorted(s for c, s in echo.received if c == "chain-b") == list(range(1, 16))
    assert sorted(s for c, s, _ in echo.acked) == list(range(1, 16))


def test_two_relayers_share_the_work_and_count_duplicates_as_done(echo: EchoApp) -> None:
    w = make_world(echo)
    for i in range(12):
        w.send(w.a, b"p %d" % i)
    r1, r2 = w.relayer("relayer"), w.relayer("relayer-2")
    asyncio.run(run_until([r1, r2], lambda: not w.pending(w.a)))
    assert sorted(s for c, s in echo.received if c == "chain-b") == list(range(1, 13))
    assert sorted(s for c, s, _ in echo.acked) == list(range(1, 13))
    for r in (r1, r2):
        assert "refused" not in r.metrics.items and "tx_failed" not in r.metrics.items


def test_shards_split_the_sequences(echo: EchoApp) -> None:
    w = make_world(echo)
    for i in range(6):
        w.send(w.a, b"s %d" % i)
    even = w.relayer(shard=(0, 2))
    asyncio.run(run_until([even], lambda: w.pending(w.a) == [1, 3, 5]))
    odd = w.relayer(shard=(1, 2))
    asyncio.run(run_until([odd], lambda: not w.pending(w.a)))
    assert sorted(s for c, s in echo.received if c == "chain-b") == list(range(1, 7))


def test_an_ordered_channel_timeout_closes_it(echo: EchoApp) -> None:
    w = make_world(echo, order=ORDERED)
    w.send(w.a, b"one")
    r = w.relayer()
    asyncio.run(run_until([r], lambda: not w.pending(w.a)))
    w.send(w.a, b"late", timeout_height=w.b.height + 1)
    w.net.advance(w.b, 2)
    r = w.relayer()
    asyncio.run(run_until([r], lambda: not w.pending(w.a)))
    assert echo.timed_out == [("chain-a", 2)]
    end = read_channel(w.a.reader(), PORT, w.ids["a_channel"])
    assert end is not None and end.state == CLOSED
    assert read_ack(w.b.reader(), PORT, w.ids["b_channel"], 1) is not None


def test_a_dropped_stream_and_a_node_outage_are_survived(echo: EchoApp) -> None:
    w = make_world(echo)
    r = w.relayer()

    async def faults() -> None:
        await asyncio.sleep(0.1)
        w.eb.down = True
        w.send(w.a, b"during outage")
        await asyncio.sleep(0.3)
        w.eb.down = False
        w.ea.drop_streams()
        w.send(w.a, b"after reconnect")

    asyncio.run(run_until([r], lambda: len(echo.acked) == 2 and not w.pending(w.a), during=faults))
    assert r.paths[0].last_error is not None  # the outage was seen and recorded


def test_an_idle_client_is_refreshed_after_a_third_of_its_trusting_period(echo: EchoApp) -> None:
    hour = 3_600_000
    w = make_world(echo, trusting_period_ms=hour)
    before_a = read_client(w.a.reader(), w.ids["a_client"])
    before_b = read_client(w.b.reader(), w.ids["b_client"])
    assert before_a is not None and before_b is not None
    # Nothing to relay; both chains move on 25 minutes (> 1/3 of the hour) since the clients' latest states.
    w.net.advance(w.a, 1, step_ms=25 * 60_000)
    w.net.advance(w.b, 1, step_ms=25 * 60_000)
    r = w.relayer()

    def refreshed() -> bool:
        a, b = read_client(w.a.reader(), w.ids["a_client"]), read_client(w.b.reader(), w.ids["b_client"])
        return bool(a and b and a.latest_height > before_a.latest_height and b.latest_height > before_b.latest_height)

    asyncio.run(run_until([r], refreshed))
    assert not r.metrics.items  # no item: updates alone


def test_a_client_younger_than_a_third_of_its_period_is_left_alone(echo: EchoApp) -> None:
    w = make_world(echo, trusting_period_ms=3_600_000)
    w.net.advance(w.a, 1, step_ms=15 * 60_000)
    w.net.advance(w.b, 1, step_ms=15 * 60_000)
    heights = (w.a.height, w.b.height)
    r = w.relayer()

    async def idle() -> None:
        await asyncio.sleep(0.5)

    asyncio.run(run_until([r], lambda: True, during=idle))
    assert (w.a.height, w.b.height) == heights  # nothing submitted


def test_a_backlog_goes_in_several_batches_within_the_event_budget(echo: EchoApp) -> None:
    w = make_world(echo)
    for i in range(130):
        w.send(w.a, b"backlog %d" % i)
    r = w.relayer()
    asyncio.run(run_until([r], lambda: not w.pending(w.a)))
    assert sorted(s for c, s in echo.received if c == "chain-b") == list(range(1, 131))
    relays = [t for t in w.eb.submitted if type(t.body.payload).__name__ == "Relay"]
    assert len(relays) >= 7 and all(len(t.body.payload.items) <= 20 for t in relays)  # type: ignore[union-attr]
    assert "deferred" not in r.metrics.items and "refused" not in r.metrics.items


def test_after_a_close_the_other_end_closes_and_its_packets_end_by_timeout_on_close(echo: EchoApp) -> None:
    w = make_world(echo, order=ORDERED)
    w.send(w.a, b"late", timeout_height=w.b.height + 1)
    w.net.advance(w.b, 2)
    r = w.relayer()
    r.directions = [d for d in r.directions if d.dst is w.ea]  # only into a: b's end stays OPEN for now
    a_closed = lambda: read_channel(w.a.reader(), PORT, w.ids["a_channel"]).state == CLOSED  # type: ignore[union-attr]  # noqa: E731
    asyncio.run(run_until([r], a_closed))
    w.send(w.b, b"into a closed end")  # b's end is still OPEN: the send is accepted there
    r = w.relayer()
    b_closed = lambda: read_channel(w.b.reader(), PORT, w.ids["b_channel"]).state == CLOSED  # type: ignore[union-attr]  # noqa: E731
    asyncio.run(run_until([r], lambda: b_closed() and not w.pending(w.b)))
    assert ("chain-b", 1) in echo.timed_out and not any(c == "chain-a" for c, _ in echo.received)
    assert "refused" not in r.metrics.items and r.paths[0].last_error is None


def test_an_unforeseen_failure_is_recorded_and_the_task_goes_on(echo: EchoApp) -> None:
    w = make_world(echo)
    w.send(w.a, b"after a surprise")
    real_head = w.eb.head
    calls = {"n": 0}

    async def flaky_head() -> object:
        calls["n"] += 1
        if calls["n"] <= 2:
            raise RuntimeError("surprise")
        return await real_head()

    w.eb.head = flaky_head  # type: ignore[method-assign]
    r = w.relayer()
    asyncio.run(run_until([r], lambda: not w.pending(w.a)))
    assert r.paths[0].last_error is not None and "surprise" in r.paths[0].last_error["message"]


# -- scheduling (shards, budget, legs) and the commit follower -----------------------------------------------------
def test_a_shard_pages_past_the_other_shards_packets_and_does_not_busy_loop(echo: EchoApp) -> None:
    w = make_world(echo)
    for i in range(12):
        w.send(w.a, b"odd %d" % i)
    # Alone, the odd shard with a 4-packet scan: the first 4 stored packets soon are even ones it must page past.
    odd = w.relayer(shard=(1, 2), scan_limit=4, scan_interval_s=30.0)
    cycles = {"n": 0}
    d = w.into(odd, w.b)
    real = d.cycle

    async def counted() -> object:
        cycles["n"] += 1
        return await real()

    d.cycle = counted  # type: ignore[method-assign]

    async def idle() -> None:
        await asyncio.sleep(0.5)

    asyncio.run(run_until([odd], lambda: w.pending(w.a) == [2, 4, 6, 8, 10, 12], timeout_s=10, during=idle))
    before = cycles["n"]
    asyncio.run(run_until([odd], lambda: True, during=idle))  # nothing actionable left in this shard
    assert cycles["n"] - before <= 2, cycles  # the start-up scan (and a woken one), no busy loop
    report = asyncio.run(real())
    assert not report.more and not report.items


def test_acknowledgements_get_their_share_before_a_backlog_of_receives(echo: EchoApp) -> None:
    w = make_world(echo)
    for i in range(4):
        w.send(w.a, b"a %d" % i)
    r = w.relayer()
    r.directions = [w.into(r, w.b)]  # only into b: a's packets are received there, their acks stay on b
    asyncio.run(run_until([r], lambda: len([1 for c, _ in echo.received if c == "chain-b"]) == 4))
    for i in range(40):
        w.send(w.b, b"b %d" % i)
    r = w.relayer(chain_kw={"max_items": 2})  # 2 items x 8 transactions: 16 per cycle
    report = asyncio.run(w.into(r, w.a).cycle())
    assert report.items.get("Acknowledge") == 4, report.items
    assert report.items.get("RecvPacket") == 12 and report.more


def test_the_first_channel_turns_so_a_second_one_is_not_starved(echo: EchoApp) -> None:
    w = make_world(echo)
    subs = Submitter(w.ea, signer("relayer")), Submitter(w.eb, signer("relayer"))
    a2, b2 = asyncio.run(
        handshake.open_channel(
            *subs,
            w.ids["a_connection"],
            w.ids["b_connection"],
            port=PORT,
            counterparty_port=PORT,
            order=UNORDERED,
            version="echo-1",
            a_client=w.ids["a_client"],
            b_client=w.ids["b_client"],
        )
    )
    for i in range(20):
        w.send(w.a, b"busy %d" % i)
    for i in range(3):
        w.send(w.a, b"quiet %d" % i, channel=a2)
    r = w.relayer(channels=[(w.ids["a_channel"], w.ids["b_channel"]), (a2, b2)], chain_kw={"max_items": 1})
    d = w.into(r, w.b)
    first = asyncio.run(d.cycle())
    second = asyncio.run(d.cycle())
    assert first.items == {"RecvPacket": 8} and second.items == {"RecvPacket": 8}
    assert all(has_receipt(w.b.reader(), PORT, b2, s) for s in (1, 2, 3))  # the second cycle started with it


def test_a_cycle_submits_at_most_max_batches_transactions(echo: EchoApp) -> None:
    w = make_world(echo)
    for i in range(30):
        w.send(w.a, b"big %d" % i)
    r = w.relayer(chain_kw={"max_tx_bytes": 2048})  # a few receives per transaction
    sizes: list[int] = []
    real = w.eb.submit_many

    async def recording(txs: list[bytes], timeout_s: float = 30.0) -> list[object]:
        sizes.append(len(txs))
        return await real(txs, timeout_s)  # type: ignore[return-value]

    w.eb.submit_many = recording  # type: ignore[assignment,method-assign]
    report = asyncio.run(w.into(r, w.b).cycle())
    assert sizes == [8] and report.more, (sizes, report)
    asyncio.run(run_until([r], lambda: not w.pending(w.a)))
    assert max(sizes) <= 8
    assert sorted(s for c, s in echo.received if c == "chain-b") == list(range(1, 31))


def test_a_commit_follower_that_fails_is_restarted(echo: EchoApp) -> None:
    w = make_world(echo)
    real = w.ea.commits
    opened = {"n": 0}

    async def broken() -> AsyncIterator[object]:
        opened["n"] += 1
        if opened["n"] == 1:
            raise TypeError("a stream line nobody foresaw")
        async for c in real():
            yield c

    w.ea.commits = broken  # type: ignore[assignment,method-assign]
    r = w.relayer(scan_interval_s=30.0)  # no periodic scan in time: only the follower can wake the task

    async def later() -> None:
        await asyncio.sleep(1.5)  # the start-up scan is over; the follower failed and was reopened
        w.send(w.a, b"after the failure")

    asyncio.run(run_until([r], lambda: len(echo.acked) == 1, timeout_s=10, during=later))
    assert opened["n"] >= 2


def test_a_commit_follower_that_ends_is_started_again_by_the_task(echo: EchoApp) -> None:
    w = make_world(echo)
    r = w.relayer(scan_interval_s=30.0)
    d = w.into(r, w.b)
    real = d._follow
    started = {"n": 0}

    async def follow(wake: asyncio.Event) -> None:
        started["n"] += 1
        if started["n"] > 1:
            await real(wake)
        await asyncio.sleep(0.5)  # the first one ends while the task waits for work

    d._follow = follow  # type: ignore[method-assign]

    async def later() -> None:
        await asyncio.sleep(1.5)
        w.send(w.a, b"after the follower ended")

    asyncio.run(run_until([r], lambda: has_receipt(w.b.reader(), PORT, w.ids["b_channel"], 1), 10, during=later))
    assert started["n"] == 2


def test_a_long_listing_with_nothing_to_carry_does_not_ask_for_another_cycle(echo: EchoApp) -> None:
    w = make_world(echo)
    for i in range(6):
        w.send(w.a, b"waiting for its ack %d" % i)
    r = w.relayer()
    r.directions = [w.into(r, w.b)]  # received on b; the acks are not carried back to a
    asyncio.run(run_until([r], lambda: len(echo.received) == 6))
    r = w.relayer(scan_limit=4)
    report = asyncio.run(w.into(r, w.b).cycle())  # a's listing stops at 4 of 6, all of them received already
    assert not report.items and not report.more, report


def test_a_receipt_seen_is_not_asked_about_again(echo: EchoApp) -> None:
    """Receipts are permanent: once a cycle saw packets received on B (their acks not yet back on A), later cycles
    ask B only about packets not seen received, so a cycle's reads do not grow with the backlog of acks."""
    w = make_world(echo)
    for i in range(30):
        w.send(w.a, b"once %d" % i)
    r = w.relayer()
    into_b = next(d for d in r.directions if d.dst is w.eb)
    asked: list[bytes] = []
    real_state = w.eb.state

    async def counting(key: bytes, height: int | None = None, prove: bool = False) -> StateRead:
        if key.startswith(b"interchain/receipt/"):
            asked.append(key)
        return await real_state(key, height, prove)

    w.eb.state = counting  # type: ignore[method-assign]
    asyncio.run(into_b.cycle())  # receives all 30 on B; their acks stay on B until the other direction runs
    assert len(asked) == 30 and len(w.pending(w.a)) == 30
    asked.clear()
    w.send(w.a, b"new")
    asyncio.run(into_b.cycle())
    assert [int.from_bytes(k[-8:], "big") for k in asked] == [31]  # only the packet not yet seen received
