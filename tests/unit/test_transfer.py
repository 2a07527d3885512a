"""The transfer module (docs/spec/transfer.md; ADR 0015 section 7): denomination traces, what ``transfer.send``
takes, what ``on_recv`` pays (or refuses with an error ack, writing nothing), the refunds of error acks and
timeouts, ``transfer.move``, the channel handshake checks. Callbacks and handlers run on a ``TxContext`` over a
dict; ``send_packet`` is replaced by a recorder where ``transfer.send`` runs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.chain_sim import SimChain
from trellis.core.codec import decode, encode
from trellis.core.execution.context import TxContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import Event, Receipt
from trellis.core.modules.accounts.state import Account, account_key
from trellis.core.modules.interchain.messages import ORDERED, UNORDERED, Ack, Packet
from trellis.core.modules.interchain.state import NEXT_IDS_KEY, NextIds
from trellis.core.modules.transfer import denom as dn
from trellis.core.modules.transfer import handlers
from trellis.core.modules.transfer.app import SUCCESS_RESULT, TransferApp, give_back, take
from trellis.core.modules.transfer.messages import VERSION, TransferData, TransferMove, TransferSend
from trellis.core.modules.transfer.state import (
    DenomTrace,
    balance_key,
    denom_hash,
    escrowed,
    read_trace,
    vescrow_key,
    voucher_balance,
    voucher_escrowed,
    voucher_supply,
)
from trellis.core.types import U64_MAX

CHAIN = SimChain("transfer-unit", accounts={"alice": 1000})
PARAMS = CHAIN.params
SUITE = PARAMS.suite
ALICE = CHAIN.address("alice")
BOB = CHAIN.address("bob")
APP = TransferApp()
V0 = "transfer/channel-0/native"  # what this chain mints for the counterparty's native over channel-0
D0 = denom_hash(SUITE, V0)


def ctx_over(state: dict[bytes, bytes], sender: bytes = ALICE) -> TxContext:
    """A context whose writes go straight into ``state`` (as a transaction's would before it is kept)."""

    def put(key: bytes, value: bytes | None) -> None:
        if value is None:
            state.pop(key, None)
        else:
            state[key] = value

    def scan(start: bytes, end: bytes, limit: int) -> tuple[list[tuple[bytes, bytes]], int]:
        return sorted((k, v) for k, v in state.items() if start <= k < end)[:limit], 0

    return TxContext(sender, PARAMS, 10, state.get, put, nonce=3, time_ms=CHAIN.time_ms, scan=scan)


def fresh(balance: int = 1000, nonce: int = 5, channels: int = 3) -> dict[bytes, bytes]:
    """Alice holds ``balance`` (nonce ``nonce``); ``channels`` channel ids exist."""
    return {
        account_key(ALICE): encode(Account(balance=balance, nonce=nonce)),
        NEXT_IDS_KEY: encode(NextIds(client=1, connection=1, channel=channels)),
    }


def acct(state: dict[bytes, bytes], who: bytes) -> Account:
    raw = state.get(account_key(who))
    return Account(balance=0, nonce=0) if raw is None else decode(raw, Account)


def packet(
    denom: str,
    amount: int,
    *,
    sender: bytes = ALICE,
    receiver: bytes = BOB,
    src: str = "channel-0",
    dst: str = "channel-0",
    seq: int = 1,
    data: bytes | None = None,
) -> Packet:
    """A packet from ``(transfer, src)`` to ``(transfer, dst)``."""
    if data is None:
        data = encode(TransferData(denom=denom, amount=amount, sender=sender, receiver=receiver))
    return Packet(
        sequence=seq,
        source_port="transfer",
        source_channel=src,
        dest_port="transfer",
        dest_channel=dst,
        data=data,
        timeout_height=100,
        timeout_time_ms=0,
    )


def code_of(fn: Any, *args: Any) -> ResultCode:
    with pytest.raises(TxFailure) as exc:
        fn(*args)
    return exc.value.code


def mint_v0(state: dict[bytes, bytes], who: bytes, amount: int) -> None:
    """``who`` receives ``amount`` of the counterparty's native over this chain's channel-0 (a voucher)."""
    ack, _ = APP.on_recv(ctx_over(state), packet("native", amount, receiver=who, src="channel-9", dst="channel-0"))
    assert ack.code == 0, ack


# -- denominations -------------------------------------------------------------------------------------------------
def test_denom_traces() -> None:
    assert dn.trace_of("native") == DenomTrace(path="", base="native")
    assert dn.trace_of(V0) == DenomTrace(path="transfer/channel-0", base="native")
    two = "transfer/channel-12/transfer/channel-0/native"
    assert dn.trace_of(two) == DenomTrace(path="transfer/channel-12/transfer/channel-0", base="native")
    assert dn.full_denom(dn.trace_of(two)) == two and dn.full_denom(dn.trace_of("native")) == "native"
    for bad in ("", "transfer/native", "transfer/channel-01/native", "Transfer/channel-0/x", "a/b", "x" * 65, "/x"):
        assert not dn.is_valid(bad), bad
        with pytest.raises(ValueError):
            dn.trace_of(bad)
    assert dn.is_valid("transfer/channel-0/" * 27 + "native") is False  # 519 characters > MAX_DENOM
    assert dn.has_hop(V0, "transfer", "channel-0") and not dn.has_hop(V0, "transfer", "channel-00")
    assert not dn.has_hop("transfer/channel-01/native", "transfer", "channel-0")
    assert dn.strip_hop(two, "transfer", "channel-12") == V0
    with pytest.raises(ValueError):
        dn.strip_hop(V0, "transfer", "channel-1")
    assert dn.add_hop(V0, "transfer", "channel-12") == two
    assert dn.is_voucher(V0) and not dn.is_voucher("native") and dn.is_native("native")


def test_denom_hashes_match_the_vectors() -> None:
    import json
    from pathlib import Path

    vectors = json.loads((Path(__file__).resolve().parents[1] / "vectors" / "transfer.json").read_text())
    for row in vectors["denoms"]:
        assert denom_hash(SUITE, row["denom"]).hex() == row["denom_hash"]
        if dn.is_voucher(row["denom"]):
            assert denom_hash(SUITE, dn.full_denom(dn.trace_of(row["denom"]))).hex() == row["denom_hash"]
    for row in vectors["voucher_escrow_keys"]:
        assert vescrow_key(row["channel"], bytes.fromhex(row["denom_hash"])).hex() == row["key"]


# -- the handshake -------------------------------------------------------------------------------------------------
def test_channel_open_needs_unordered_and_the_version() -> None:
    ctx = ctx_over({})
    APP.on_chan_open(ctx, UNORDERED, "transfer", VERSION)
    assert APP.version == VERSION == "trellis-transfer-1"
    assert code_of(APP.on_chan_open, ctx, ORDERED, "transfer", VERSION) == ResultCode.INVALID_HANDSHAKE
    assert code_of(APP.on_chan_open, ctx, UNORDERED, "transfer", "trellis-transfer-2") == ResultCode.INVALID_HANDSHAKE
    assert code_of(APP.on_chan_open, ctx, UNORDERED, "transfer", "") == ResultCode.INVALID_HANDSHAKE


# -- send: what it takes -------------------------------------------------------------------------------------------
def test_send_native_escrows_and_keeps_the_nonce() -> None:
    st = fresh()
    take(ctx_over(st), "transfer", "channel-0", "native", ALICE, 300)
    assert acct(st, ALICE) == Account(balance=700, nonce=5)
    assert escrowed(ctx_over(st), "channel-0") == 300
    take(ctx_over(st), "transfer", "channel-0", "native", ALICE, 700)
    assert acct(st, ALICE) == Account(balance=0, nonce=5) and escrowed(ctx_over(st), "channel-0") == 1000
    assert code_of(take, ctx_over(st), "transfer", "channel-0", "native", ALICE, 1) == ResultCode.INSUFFICIENT_FUNDS


def test_send_refusals() -> None:
    st = fresh()
    ctx = ctx_over(st)
    assert code_of(take, ctx, "transfer", "channel-0", "native", ALICE, 0) == ResultCode.INVALID_AMOUNT
    assert code_of(take, ctx, "transfer", "channel-0", "native", ALICE, 1001) == ResultCode.INSUFFICIENT_FUNDS
    assert code_of(take, ctx, "transfer", "channel-0", "gold", ALICE, 1) == ResultCode.INVALID_DENOM
    assert code_of(take, ctx, "transfer", "channel-0", "transfer/native", ALICE, 1) == ResultCode.INVALID_DENOM
    # A voucher this chain never minted (sink or not).
    assert code_of(take, ctx, "transfer", "channel-0", V0, ALICE, 1) == ResultCode.INVALID_DENOM
    assert code_of(take, ctx, "transfer", "channel-1", V0, ALICE, 1) == ResultCode.INVALID_DENOM
    # The escrow counter is checked against 2^64-1.
    st[b"transfer/escrow/channel-0"] = (U64_MAX - 5).to_bytes(8, "big")
    assert code_of(take, ctx_over(st), "transfer", "channel-0", "native", ALICE, 6) == ResultCode.OVERFLOW
    take(ctx_over(st), "transfer", "channel-0", "native", ALICE, 5)
    assert escrowed(ctx_over(st), "channel-0") == U64_MAX


def test_send_voucher_home_burns_it() -> None:
    st = fresh()
    mint_v0(st, ALICE, 50)
    take(ctx_over(st), "transfer", "channel-0", V0, ALICE, 20)
    ctx = ctx_over(st)
    assert voucher_balance(ctx, D0, ALICE) == 30 and voucher_supply(ctx, D0) == 30
    take(ctx_over(st), "transfer", "channel-0", V0, ALICE, 30)
    ctx = ctx_over(st)
    assert voucher_supply(ctx, D0) == 0 and voucher_balance(ctx, D0, ALICE) == 0
    assert read_trace(ctx, D0) == DenomTrace(path="transfer/channel-0", base="native")  # traces stay
    assert not any(k.startswith(b"transfer/balance/") or k.startswith(b"transfer/supply/") for k in st)  # 0: deleted
    assert code_of(take, ctx, "transfer", "channel-0", V0, ALICE, 1) == ResultCode.INSUFFICIENT_FUNDS


def test_send_voucher_onward_escrows_it() -> None:
    st = fresh()
    mint_v0(st, ALICE, 50)
    take(ctx_over(st), "transfer", "channel-2", V0, ALICE, 20)
    ctx = ctx_over(st)
    assert voucher_balance(ctx, D0, ALICE) == 30
    assert voucher_escrowed(ctx, "channel-2", D0) == 20
    assert voucher_supply(ctx, D0) == 50  # escrowed, not burned
    assert escrowed(ctx, "channel-2") == 0  # the native counter is for the native currency only


def test_handle_send_takes_then_commits_the_packet(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[str, str, bytes, int, int]] = []

    def fake_send(ctx: TxContext, port: str, channel: str, data: bytes, th: int, tt: int) -> tuple[Packet, list[Event]]:
        sent.append((port, channel, data, th, tt))
        p = Packet(
            sequence=7,
            source_port=port,
            source_channel=channel,
            dest_port="transfer",
            dest_channel="channel-4",
            data=data,
            timeout_height=th,
            timeout_time_ms=tt,
        )
        return p, [Event(type="interchain.send_packet", attributes=[])]

    monkeypatch.setattr(handlers, "send_packet", fake_send)
    st = fresh()
    msg = TransferSend(channel="channel-1", denom="native", amount=40, receiver=BOB, timeout_height=77)
    events = handlers.handle_send(ctx_over(st), msg)
    assert sent == [
        ("transfer", "channel-1", encode(TransferData(denom="native", amount=40, sender=ALICE, receiver=BOB)), 77, 0)
    ]
    assert [e.type for e in events] == ["interchain.send_packet", "transfer.send"]
    assert dict(events[1].attributes)["sequence"] == b"7"
    assert acct(st, ALICE).balance == 960 and escrowed(ctx_over(st), "channel-1") == 40
    # A failed take never reaches send_packet.
    with pytest.raises(TxFailure):
        handlers.handle_send(ctx_over(st), TransferSend(channel="channel-1", denom="native", amount=961, receiver=BOB))
    assert len(sent) == 1


# -- receive: what it pays -----------------------------------------------------------------------------------------
def test_recv_mints_a_voucher_with_its_trace() -> None:
    st = fresh()
    p = packet("native", 25, src="channel-9", dst="channel-0")
    ack, events = APP.on_recv(ctx_over(st), p)
    assert ack == Ack(code=0, result=SUCCESS_RESULT, reason="") and events == []
    ctx = ctx_over(st)
    assert voucher_balance(ctx, D0, BOB) == 25 and voucher_supply(ctx, D0) == 25
    assert read_trace(ctx, D0) == DenomTrace(path="transfer/channel-0", base="native")
    # A voucher of a voucher: one more hop, its own hash and trace.
    APP.on_recv(ctx_over(st), packet("transfer/channel-5/native", 3, src="channel-9", dst="channel-1"))
    two = denom_hash(SUITE, "transfer/channel-1/transfer/channel-5/native")
    assert read_trace(ctx_over(st), two) == DenomTrace(path="transfer/channel-1/transfer/channel-5", base="native")
    assert voucher_balance(ctx_over(st), two, BOB) == 3


def test_recv_home_releases_the_escrow() -> None:
    st = fresh()
    take(ctx_over(st), "transfer", "channel-0", "native", ALICE, 100)
    # The counterparty (its end channel-3) sends back what it minted as transfer/channel-3/native.
    ack, _ = APP.on_recv(ctx_over(st), packet("transfer/channel-3/native", 60, src="channel-3", dst="channel-0"))
    assert ack.code == 0
    assert escrowed(ctx_over(st), "channel-0") == 40 and acct(st, BOB) == Account(balance=60, nonce=0)
    # A voucher forwarded onward comes back from the channel's voucher escrow.
    mint_v0(st, ALICE, 50)
    take(ctx_over(st), "transfer", "channel-2", V0, ALICE, 20)
    ack, _ = APP.on_recv(ctx_over(st), packet("transfer/channel-8/" + V0, 15, src="channel-8", dst="channel-2"))
    assert ack.code == 0
    ctx = ctx_over(st)
    assert voucher_balance(ctx, D0, BOB) == 15 and voucher_escrowed(ctx, "channel-2", D0) == 5
    assert voucher_supply(ctx, D0) == 50


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("escrow_short", ResultCode.INSUFFICIENT_FUNDS),
        ("other_channel_escrow", ResultCode.INSUFFICIENT_FUNDS),
        ("voucher_escrow_short", ResultCode.INSUFFICIENT_FUNDS),
        ("unknown_voucher_home", ResultCode.INVALID_DENOM),
        ("bare_base_home", ResultCode.INVALID_DENOM),
        ("not_transfer_data", ResultCode.INVALID_DENOM),
        ("zero_amount", ResultCode.INVALID_DENOM),
        ("voucher_too_long", ResultCode.INVALID_DENOM),
        ("balance_overflow", ResultCode.OVERFLOW),
        ("supply_overflow", ResultCode.OVERFLOW),
    ],
)
def test_recv_errors_ack_and_write_nothing(case: str, code: ResultCode) -> None:
    st = fresh()
    take(ctx_over(st), "transfer", "channel-0", "native", ALICE, 100)
    mint_v0(st, ALICE, 50)
    take(ctx_over(st), "transfer", "channel-2", V0, ALICE, 20)
    home = "transfer/channel-3/"
    p = {
        "escrow_short": packet(home + "native", 101, src="channel-3"),
        "other_channel_escrow": packet(home + "native", 1, src="channel-3", dst="channel-1"),
        "voucher_escrow_short": packet(home + V0, 21, src="channel-3", dst="channel-2"),
        "unknown_voucher_home": packet(home + "transfer/channel-1/native", 1, src="channel-3"),
        "bare_base_home": packet(home + "gold", 1, src="channel-3"),
        "not_transfer_data": packet("native", 1, data=b"\x01"),
        "zero_amount": packet(
            "native", 1, data=encode(TransferData(denom="native", amount=0, sender=ALICE, receiver=BOB))
        ),
        "voucher_too_long": packet("transfer/channel-0/" * 25 + "a" * 30, 1, src="channel-9"),
        "balance_overflow": packet(home + "native", 1, src="channel-3", receiver=ALICE),
        "supply_overflow": packet("native", U64_MAX - 49, src="channel-9", receiver=BOB),
    }[case]
    if case == "balance_overflow":
        st[account_key(ALICE)] = encode(Account(balance=U64_MAX, nonce=5))
    before = dict(st)
    ack, events = APP.on_recv(ctx_over(st), p)
    assert ack.code == code, ack
    assert ack.reason and ack.result == b"" and events == []
    assert st == before


def test_recv_into_a_savepoint_leaves_the_parent_alone_on_error() -> None:
    st = fresh()
    parent = ctx_over(st)
    sp = parent.savepoint()
    assert APP.on_recv(sp, packet("transfer/channel-3/native", 5, src="channel-3"))[0].code != 0
    sp.commit()
    assert st == fresh()


# -- acks and timeouts: refunds ------------------------------------------------------------------------------------
def _sent(st: dict[bytes, bytes], denom: str, channel: str, amount: int) -> Packet:
    take(ctx_over(st), "transfer", channel, denom, ALICE, amount)
    return packet(denom, amount, src=channel, dst="channel-6")


@pytest.mark.parametrize("denom_channel", [("native", "channel-0"), (V0, "channel-0"), (V0, "channel-2")])
@pytest.mark.parametrize("outcome", ["error_ack", "timeout"])
def test_refund_gives_back_exactly_what_send_took(denom_channel: tuple[str, str], outcome: str) -> None:
    denom, channel = denom_channel
    st = fresh()
    mint_v0(st, ALICE, 50)
    before = dict(st)
    p = _sent(st, denom, channel, 30)
    assert st != before
    if outcome == "error_ack":
        events = APP.on_ack(ctx_over(st), p, Ack(code=int(ResultCode.INSUFFICIENT_FUNDS), reason="no"))
    else:
        events = APP.on_timeout(ctx_over(st), p)
    assert st == before
    refund = next(e for e in events if e.type == "transfer.refund")
    assert dict(refund.attributes)["amount"] == b"30" and dict(refund.attributes)["to"] == ALICE


@pytest.mark.parametrize("denom_channel", [("native", "channel-0"), (V0, "channel-0"), (V0, "channel-2")])
def test_a_success_ack_changes_nothing(denom_channel: tuple[str, str]) -> None:
    denom, channel = denom_channel
    st = fresh()
    mint_v0(st, ALICE, 50)
    p = _sent(st, denom, channel, 30)
    after_send = dict(st)
    events = APP.on_ack(ctx_over(st), p, Ack(code=0, result=SUCCESS_RESULT))
    assert st == after_send
    assert [e.type for e in events] == ["transfer.ack"]


def test_refund_of_a_burned_voucher_re_mints_it() -> None:
    st = fresh()
    mint_v0(st, ALICE, 50)
    p = _sent(st, V0, "channel-0", 50)
    assert voucher_supply(ctx_over(st), D0) == 0
    give_back(ctx_over(st), p, decode(p.data, TransferData))
    assert voucher_supply(ctx_over(st), D0) == 50 and voucher_balance(ctx_over(st), D0, ALICE) == 50


def test_refund_overflow_fails_and_keeps_the_packet_pending() -> None:
    st = fresh()
    p = _sent(st, "native", "channel-0", 30)
    st[account_key(ALICE)] = encode(Account(balance=U64_MAX - 29, nonce=5))
    assert code_of(APP.on_timeout, ctx_over(st), p) == ResultCode.OVERFLOW


# -- move ----------------------------------------------------------------------------------------------------------
def test_move_vouchers() -> None:
    st = fresh()
    mint_v0(st, ALICE, 50)
    events = handlers.handle_move(ctx_over(st), TransferMove(to=BOB, denom_hash=D0, amount=20))
    assert [e.type for e in events] == ["transfer.move"]
    ctx = ctx_over(st)
    assert voucher_balance(ctx, D0, ALICE) == 30 and voucher_balance(ctx, D0, BOB) == 20
    assert voucher_supply(ctx, D0) == 50
    handlers.handle_move(ctx_over(st), TransferMove(to=ALICE, denom_hash=D0, amount=30))  # to oneself
    assert voucher_balance(ctx_over(st), D0, ALICE) == 30
    assert acct(st, ALICE).nonce == 5


def test_move_refusals() -> None:
    st = fresh()
    mint_v0(st, ALICE, 50)
    move = handlers.handle_move
    assert code_of(move, ctx_over(st), TransferMove(to=BOB, denom_hash=D0, amount=51)) == ResultCode.INSUFFICIENT_FUNDS
    assert code_of(move, ctx_over(st), TransferMove(to=BOB, denom_hash=D0, amount=0)) == ResultCode.INVALID_AMOUNT
    unknown = denom_hash(SUITE, "transfer/channel-1/native")
    assert code_of(move, ctx_over(st), TransferMove(to=BOB, denom_hash=unknown, amount=1)) == ResultCode.INVALID_DENOM
    st[b"transfer/balance/" + D0 + BOB] = (U64_MAX).to_bytes(8, "big")
    assert code_of(move, ctx_over(st), TransferMove(to=BOB, denom_hash=D0, amount=1)) == ResultCode.OVERFLOW


# -- end to end over two in-process chains -------------------------------------------------------------------------
def test_round_trip_refunds_and_error_acks_over_two_chains() -> None:
    """Native A→B (voucher minted on B), part of it back (burned on B, released on A), a timeout refunded, and
    a send to B's escrow address refused by B with an error ack and refunded on A."""
    from tests.fixtures import two_chains as tc
    from trellis.core.modules.interchain.state import read_ack

    a = SimChain("xfer-a", accounts={"alice": 1000})
    b = SimChain("xfer-b", accounts={"bob": 10})
    path = tc.connect(a, b)
    ca, cb = path.a.channel, path.b.channel
    voucher = f"transfer/{cb}/native"
    vh = denom_hash(b.params.suite, voucher)

    def send(chain: SimChain, name: str, denom: str, amount: int, to: bytes, **timeout: int) -> Receipt:
        channel = path.end(chain).channel
        msg = TransferSend(channel=channel, denom=denom, amount=amount, receiver=to, **timeout)
        return chain.submit(name, msg)

    r = send(a, "alice", "native", 100, b.address("bob"), timeout_height=b.height + 20)
    assert r.code == 0, r.message
    assert [e.type for e in r.events] == ["interchain.send_packet", "transfer.send"]
    assert a.balance("alice") == 900 and escrowed(a.reader(), ca) == 100
    tc.relay_all(a, b, path)
    assert voucher_balance(b.reader(), vh, b.address("bob")) == 100 and voucher_supply(b.reader(), vh) == 100
    assert read_trace(b.reader(), vh) == DenomTrace(path=f"transfer/{cb}", base="native")
    assert tc.pending(a, path) == []  # acknowledged

    r = send(b, "bob", voucher, 40, a.address("alice"), timeout_height=a.height + 20)
    assert r.code == 0, r.message
    assert voucher_supply(b.reader(), vh) == 60  # burned on the way home
    tc.relay_all(a, b, path)
    assert a.balance("alice") == 940 and escrowed(a.reader(), ca) == 60

    # A timeout: B never receives it; A refunds exactly what it took, once.
    r = send(a, "alice", "native", 7, b.address("bob"), timeout_height=b.height + 2)
    assert r.code == 0 and a.balance("alice") == 933
    b.advance(3)
    tc.relay_all(a, b, path)
    assert a.balance("alice") == 940 and escrowed(a.reader(), ca) == 60 and tc.pending(a, path) == []
    refunds = [e for h in range(1, a.height + 1) for e in a.events(h, "transfer.refund")]
    assert [dict(e.attributes)["reason"] for e in refunds] == [b"timeout"]

    # An error ack: B cannot credit the receiver (its voucher balance would pass 2^64-1: set so directly in B's
    # state, which only this receive reads); A gets the amount back on the ack.
    carol = b.address("carol")
    b._st.state[balance_key(vh, carol)] = (U64_MAX - 2).to_bytes(8, "big")
    r = send(a, "alice", "native", 5, carol, timeout_height=b.height + 20)
    assert r.code == 0 and a.balance("alice") == 935
    seq = int(dict(r.events[-1].attributes)["sequence"])
    tc.relay_packets(a, b, path)
    ack = read_ack(b.reader(), "transfer", cb, seq)
    assert ack is not None and ack.code == ResultCode.OVERFLOW
    assert voucher_supply(b.reader(), vh) == 60
    tc.relay_acks(a, b, path)
    assert a.balance("alice") == 940 and escrowed(a.reader(), ca) == 60 and tc.pending(a, path) == []
    # A send the channel cannot carry fails whole: nothing is taken.
    r = send(a, "alice", "native", 1, b.address("bob"))
    assert r.code == ResultCode.INVALID_CHANGE, r
    assert a.balance("alice") == 940
