"""Conservation of value across three chains with routed transfers (docs/spec/transfer.md 4.6 and 5; ADR 0016
section 2).

Sub-chains A and C joined to hub H (``tests/fixtures/three_chains.py``), driven by a Hypothesis state machine:
random direct ``transfer.send`` on either path both ways and routed ``transfer.send_via`` A -> H -> C and C -> H -> A
(the native currencies and any voucher held, amounts past the balance, height and time timeouts on both hops,
second-hop timeouts that do not fit the first hop), honest relays of packets, acks and due timeouts in any order,
empty blocks, and a switch that makes a chain refuse every receive (its transfer app raises: an error ack).

After every step, per chain: ``Σ acct balances + Σ escrow/*`` never changes (nobody mints); per voucher
``Σ balances + Σ vescrow = supply``; every forwarding record has its second-hop packet stored on the hub and its
first hop received there with no ack yet, and every second-hop link has its record. Whenever every packet has been
settled (the ``settle`` rule, and at the end): no forwarding record is left and, for each chain X, the native units
X holds in escrow equal the vouchers of X's native held by accounts anywhere (their trace followed hop by hop back
to X): on origin + escrow = sum of vouchers everywhere.

Once in a run the hub's client of C freezes (governance untrust, as ``hub.retire`` does, or misbehaviour: two
headers of C at one height) while forwards may be pending. From then on nothing from C is proven on the hub (the
relays that need it are not run), forwards toward C are ended by ``transfer.expire_forward`` once the hub's clock
passes their second hop's timeout, and a recovery of the client is refused after an expiry (interchain.md 5.5).
Conservation then counts *redeemable* value: vouchers on C (all came through the hub) are lost to C, not counted
(C may hold the vouchers of an expired hop whose origin was refunded: they can never come back, so nothing is
paid twice); value the hub sent to C in a packet that can no longer end is counted where it was locked (the hub's
escrow, or C's own escrow if C has not received the packet of its returning vouchers).
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tests.fixtures import three_chains as tcs
from tests.fixtures import two_chains as tc
from tests.fixtures.chain_sim import ADMIN, SimChain
from tests.property.test_transfer_conservation import denoms, native_total, voucher_sums
from trellis.core.codec import decode
from trellis.core.execution.context import TxContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import Event, Receipt
from trellis.core.modules.interchain.messages import (
    Ack,
    Packet,
    RecoverClient,
    SubmitMisbehaviour,
    UntrustChain,
)
from trellis.core.modules.interchain.proofs import client_status
from trellis.core.modules.interchain.state import expired_count, has_receipt, read_ack, read_client, read_packet
from trellis.core.modules.membership.messages import ProposeMembership, RegisterCert
from trellis.core.modules.transfer.app import FORWARD_MARGIN_MS, TransferApp, packet_data
from trellis.core.modules.transfer.messages import Forward, TransferExpireForward, TransferSend, TransferSendVia
from trellis.core.modules.transfer.state import (
    BALANCE_PREFIX,
    ESCROW_PREFIX,
    FWDOUT_PREFIX,
    all_traces,
    denom_hash,
    forwards,
    read_forward,
    voucher_balance,
)
from trellis.core.modules.transfer.state import ForwardRef as Ref

FUNDS = {"alice": 5_000, "bob": 5_000}
NAMES = sorted(FUNDS)
PORT = "transfer"
REFUSALS = (
    ResultCode.INSUFFICIENT_FUNDS,
    ResultCode.INVALID_DENOM,
    ResultCode.INVALID_CHANGE,  # a second-hop timeout that does not fit the first hop's
    ResultCode.PACKET_TIMED_OUT,
)


class Refusing(TransferApp):
    """The transfer app, raising on every receive on the chains in ``refuse`` (an error ack)."""

    def __init__(self) -> None:
        self.refuse: set[str] = set()

    def on_recv(self, ctx: TxContext, packet: Packet) -> tuple[Ack | None, list[Event]]:
        if ctx.params.chain_id in self.refuse:
            raise TxFailure(ResultCode.INVALID_CHANGE, "refusing receives for now")
        return super().on_recv(ctx, packet)


def account_vouchers(chain: SimChain) -> dict[str, int]:
    """Full denom -> Σ balances held by accounts (escrowed vouchers excluded)."""
    names = {dh: f"{t.path}/{t.base}" for dh, t in all_traces(chain.reader(), 10_000)}
    out: dict[str, int] = {}
    for k, v in chain.reader().scan(BALANCE_PREFIX, BALANCE_PREFIX + b"\xff", 1_000_000):
        denom = names[k[len(BALANCE_PREFIX) : len(BALANCE_PREFIX) + 32]]
        out[denom] = out.get(denom, 0) + int.from_bytes(v, "big")
    return out


class RoutedTransfers(RuleBasedStateMachine):
    """Random direct and routed transfers over a star, failures and timeouts; conservation after every step."""

    def __init__(self) -> None:
        super().__init__()
        self.app = Refusing()
        self._apps = tc.packet_apps({PORT: self.app})
        self._apps.__enter__()
        self.s = tcs.star(FUNDS, prefix="cons3")
        self.totals = {c.chain_id: native_total(c) for c in self.s.chains}
        self.across = {}
        for path in self.s.paths:
            self.across[(path.a.chain_id, path.a.channel)] = self.chain(path.b.chain_id)
            self.across[(path.b.chain_id, path.b.channel)] = self.chain(path.a.chain_id)
        self.routed = 0
        self.frozen = False
        """The hub's client of C is frozen (for ever: a recovery after an expiry is refused)."""
        self.expired = 0
        self.duplicated: dict[str, int] = {c.chain_id: 0 for c in self.s.chains}
        """Per origin chain: the value of expired second hops C had received (C's credit stands, the origin was
        refunded)."""

    def teardown(self) -> None:
        try:
            self.app.refuse.clear()
            self.settle()
        finally:
            self._apps.__exit__(None, None, None)

    def chain(self, chain_id: str) -> SimChain:
        return next(c for c in self.s.chains if c.chain_id == chain_id)

    def _amount(self, src: SimChain, sender: str, denom: str, percent: int) -> int:
        holder = src.address(sender)
        if denom == "native":
            held = src.balance(holder)
        else:
            held = voucher_balance(src.reader(), denom_hash(src.params.suite, denom), holder)
        return max(1, held * percent // 100)  # past the holding now and then: INSUFFICIENT_FUNDS

    def _submit(self, src: SimChain, sender: str, msg: TransferSend | TransferSendVia) -> Receipt:
        r = src.submit(sender, msg)
        frozen_out = self.frozen and src is self.s.h and msg.channel == self.s.ch.end(src).channel
        assert r.code == 0 or r.code in REFUSALS or (frozen_out and r.code == ResultCode.CLIENT_FROZEN), (
            r.code,
            r.message,
        )
        if frozen_out:
            assert r.code != 0  # the hub sends nothing more to C
        return r

    # -- sends -----------------------------------------------------------------------------------------------------
    @rule(
        which=st.sampled_from(["a>h", "h>a", "c>h", "h>c"]),
        sender=st.sampled_from(NAMES),
        receiver=st.sampled_from(NAMES),
        pick=st.integers(0, 50),
        percent=st.integers(1, 110),
        by_height=st.booleans(),
        wait=st.integers(1, 40),
    )
    def send(self, which: str, sender: str, receiver: str, pick: int, percent: int, by_height: bool, wait: int) -> None:
        s = self.s
        src, dst, path = {
            "a>h": (s.a, s.h, s.ah),
            "h>a": (s.h, s.a, s.ah),
            "c>h": (s.c, s.h, s.ch),
            "h>c": (s.h, s.c, s.ch),
        }[which]
        options = denoms(src)
        denom = options[pick % len(options)]
        msg = TransferSend(
            channel=path.end(src).channel,
            denom=denom,
            amount=self._amount(src, sender, denom, percent),
            receiver=dst.address(receiver),
            timeout_height=dst.height + wait if by_height else 0,
            timeout_time_ms=0 if by_height else dst.time_ms + wait * dst.block_interval_ms,
        )
        self._submit(src, sender, msg)

    @rule(
        from_a=st.booleans(),
        sender=st.sampled_from(NAMES),
        receiver=st.sampled_from(NAMES),
        pick=st.integers(0, 50),
        percent=st.integers(1, 110),
        first_by_height=st.booleans(),
        first_wait=st.integers(1, 60),
        second_wait=st.integers(1, 40),
        slack_s=st.integers(-10, 30),
    )
    def send_via(
        self,
        from_a: bool,
        sender: str,
        receiver: str,
        pick: int,
        percent: int,
        first_by_height: bool,
        first_wait: int,
        second_wait: int,
        slack_s: int,
    ) -> None:
        s = self.s
        src, dst, path, out = (s.a, s.c, s.ah, s.ch) if from_a else (s.c, s.a, s.ch, s.ah)
        options = denoms(src)
        denom = options[pick % len(options)]
        forward_ms = dst.time_ms + second_wait * dst.block_interval_ms
        # The first hop ends margin + slack after the second (a negative slack breaks the margin: refused).
        first_ms = max(
            s.h.time_ms + first_wait * s.h.block_interval_ms, forward_ms + FORWARD_MARGIN_MS + slack_s * 1000
        )
        msg = TransferSendVia(
            channel=path.end(src).channel,
            denom=denom,
            amount=self._amount(src, sender, denom, percent),
            receiver=dst.address(receiver),
            forward=Forward(channel=out.end(s.h).channel, timeout_time_ms=forward_ms),
            timeout_height=s.h.height + first_wait if first_by_height else 0,
            timeout_time_ms=0 if first_by_height else first_ms,
        )
        if self._submit(src, sender, msg).code == 0:
            self.routed += 1

    # -- relaying, time, failures ------------------------------------------------------------------------------------
    @rule(path_i=st.integers(0, 1), up=st.booleans(), kind=st.sampled_from(["packets", "acks", "timeouts"]))
    def relay(self, path_i: int, up: bool, kind: str) -> None:
        """One honest relay step on one path: ``up`` is sub-chain -> hub for the packets' direction."""
        path = self.s.paths[path_i]
        sub, hub = self.s.ends(path)
        src, dst = (sub, hub) if up else (hub, sub)
        if self.frozen and path is self.s.ch and (up if kind == "packets" else not up):
            return  # it would be proven on the hub by its frozen client of C: refused (tested elsewhere)
        step = {"packets": tc.relay_packets, "acks": tc.relay_acks, "timeouts": tc.relay_timeouts}[kind]
        for r in step(src, dst, path):
            assert r.code == 0, r.message
            assert all(code == 0 for code in tc.item_codes(r)), (kind, tc.item_codes(r), r.events)

    @rule(which=st.integers(0, 2), blocks=st.integers(1, 10))
    def advance(self, which: int, blocks: int) -> None:
        self.s.chains[which].advance(blocks)

    @rule(which=st.integers(0, 2))
    def toggle_refusal(self, which: int) -> None:
        cid = self.s.chains[which].chain_id
        self.app.refuse ^= {cid}

    @rule(path_i=st.integers(0, 1))
    def deliver_refused(self, path_i: int) -> None:
        """The hub's packets on one path delivered while the sub-chain refuses them (second hops among them)."""
        path = self.s.paths[path_i]
        sub, hub = self.s.ends(path)
        was = set(self.app.refuse)
        self.app.refuse.add(sub.chain_id)
        try:
            for r in tc.relay_packets(hub, sub, path):
                assert all(code == 0 for code in tc.item_codes(r)), tc.item_codes(r)
        finally:
            self.app.refuse = was

    @precondition(lambda self: self.routed > 0)
    @rule()
    def settle(self) -> None:
        """Relay until no packet is pending anywhere (advancing every chain when nothing moves, so timeouts come
        due); then the global conservation holds and no forward is left."""
        s = self.s
        for _ in range(300):
            if not self._movable():
                break
            moved = False
            for path in s.paths:
                sub, hub = s.ends(path)
                if self.frozen and path is s.ch:
                    # Only what C proves to itself from the hub: the hub's packets, C's acks and timeouts.
                    rs = tc.relay_packets(hub, sub, path) + tc.relay_acks(sub, hub, path)
                    rs += tc.relay_timeouts(sub, hub, path)
                else:
                    rs = tc.relay_all(sub, hub, path)
                for r in rs:
                    moved = True
                    assert all(code == 0 for code in tc.item_codes(r)), (tc.item_codes(r), r.events)
            if self.frozen and self.expire_due() > 0:
                moved = True
            if not moved:
                for c in s.chains:
                    c.advance(1, 5_000)
        else:
            raise AssertionError("packets still pending after 300 rounds")
        assert forwards(s.h.reader(), 10) == []
        self.global_conservation()

    def _movable(self) -> bool:
        """Whether a packet is pending that can still end: any, before the freeze; after it, all but the hub's
        packets to C that are not second hops (nothing can prove their ack or timeout on the hub any more)."""
        s = self.s
        if not self.frozen:
            return any(tc.pending(c, p) for p in s.paths for c in s.ends(p))
        return bool(
            tc.pending(s.a, s.ah) or tc.pending(s.h, s.ah) or tc.pending(s.c, s.ch) or forwards(s.h.reader(), 1)
        )

    def _origin(self, chain: SimChain, denom: str) -> str:
        cur, d = chain, denom
        while d != "native":
            port, chan, d = d.split("/", 2)
            assert port == PORT
            cur = self.across[(cur.chain_id, chan)]
        return cur.chain_id

    def _credited_on_c(self, p: Packet) -> bool:
        """Whether C received the hub's packet ``p`` and its transfer app credited it (a success ack)."""
        ack = read_ack(self.s.c.reader(), PORT, p.dest_channel, p.sequence)
        return ack is not None and ack.code == 0

    def global_conservation(self) -> None:
        s = self.s
        held: dict[str, int] = {c.chain_id: 0 for c in s.chains}
        on_c: dict[str, int] = {c.chain_id: 0 for c in s.chains}
        for y in s.chains:
            for denom, amount in account_vouchers(y).items():
                (on_c if y is s.c else held)[self._origin(y, denom)] += amount
        locked = dict.fromkeys(held, 0)
        if self.frozen:
            # The hub's packets to C that can never end (not second hops: those expired) and that C did not credit:
            # their value stays where the send locked it (the hub's escrow, or C's for C's own native going home).
            for p in tc.pending(s.h, s.ch):
                if not self._credited_on_c(p):
                    data = packet_data(p)
                    locked[self._origin(s.h, data.denom)] += data.amount
        for x in s.chains:
            state = x.reader()
            escrow = sum(int.from_bytes(v, "big") for _, v in state.scan(ESCROW_PREFIX, ESCROW_PREFIX + b"\xff", 100))
            xid = x.chain_id
            # Exact: every escrowed unit backs one voucher or one locked packet, except the expired hops C credited.
            assert escrow == held[xid] + on_c[xid] + locked[xid] - self.duplicated[xid], (xid, escrow, held, on_c)
            if self.frozen:
                # Nothing redeemable is unbacked: vouchers on C and vouchers of C's native can never reach their
                # origin through the hub again (it proves nothing of C and sends nothing to C); all else is backed.
                assert xid == s.c.chain_id or escrow >= held[xid] + locked[xid], (xid, escrow, held, locked)
            else:
                assert self.duplicated[xid] == 0

    # -- the hub's client of C freezes; forwards toward C expire ------------------------------------------------------
    def _forwarding_to_c(self) -> bool:
        hub_end = self.s.ch.end(self.s.h).channel
        return any(rec.out_channel == hub_end for rec in forwards(self.s.h.reader(), 10_000))

    @precondition(lambda self: not self.frozen and self.routed > 0)
    @rule(misbehaviour=st.booleans(), delivered=st.booleans(), second_wait=st.integers(1, 40))
    def freeze_c(self, misbehaviour: bool, delivered: bool, second_wait: int) -> None:
        """While a forward toward C is pending: when none is, one is made (A -> H -> C, the first hop received by
        the hub; its second hop received by C or not)."""
        s = self.s
        if not self._forwarding_to_c():
            self.send_via(True, "alice", "bob", 0, 1, False, 60, second_wait, 10)
            self.relay(0, True, "packets")
            if delivered:
                self.relay(1, False, "packets")
        cid = s.ch.end(s.h).client_id
        if misbehaviour:
            fork = SimChain(s.c.chain_id, accounts=FUNDS)
            assert fork.genesis_bytes == s.c.genesis_bytes
            client = read_client(s.h.reader(), cid)
            assert client is not None
            height = max(s.c.height, client.latest_height + 2) + 1  # not adjacent: the fork's history differs
            s.c.advance(height - s.c.height)
            fork.advance(height - fork.height, time_step_ms=1_234)
            first, second = tc.update_message(s.h, s.c, cid, height), tc.update_message(s.h, fork, cid, height)
            assert first is not None and second is not None
            r = s.h.submit(tc.RELAYER, SubmitMisbehaviour(client_id=cid, first=first.update, second=second.update))
        else:  # what hub.retire does to a retired sub-chain's clients
            assert s.h.submit(ADMIN, RegisterCert(cert=s.h.admin_cert())).code == 0
            r = s.h.submit(ADMIN, ProposeMembership(change=UntrustChain(chain_id=s.c.chain_id)))
        assert r.code == 0, r.message
        assert client_status(s.h.reader(), cid, s.h.time_ms) == "frozen"
        self.frozen = True

    @precondition(lambda self: self.frozen)
    @rule()
    def expire(self) -> None:
        self.expire_due()

    def expire_due(self) -> int:
        """Anyone expires every forward toward C whose second hop's timeout time the hub's clock has passed; one
        not yet due is refused. After the first expiry a recovery of the client is refused."""
        s = self.s
        h, cid, hub_end = s.h, s.ch.end(s.h).client_id, s.ch.end(s.h).channel
        done = 0
        for rec in forwards(h.reader(), 10_000):
            if rec.out_channel != hub_end:
                continue
            out = read_packet(h.reader(), PORT, rec.out_channel, rec.out_sequence)
            assert out is not None
            r = h.submit("bob", TransferExpireForward(channel=rec.packet.dest_channel, sequence=rec.packet.sequence))
            if h.time_ms >= out.timeout_time_ms:
                assert r.code == 0, r.message
                done += 1
                if self._credited_on_c(out):
                    self.duplicated[self._origin(h, rec.denom)] += rec.amount
            else:
                assert r.code == int(ResultCode.TIMEOUT_NOT_DUE), r.message
        self.expired += done
        assert expired_count(h.reader(), cid) == self.expired
        if done:
            s.c.advance(1)
            substitute = tc.create_client(h, s.c)  # open client policy
            h.submit(ADMIN, RegisterCert(cert=h.admin_cert()))  # refused when the untrust registered it
            r = h.submit(ADMIN, ProposeMembership(change=RecoverClient(subject=cid, substitute=substitute)))
            assert r.code == int(ResultCode.INVALID_CHANGE) and "expired while it was frozen" in r.message, r
            assert client_status(h.reader(), cid, h.time_ms) == "frozen"
        return done

    # -- invariants ------------------------------------------------------------------------------------------------
    @invariant()
    def native_totals_are_constant(self) -> None:
        for c in self.s.chains:
            assert native_total(c) == self.totals[c.chain_id], c.chain_id

    @invariant()
    def voucher_balances_add_up_to_supply(self) -> None:
        for c in self.s.chains:
            balances, supply = voucher_sums(c)
            assert {k: v for k, v in balances.items() if v} == {k: v for k, v in supply.items() if v}, c.chain_id

    @invariant()
    def every_forward_waits_for_its_second_hop(self) -> None:
        h = self.s.h
        state = h.reader()
        records = forwards(state, 10_000)
        for rec in records:
            first = rec.packet
            assert read_packet(state, PORT, rec.out_channel, rec.out_sequence) is not None
            assert has_receipt(state, PORT, first.dest_channel, first.sequence)
            assert read_ack(state, PORT, first.dest_channel, first.sequence) is None
        links = state.scan(FWDOUT_PREFIX, FWDOUT_PREFIX + b"\xff", 10_000)
        assert len(links) == len(records)
        for _, v in links:
            ref = decode(v, Ref)
            assert read_forward(state, ref.channel, ref.sequence) is not None


RoutedTransfers.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_transfer_forward_conservation = RoutedTransfers.TestCase
