"""Conservation of value across two chains (docs/spec/transfer.md 5; ADR 0015 sections 7 and 12).

Two in-process chains (``tests/fixtures/chain_sim.py``) joined by two transfer channels over one connection
(``tests/fixtures/two_chains.py``), driven by a Hypothesis state machine: random ``transfer.send`` both ways (the
native currency, vouchers going home, vouchers forwarded over the other channel, amounts past the balance,
height and time timeouts), honest relays of packets, acks and due timeouts in any order, empty blocks to let
timeouts pass, and adversarial relay items that the chains must refuse with their code while changing nothing:
a replayed receive (``ALREADY_RECEIVED``), a replayed ack (``PACKET_NOT_PENDING``), a mutated packet or a
forged ack (``INVALID_PROOF``), a timeout claimed before it is due (``TIMEOUT_NOT_DUE``).

After every step, for each channel pair (c on X, c' on Y) and each denomination d that X can escrow over c:
``escrowed_X(c, d) = supply_Y(transfer/c'/d) + inflight(X→Y, d) + inflight(Y→X, transfer/c'/d)``; per chain,
``Σ acct balances + Σ escrow/*`` never changes (nobody mints); per voucher, ``Σ balances + Σ vescrow = supply``.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tests.fixtures import two_chains as tc
from tests.fixtures.chain_sim import SimChain
from trellis.core.codec import decode, encode
from trellis.core.execution.context import StateReader
from trellis.core.execution.results import ResultCode
from trellis.core.ledger.block import Receipt
from trellis.core.modules.accounts.state import ACCOUNT_PREFIX, Account
from trellis.core.modules.interchain.messages import (
    UNORDERED,
    Ack,
    Acknowledge,
    ChanOpenInit,
    Packet,
    RecvPacket,
    Relay,
    RelayItem,
    Timeout,
)
from trellis.core.modules.interchain.state import read_ack
from trellis.core.modules.transfer.denom import add_hop, full_denom, has_hop, is_valid, strip_hop
from trellis.core.modules.transfer.messages import VERSION, TransferData, TransferSend
from trellis.core.modules.transfer.state import (
    BALANCE_PREFIX,
    ESCROW_PREFIX,
    SUPPLY_PREFIX,
    VESCROW_PREFIX,
    all_traces,
    denom_hash,
    escrowed,
    voucher_balance,
    voucher_escrowed,
    voucher_supply,
)

FUNDS = {"alice": 5_000, "bob": 5_000}
NAMES = sorted(FUNDS)
PORT = "transfer"
EVERYTHING = (b"", b"\xff\xff")
CLIENT_KEYS = (b"interchain/client/", b"interchain/consensus/")
"""What a refused relay may still change: the client it updates (besides the relayer's nonce)."""


def _sum_prefix(state: StateReader, prefix: bytes) -> int:
    return sum(int.from_bytes(v, "big") for _, v in state.scan(prefix, prefix + b"\xff", 1_000_000))


def native_total(chain: SimChain) -> int:
    """Σ account balances + Σ native escrows."""
    state = chain.reader()
    accounts = sum(decode(v, Account).balance for _, v in state.scan(ACCOUNT_PREFIX, b"acct0", 1_000_000))
    return accounts + _sum_prefix(state, ESCROW_PREFIX)


def voucher_sums(chain: SimChain) -> tuple[dict[bytes, int], dict[bytes, int]]:
    """(Σ balances + Σ escrowed, supply) per voucher hash: a voucher forwarded onward stays in the supply."""
    state = chain.reader()
    balances: dict[bytes, int] = {}
    for k, v in state.scan(BALANCE_PREFIX, BALANCE_PREFIX + b"\xff", 1_000_000):
        dh = k[len(BALANCE_PREFIX) : len(BALANCE_PREFIX) + 32]
        balances[dh] = balances.get(dh, 0) + int.from_bytes(v, "big")
    for k, v in state.scan(VESCROW_PREFIX, VESCROW_PREFIX + b"\xff", 1_000_000):
        dh = k[-32:]
        balances[dh] = balances.get(dh, 0) + int.from_bytes(v, "big")
    supply = {
        k[len(SUPPLY_PREFIX) :]: int.from_bytes(v, "big")
        for k, v in state.scan(SUPPLY_PREFIX, SUPPLY_PREFIX + b"\xff", 1_000_000)
    }
    return balances, supply


def denoms(chain: SimChain) -> list[str]:
    """``native`` and every voucher ``chain`` ever minted."""
    return ["native", *sorted(full_denom(t) for _, t in all_traces(chain.reader(), 10_000))]


def value_state(chain: SimChain, signer: str = tc.RELAYER) -> dict[bytes, bytes]:
    """The whole state but the light clients, with the nonce of ``signer``'s account left out (a failed
    transaction advances it)."""
    signer_key = ACCOUNT_PREFIX + chain.address(signer)
    out = {k: v for k, v in chain.reader().scan(*EVERYTHING, 10_000_000) if not k.startswith(CLIENT_KEYS)}
    if signer_key in out:
        out[signer_key] = encode(decode(out[signer_key], Account).balance)
    return out


def data_of(packet: Packet) -> TransferData:
    return decode(packet.data, TransferData)


def inflight(src: SimChain, dst: SimChain, path: tc.Path, denom: str) -> int:
    """Σ amounts of ``denom`` packets ``src`` stores on ``path`` that ``dst`` has not successfully received."""
    d = path.end(dst)
    state = dst.reader()
    total = 0
    for packet in tc.pending(src, path):
        data = data_of(packet)
        if data.denom != denom:
            continue
        ack = read_ack(state, d.port, d.channel, packet.sequence)
        if ack is None or ack.code != 0:
            total += data.amount
    return total


class TwoChainTransfers(RuleBasedStateMachine):
    """Random transfers, honest and adversarial relays between two chains; conservation after every step."""

    def __init__(self) -> None:
        super().__init__()
        self.a = SimChain("cons-a", accounts=FUNDS)
        self.b = SimChain("cons-b", accounts=FUNDS)
        a, b = self.a, self.b
        client_a, client_b = tc.create_client(a, b), tc.create_client(b, a)
        conn_a, conn_b = tc.open_connection(a, b, client_a, client_b)
        # A handshake A starts and never finishes takes channel-0 there, so the two ends of each channel have
        # different ids (A's channel-1 is B's channel-0, A's channel-2 B's channel-1): a rule that confuses the
        # source and destination channel cannot pass unseen.
        dangling = ChanOpenInit(
            port=PORT, connection_id=conn_a, counterparty_port=PORT, order=UNORDERED, version=VERSION
        )
        assert a.submit(tc.RELAYER, dangling).code == 0
        self.paths = []
        for _ in range(2):
            ca, cb = tc.open_channel(a, b, client_a, client_b, conn_a, conn_b)
            self.paths.append(
                tc.Path(
                    a=tc.End(a.chain_id, client_a, conn_a, PORT, ca),
                    b=tc.End(b.chain_id, client_b, conn_b, PORT, cb),
                    order=UNORDERED,
                    version=VERSION,
                )
            )
        assert [(p.a.channel, p.b.channel) for p in self.paths] == [
            ("channel-1", "channel-0"),
            ("channel-2", "channel-1"),
        ]
        self.totals = {c.chain_id: native_total(c) for c in (self.a, self.b)}
        self.delivered: list[tuple[SimChain, RecvPacket]] = []
        """Receive items an honest relay delivered, with the chain they went to (for replays)."""
        self.acked: list[tuple[SimChain, Acknowledge]] = []
        """Ack items an honest relay delivered (for replays)."""
        self.sent = 0

    def _pair(self, forward: bool) -> tuple[SimChain, SimChain]:
        return (self.a, self.b) if forward else (self.b, self.a)

    def _refused(self, dst: SimChain, item: RelayItem, update_src: SimChain | None, *codes: ResultCode) -> None:
        """Submit ``item`` to ``dst`` (with a client update to ``update_src``'s tip if given): it must be refused
        with one of ``codes`` and leave every value, packet, receipt and ack as it was."""
        update = None
        if update_src is not None:
            client = next(p.end(dst).client_id for p in self.paths)
            update = tc.update_message(dst, update_src, client)
        before = value_state(dst)
        r = dst.submit(tc.RELAYER, Relay(update=update, items=[item]))
        assert r.code == 0, r.message  # the relay itself goes through; its item is refused
        assert len(tc.item_codes(r)) == 1 and tc.item_codes(r)[0] in codes, (tc.item_codes(r), r.events)
        assert value_state(dst) == before

    # -- sends -----------------------------------------------------------------------------------------------------
    @rule(
        forward=st.booleans(),
        path_i=st.integers(0, 1),
        sender=st.sampled_from(NAMES),
        receiver=st.sampled_from(NAMES),
        pick=st.integers(0, 50),
        percent=st.integers(1, 110),
        by_height=st.booleans(),
        wait=st.integers(1, 40),
    )
    def send(
        self,
        forward: bool,
        path_i: int,
        sender: str,
        receiver: str,
        pick: int,
        percent: int,
        by_height: bool,
        wait: int,
    ) -> None:
        src, dst = self._pair(forward)
        path = self.paths[path_i]
        options = denoms(src)
        denom = options[pick % len(options)]
        holder = src.address(sender)
        held = (
            src.balance(holder)
            if denom == "native"
            else voucher_balance(src.reader(), denom_hash(src.params.suite, denom), holder)
        )
        amount = max(1, held * percent // 100)  # past the holding now and then: INSUFFICIENT_FUNDS
        msg = TransferSend(
            channel=path.end(src).channel,
            denom=denom,
            amount=amount,
            receiver=dst.address(receiver),
            timeout_height=dst.height + wait if by_height else 0,
            timeout_time_ms=0 if by_height else dst.time_ms + wait * dst.block_interval_ms,
        )
        before = value_state(src, sender)
        r: Receipt = src.submit(sender, msg)
        if r.code != 0:
            assert r.code in (ResultCode.INSUFFICIENT_FUNDS, ResultCode.INVALID_DENOM), r
            assert value_state(src, sender) == before
        else:
            self.sent += 1

    # -- honest relaying -------------------------------------------------------------------------------------------
    def _relay_packets(self, src: SimChain, dst: SimChain, path: tc.Path) -> None:
        h = src.height
        items = tc.recv_items(src, dst, path, h)
        if not items:
            return
        update = tc.update_message(dst, src, path.end(dst).client_id, h)
        for i in range(0, len(items), tc.BATCH):
            batch = items[i : i + tc.BATCH]
            r = dst.submit(tc.RELAYER, Relay(update=update if i == 0 else None, items=batch))
            assert r.code == 0 and tc.item_codes(r) == [0] * len(batch), (r.message, tc.item_codes(r))
            self.delivered += [(dst, item) for item in batch if isinstance(item, RecvPacket)]

    def _relay_acks(self, src: SimChain, dst: SimChain, path: tc.Path) -> None:
        h = dst.height
        items = tc.ack_items(src, dst, path, h)
        if not items:
            return
        update = tc.update_message(src, dst, path.end(src).client_id, h)
        for i in range(0, len(items), tc.BATCH):
            batch = items[i : i + tc.BATCH]
            r = src.submit(tc.RELAYER, Relay(update=update if i == 0 else None, items=batch))
            assert r.code == 0 and tc.item_codes(r) == [0] * len(batch), (r.message, tc.item_codes(r))
            self.acked += [(src, item) for item in batch if isinstance(item, Acknowledge)]

    def _relay_timeouts(self, src: SimChain, dst: SimChain, path: tc.Path) -> None:
        for r in tc.relay_timeouts(src, dst, path):
            assert tc.item_codes(r) == [0] * len(tc.item_codes(r)), tc.item_codes(r)

    @rule(forward=st.booleans(), path_i=st.integers(0, 1), kind=st.sampled_from(["packets", "acks", "timeouts"]))
    def relay(self, forward: bool, path_i: int, kind: str) -> None:
        """One honest relay step: ``forward`` is A→B for the packets' direction (A sent them)."""
        src, dst = self._pair(forward)
        step = {"packets": self._relay_packets, "acks": self._relay_acks, "timeouts": self._relay_timeouts}[kind]
        step(src, dst, self.paths[path_i])

    @rule()
    def relay_everything(self) -> None:
        for path in self.paths:
            for src, dst in ((self.a, self.b), (self.b, self.a)):
                self._relay_packets(src, dst, path)
            for src, dst in ((self.a, self.b), (self.b, self.a)):
                self._relay_acks(src, dst, path)
                self._relay_timeouts(src, dst, path)

    @rule(forward=st.booleans(), blocks=st.integers(1, 10))
    def advance(self, forward: bool, blocks: int) -> None:
        self._pair(forward)[0].advance(blocks)

    # -- adversarial relaying --------------------------------------------------------------------------------------
    @precondition(lambda self: bool(self.delivered))
    @rule(pick=st.integers(0, 1_000))
    def replay_recv(self, pick: int) -> None:
        dst, item = self.delivered[pick % len(self.delivered)]
        # Received once; by now it may also have passed its timeout (either refusal will do).
        self._refused(dst, item, None, ResultCode.ALREADY_RECEIVED, ResultCode.PACKET_TIMED_OUT)

    @precondition(lambda self: bool(self.acked))
    @rule(pick=st.integers(0, 1_000))
    def replay_ack(self, pick: int) -> None:
        src, item = self.acked[pick % len(self.acked)]
        self._refused(src, item, None, ResultCode.PACKET_NOT_PENDING)

    @rule(
        forward=st.booleans(),
        path_i=st.integers(0, 1),
        pick=st.integers(0, 1_000),
        how=st.sampled_from(["amount", "receiver", "denom", "sequence"]),
    )
    def relay_mutated_packet(self, forward: bool, path_i: int, pick: int, how: str) -> None:
        src, dst = self._pair(forward)
        path = self.paths[path_i]
        items = tc.recv_items(src, dst, path, src.height)
        if not items:
            return
        item = items[pick % len(items)]
        assert isinstance(item, RecvPacket)
        p, data = item.packet, data_of(item.packet)
        if how == "amount":
            data = TransferData(denom=data.denom, amount=data.amount + 1, sender=data.sender, receiver=data.receiver)
        elif how == "receiver":
            data = TransferData(denom=data.denom, amount=data.amount, sender=data.sender, receiver=bytes(20))
        elif how == "denom":
            forged = add_hop(data.denom, PORT, path.end(src).channel)
            if not is_valid(forged):
                return
            data = TransferData(denom=forged, amount=data.amount, sender=data.sender, receiver=data.receiver)
        mutated = Packet(
            sequence=p.sequence + (1_000 if how == "sequence" else 0),
            source_port=p.source_port,
            source_channel=p.source_channel,
            dest_port=p.dest_port,
            dest_channel=p.dest_channel,
            data=encode(data),
            timeout_height=p.timeout_height,
            timeout_time_ms=p.timeout_time_ms,
        )
        self._refused(dst, RecvPacket(packet=mutated, proof=item.proof), src, ResultCode.INVALID_PROOF)

    @rule(forward=st.booleans(), path_i=st.integers(0, 1), pick=st.integers(0, 1_000))
    def forge_ack(self, forward: bool, path_i: int, pick: int) -> None:
        """The opposite of the ack the destination wrote, with the real ack's proof."""
        src, dst = self._pair(forward)
        path = self.paths[path_i]
        items = tc.ack_items(src, dst, path, dst.height)
        if not items:
            return
        item = items[pick % len(items)]
        assert isinstance(item, Acknowledge)
        flipped = Ack(code=0, result=b"\x01") if item.ack.code != 0 else Ack(code=int(ResultCode.INSUFFICIENT_FUNDS))
        forged = Acknowledge(packet=item.packet, ack=flipped, proof=item.proof)
        self._refused(src, forged, dst, ResultCode.INVALID_PROOF)

    @rule(forward=st.booleans(), path_i=st.integers(0, 1), pick=st.integers(0, 1_000))
    def early_timeout(self, forward: bool, path_i: int, pick: int) -> None:
        src, dst = self._pair(forward)
        path = self.paths[path_i]
        h = dst.height
        t_h = dst.time_ms
        early = [
            p for p in tc.pending(src, path) if not tc.received(dst, path, p, h) and not tc.timed_out_at(dst, p, h, t_h)
        ]
        if not early:
            return
        packet = early[pick % len(early)]
        next_seq, proof = tc.not_received_proof(dst, path, packet, h)
        item = Timeout(packet=packet, next_seq_recv=next_seq, proof=proof)
        self._refused(src, item, dst, ResultCode.TIMEOUT_NOT_DUE)

    # -- invariants ------------------------------------------------------------------------------------------------
    @invariant()
    def native_totals_are_constant(self) -> None:
        for c in (self.a, self.b):
            assert native_total(c) == self.totals[c.chain_id], c.chain_id

    @invariant()
    def voucher_balances_add_up_to_supply(self) -> None:
        for c in (self.a, self.b):
            balances, supply = voucher_sums(c)
            assert {k: v for k, v in balances.items() if v} == {k: v for k, v in supply.items() if v}, c.chain_id

    @invariant()
    def escrow_matches_the_other_side(self) -> None:
        for x, y in ((self.a, self.b), (self.b, self.a)):
            for path in self.paths:
                c, c2 = path.end(x).channel, path.end(y).channel
                names = set(denoms(x))
                names |= {strip_hop(v, PORT, c2) for v in denoms(y) if has_hop(v, PORT, c2)}
                # A voucher that came in over c goes home when sent over c: burned, never escrowed there (its
                # packets are the last term of the other direction's equation).
                names = {d for d in names if not has_hop(d, PORT, c)}
                sx, sy = x.reader(), y.reader()
                for d in sorted(names):
                    held = escrowed(sx, c) if d == "native" else voucher_escrowed(sx, c, denom_hash(x.params.suite, d))
                    mirror = add_hop(d, PORT, c2)
                    out = voucher_supply(sy, denom_hash(y.params.suite, mirror))
                    going = inflight(x, y, path, d)
                    coming = inflight(y, x, path, mirror)
                    assert held == out + going + coming, (x.chain_id, c, d, held, out, going, coming)


TwoChainTransfers.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_transfer_conservation = TwoChainTransfers.TestCase
