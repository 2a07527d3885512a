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
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tests.fixtures import three_chains as tcs
from tests.fixtures import two_chains as tc
from tests.fixtures.chain_sim import SimChain
from tests.property.test_transfer_conservation import denoms, native_total, voucher_sums
from trellis.core.codec import decode
from trellis.core.execution.context import TxContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import Event, Receipt
from trellis.core.modules.interchain.messages import Ack, Packet
from trellis.core.modules.interchain.state import has_receipt, read_ack, read_packet
from trellis.core.modules.transfer.app import FORWARD_MARGIN_MS, TransferApp
from trellis.core.modules.transfer.messages import Forward, TransferSend, TransferSendVia
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
        assert r.code == 0 or r.code in REFUSALS, (r.code, r.message)
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
            if not any(tc.pending(c, p) for p in s.paths for c in s.ends(p)):
                break
            moved = False
            for path in s.paths:
                sub, hub = s.ends(path)
                for r in tc.relay_all(sub, hub, path):
                    moved = True
                    assert all(code == 0 for code in tc.item_codes(r)), (tc.item_codes(r), r.events)
            if not moved:
                for c in s.chains:
                    c.advance(1, 5_000)
        else:
            raise AssertionError("packets still pending after 300 rounds")
        assert forwards(s.h.reader(), 10) == []
        self.global_conservation()

    def global_conservation(self) -> None:
        held: dict[str, int] = {c.chain_id: 0 for c in self.s.chains}
        for y in self.s.chains:
            for denom, amount in account_vouchers(y).items():
                cur, d = y, denom
                while d != "native":
                    port, chan, d = d.split("/", 2)
                    assert port == PORT
                    cur = self.across[(cur.chain_id, chan)]
                held[cur.chain_id] += amount
        for x in self.s.chains:
            state = x.reader()
            escrow = sum(int.from_bytes(v, "big") for _, v in state.scan(ESCROW_PREFIX, ESCROW_PREFIX + b"\xff", 100))
            assert escrow == held[x.chain_id], (x.chain_id, escrow, held)

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
