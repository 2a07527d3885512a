"""Routed transfers through a hub (docs/spec/transfer.md 4.6; ADR 0016 section 2): ``transfer.send_via`` on A, the
hub's forward with its first-hop ack pending, the second hop's ack, error ack or timeout completing the first hop
exactly once, and the hub's refusals (an error ack at once, nothing kept). Three ``SimChain``s in a star
(``tests/fixtures/three_chains.py``), every step a submitted transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.fixtures import three_chains as tcs
from tests.fixtures import two_chains as tc
from tests.fixtures.chain_sim import SimChain
from trellis.core.codec import encode
from trellis.core.execution.context import TxContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import Event
from trellis.core.modules.interchain.messages import Ack, Acknowledge, Packet, Relay
from trellis.core.modules.interchain.state import read_ack
from trellis.core.modules.transfer.app import FORWARD_MARGIN_MS, FORWARD_MAX_WAIT_MS, TransferApp
from trellis.core.modules.transfer.messages import Forward, ForwardedTransferData, TransferSend, TransferSendVia
from trellis.core.modules.transfer.state import (
    FORWARD_PREFIX,
    FWDOUT_PREFIX,
    denom_hash,
    escrowed,
    forwards,
    read_trace,
    voucher_balance,
    voucher_escrowed,
    voucher_supply,
)

FUNDS = {"alice": 10_000, "bob": 10_000}
MINUTE = 60_000


@pytest.fixture
def s() -> tcs.Star:
    return tcs.star(FUNDS, prefix="fwd")


def vbal(chain: SimChain, denom: str, who: str) -> int:
    return voucher_balance(chain.reader(), denom_hash(chain.params.suite, denom), chain.address(who))


def supply(chain: SimChain, denom: str) -> int:
    return voucher_supply(chain.reader(), denom_hash(chain.params.suite, denom))


def vescrow(chain: SimChain, channel: str, denom: str) -> int:
    return voucher_escrowed(chain.reader(), channel, denom_hash(chain.params.suite, denom))


def no_forward_state(chain: SimChain) -> bool:
    state = chain.reader()
    return not any(state.scan(p, p + b"\xff", 1) for p in (FORWARD_PREFIX, FWDOUT_PREFIX))


def send_via(
    s: tcs.Star,
    amount: int,
    *,
    src: SimChain | None = None,
    path: tc.Path | None = None,
    out: str | None = None,
    denom: str = "native",
    to: str = "bob",
    first_ms: int = 10 * MINUTE,
    second_ms: int = 5 * MINUTE,
    first_height: int = 0,
    sender: str = "alice",
) -> TransferSendVia:
    """``transfer.send_via`` from ``src`` (A) over ``path`` (A-H) to ``to`` on C through ``out`` (H's channel to C),
    timeouts relative to the hub's and C's latest block times."""
    src = src or s.a
    path = path or s.ah
    out = out if out is not None else s.ch.end(s.h).channel
    dest = s.c if src is s.a else s.a
    return TransferSendVia(
        channel=path.end(src).channel,
        denom=denom,
        amount=amount,
        receiver=dest.address(to),
        forward=Forward(channel=out, timeout_time_ms=dest.time_ms + second_ms),
        timeout_height=first_height,
        timeout_time_ms=0 if first_ms == 0 else s.h.time_ms + first_ms,
    )


def ok(chain: SimChain, who: str, msg: object) -> None:
    r = chain.submit(who, msg)  # type: ignore[arg-type]
    assert r.code == 0, r.message


def first_hop(s: tcs.Star) -> Packet:
    (p,) = tc.pending(s.a, s.ah)
    return p


def hub_ack(s: tcs.Star, p: Packet) -> Ack | None:
    return read_ack(s.h.reader(), "transfer", p.dest_channel, p.sequence)


# -- success ---------------------------------------------------------------------------------------------------------
def test_routed_native_arrives_as_a_two_hop_voucher(s: tcs.Star) -> None:
    a, h, c = s.chains
    ok(a, "alice", send_via(s, 700))
    a_ch, ha_ch, hc_ch, c_ch = s.ah.end(a).channel, s.ah.end(h).channel, s.ch.end(h).channel, s.ch.end(c).channel
    assert a.balance("alice") == 10_000 - 700 and escrowed(a.reader(), a_ch) == 700
    p = first_hop(s)

    # The first hop: received on the hub, forwarded, its ack pending (nothing for a relayer to carry back yet).
    tc.relay_packets(a, h, s.ah)
    assert tc.received(h, s.ah, p) and hub_ack(s, p) is None
    (rec,) = forwards(h.reader(), 10)
    hub_denom = f"transfer/{ha_ch}/native"
    assert (rec.packet, rec.denom, rec.amount, rec.out_channel) == (p, hub_denom, 700, hc_ch)
    assert supply(h, hub_denom) == 700 and vescrow(h, hc_ch, hub_denom) == 700  # minted, escrowed onward
    assert tc.relay_acks(a, h, s.ah) == [] and tc.relay_timeouts(a, h, s.ah) == []
    assert tc.pending(a, s.ah) == [p]

    # The second hop, its ack, then the first hop's ack written by the hub and relayed to A.
    tcs.settle(s)
    voucher = f"transfer/{c_ch}/transfer/{ha_ch}/native"
    assert voucher == "transfer/channel-0/transfer/channel-0/native"
    assert vbal(c, voucher, "bob") == 700 and supply(c, voucher) == 700
    trace = read_trace(c.reader(), denom_hash(c.params.suite, voucher))
    assert trace is not None and (trace.path, trace.base) == (f"transfer/{c_ch}/transfer/{ha_ch}", "native")
    ack = hub_ack(s, p)
    assert ack is not None and ack.code == 0
    assert tc.pending(a, s.ah) == [] and tc.pending(h, s.ch) == []
    assert a.balance("alice") == 10_000 - 700 and escrowed(a.reader(), a_ch) == 700
    assert supply(h, hub_denom) == 700 and vescrow(h, hc_ch, hub_denom) == 700
    assert no_forward_state(h)
    events = [e.type for height in range(1, h.height + 1) for e in h.events(height)]
    assert events.count("transfer.forward_done") == 1 and events.count("interchain.write_ack") == 1


def test_the_forward_shows_in_the_hub_receipt(s: tcs.Star) -> None:
    """The hub's receive of a routed first hop carries the second hop's ``interchain.send_packet`` and
    ``transfer.forwarded`` (in channel/sequence -> out channel/sequence), between ``recv_packet`` and the item's
    outcome; no ``write_ack`` (pending)."""
    a, h, c = s.chains
    ha_ch, hc_ch = s.ah.end(h).channel, s.ch.end(h).channel
    ok(a, "alice", send_via(s, 250))
    p = first_hop(s)
    (receipt,) = tc.relay_packets(a, h, s.ah)
    kinds = [e.type for e in receipt.events]
    at = kinds.index("interchain.recv_packet")
    assert kinds[at : at + 4] == [
        "interchain.recv_packet",
        "interchain.send_packet",
        "transfer.forwarded",
        "interchain.item",
    ]
    assert "interchain.write_ack" not in kinds
    (out,) = tc.pending(h, s.ch)
    send = dict(receipt.events[at + 1].attributes)
    assert send["source_channel"] == hc_ch.encode() and send["sequence"] == str(out.sequence).encode()
    assert send["packet"] == encode(out)
    fwd = dict(receipt.events[at + 2].attributes)
    assert fwd == {
        "in_channel": ha_ch.encode(),
        "in_sequence": str(p.sequence).encode(),
        "out_channel": hc_ch.encode(),
        "out_sequence": str(out.sequence).encode(),
        "denom": f"transfer/{ha_ch}/native".encode(),
        "amount": b"250",
        "receiver": c.address("bob"),
    }


def test_a_refused_forward_drops_the_apps_events(s: tcs.Star) -> None:
    """A forward the hub refuses (its channel is not open) is an error ack at once: no second-hop event."""
    a, h, _ = s.chains
    ok(a, "alice", send_via(s, 250, out="channel-7"))
    (receipt,) = tc.relay_packets(a, h, s.ah)
    kinds = [e.type for e in receipt.events]
    assert "interchain.send_packet" not in kinds and "transfer.forwarded" not in kinds
    assert "interchain.write_ack" in kinds


def test_a_routed_voucher_goes_home_through_the_hub(s: tcs.Star) -> None:
    """C's native to A through the hub, then back to C through the hub: every hop unwinds (burned on A, released
    from the hub's voucher escrow and burned there, released from C's native escrow)."""
    a, h, c = s.chains
    c_ch, hc_ch, ha_ch, a_ch = s.ch.end(c).channel, s.ch.end(h).channel, s.ah.end(h).channel, s.ah.end(a).channel
    ok(c, "bob", send_via(s, 300, src=c, path=s.ch, out=ha_ch, to="alice"))
    tcs.settle(s)
    on_a = f"transfer/{a_ch}/transfer/{hc_ch}/native"
    assert vbal(a, on_a, "alice") == 300 and c.balance("bob") == 10_000 - 300
    ok(a, "alice", send_via(s, 120, denom=on_a, to="bob"))
    tcs.settle(s)
    assert vbal(a, on_a, "alice") == 180 and supply(a, on_a) == 180
    on_h = f"transfer/{hc_ch}/native"
    assert supply(h, on_h) == 180 and vescrow(h, ha_ch, on_h) == 180
    assert c.balance("bob") == 10_000 - 300 + 120 and escrowed(c.reader(), c_ch) == 180
    assert no_forward_state(h)


# -- failures of the second hop ---------------------------------------------------------------------------------
class RefuseOn(TransferApp):
    """The transfer app, refusing every receive on the chains named (an error ack from C)."""

    def __init__(self, *chain_ids: str) -> None:
        self.refuse = set(chain_ids)

    def on_recv(self, ctx: TxContext, packet: Packet) -> tuple[Ack | None, list[Event]]:
        if ctx.params.chain_id in self.refuse:
            raise TxFailure(ResultCode.INVALID_CHANGE, "this chain refuses transfers today")
        return super().on_recv(ctx, packet)


@contextmanager
def c_refuses(s: tcs.Star) -> Iterator[None]:
    with tc.packet_apps({"transfer": RefuseOn(s.c.chain_id)}):
        yield


def test_second_hop_error_ack_refunds_the_origin_exactly_once(s: tcs.Star) -> None:
    a, h, c = s.chains
    ha_ch, hc_ch = s.ah.end(h).channel, s.ch.end(h).channel
    ok(a, "alice", send_via(s, 400))
    p = first_hop(s)
    with c_refuses(s):
        tcs.settle(s)
    ack = hub_ack(s, p)
    assert ack is not None and ack.code == int(ResultCode.INVALID_CHANGE)
    assert "refuses transfers today" in ack.reason and hc_ch in ack.reason
    assert a.balance("alice") == 10_000 and escrowed(a.reader(), s.ah.end(a).channel) == 0
    hub_denom = f"transfer/{ha_ch}/native"
    assert supply(h, hub_denom) == 0 and vescrow(h, hc_ch, hub_denom) == 0 and no_forward_state(h)
    assert supply(c, f"transfer/{s.ch.end(c).channel}/{hub_denom}") == 0
    # The ack again: the packet is gone at A, nothing is refunded twice.
    item = Acknowledge(packet=p, ack=ack, proof=h.prove(tc.ack_key("transfer", p.dest_channel, p.sequence)))
    r = a.submit(tc.RELAYER, Relay(update=tc.update_message(a, h, s.ah.end(a).client_id), items=[item]))
    assert tc.item_codes(r) == [int(ResultCode.PACKET_NOT_PENDING)]
    assert a.balance("alice") == 10_000
    refunds = [e for height in range(1, a.height + 1) for e in a.events(height, "transfer.refund")]
    assert len(refunds) == 1


def test_second_hop_timeout_refunds_the_origin(s: tcs.Star) -> None:
    a, h, c = s.chains
    ha_ch, hc_ch = s.ah.end(h).channel, s.ch.end(h).channel
    ok(a, "alice", send_via(s, 250, second_ms=5_000))
    p = first_hop(s)
    tc.relay_packets(a, h, s.ah)  # forwarded; the second hop is never delivered in time
    (out,) = tc.pending(h, s.ch)
    c.advance(10)
    assert tc.relay_packets(h, c, s.ch) == []  # too late for C
    tcs.settle(s)
    ack = hub_ack(s, p)
    assert ack is not None and ack.code == int(ResultCode.PACKET_TIMED_OUT)
    assert not tc.received(c, s.ch, out)
    assert a.balance("alice") == 10_000 and escrowed(a.reader(), s.ah.end(a).channel) == 0
    hub_denom = f"transfer/{ha_ch}/native"
    assert supply(h, hub_denom) == 0 and vescrow(h, hc_ch, hub_denom) == 0 and no_forward_state(h)


def test_second_hop_failure_of_a_voucher_going_home_restores_the_hub_escrow(s: tcs.Star) -> None:
    """A voucher of C's native, routed from A back to C, refused by C: the hub re-escrows it on its channel to A
    (the first hop had released it) and mints back the supply the second hop burned."""
    a, h, c = s.chains
    hc_ch, ha_ch, a_ch = s.ch.end(h).channel, s.ah.end(h).channel, s.ah.end(a).channel
    ok(c, "bob", send_via(s, 300, src=c, path=s.ch, out=ha_ch, to="alice"))
    tcs.settle(s)
    on_a, on_h = f"transfer/{a_ch}/transfer/{hc_ch}/native", f"transfer/{hc_ch}/native"
    ok(a, "alice", send_via(s, 100, denom=on_a))
    with c_refuses(s):
        tcs.settle(s)
    assert vbal(a, on_a, "alice") == 300 and supply(a, on_a) == 300
    assert supply(h, on_h) == 300 and vescrow(h, ha_ch, on_h) == 300 and no_forward_state(h)
    assert escrowed(c.reader(), s.ch.end(c).channel) == 300


# -- the hub's refusals --------------------------------------------------------------------------------------------
def refused_at_once(s: tcs.Star, code: ResultCode, words: str) -> None:
    """The first hop pending on A: the hub answers an error ack at once, keeps nothing, A refunds alice."""
    a, h, _ = s.chains
    p = first_hop(s)
    tc.relay_packets(a, h, s.ah)
    ack = hub_ack(s, p)
    assert ack is not None and ack.code == int(code) and words in ack.reason, ack
    assert no_forward_state(h) and tc.pending(h, s.ch) == []
    assert supply(h, f"transfer/{s.ah.end(h).channel}/native") == 0
    tcs.settle(s)
    assert a.balance("alice") == 10_000 and tc.pending(a, s.ah) == []


def test_hub_refuses_a_forward_channel_that_is_not_open(s: tcs.Star) -> None:
    ok(s.a, "alice", send_via(s, 10, out="channel-9"))
    refused_at_once(s, ResultCode.CHANNEL_NOT_OPEN, "channel-9")


def test_hub_refuses_a_forward_back_to_where_it_came_from(s: tcs.Star) -> None:
    ok(s.a, "alice", send_via(s, 10, out=s.ah.end(s.h).channel))
    refused_at_once(s, ResultCode.INVALID_CHANGE, "leads back")


def test_hub_refuses_a_loop_over_another_channel_to_the_same_chain(s: tcs.Star) -> None:
    a, h, _ = s.chains
    _, chan_h = tc.open_channel(a, h, s.ah.a.client_id, s.ah.b.client_id, s.ah.a.connection_id, s.ah.b.connection_id)
    ok(a, "alice", send_via(s, 10, out=chan_h))
    refused_at_once(s, ResultCode.INVALID_CHANGE, "leads back")


def test_hub_refuses_a_second_hop_without_the_margin(s: tcs.Star) -> None:
    """A's own check is bypassed (a raw packet on A's transfer channel, nothing taken): the hub checks again."""
    a, h, c = s.chains
    first = h.time_ms + 10 * MINUTE
    data = ForwardedTransferData(
        denom="native",
        amount=10,
        sender=a.address("alice"),
        receiver=c.address("bob"),
        forward=Forward(channel=s.ch.end(h).channel, timeout_time_ms=first - FORWARD_MARGIN_MS + 1),
    )
    with tc.packet_apps({}):
        assert tc.echo_send(a, s.ah, encode(data), timeout_time_ms=first).code == 0
    p = first_hop(s)
    tc.relay_packets(a, h, s.ah)
    ack = hub_ack(s, p)
    assert ack is not None and ack.code == int(ResultCode.INVALID_CHANGE) and "ms before" in ack.reason, ack
    assert no_forward_state(h) and tc.pending(h, s.ch) == []


def test_hub_bounds_the_wait_of_a_first_hop_with_a_height_timeout_only(s: tcs.Star) -> None:
    ok(s.a, "alice", send_via(s, 10, first_ms=0, first_height=s.h.height + 50, second_ms=FORWARD_MAX_WAIT_MS * 2))
    refused_at_once(s, ResultCode.INVALID_CHANGE, "past this chain's block time")


def test_a_height_only_first_hop_within_the_bound_is_forwarded(s: tcs.Star) -> None:
    ok(s.a, "alice", send_via(s, 10, first_ms=0, first_height=s.h.height + 50))
    tcs.settle(s)
    assert vbal(s.c, f"transfer/channel-0/transfer/{s.ah.end(s.h).channel}/native", "bob") == 10


# -- the sender's checks -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("first_ms", "second_ms", "words"),
    [
        (10 * MINUTE, 10 * MINUTE, "ms before"),
        (10 * MINUTE, 0, "needs a timeout time"),
    ],
)
def test_send_via_refuses_second_hop_timeouts_that_cannot_fit(
    s: tcs.Star, first_ms: int, second_ms: int, words: str
) -> None:
    msg = send_via(s, 10, first_ms=first_ms)
    fwd = Forward(channel=msg.forward.channel, timeout_time_ms=0 if second_ms == 0 else msg.timeout_time_ms)
    bad = TransferSendVia(
        channel=msg.channel,
        denom=msg.denom,
        amount=msg.amount,
        receiver=msg.receiver,
        forward=fwd,
        timeout_time_ms=msg.timeout_time_ms,
    )
    r = s.a.submit("alice", bad)
    assert r.code == ResultCode.INVALID_CHANGE and words in r.message, r.message
    assert s.a.balance("alice") == 10_000 and tc.pending(s.a, s.ah) == []


def test_send_via_takes_like_send_and_refuses_what_send_refuses(s: tcs.Star) -> None:
    r = s.a.submit("alice", send_via(s, 20_000))
    assert r.code == ResultCode.INSUFFICIENT_FUNDS
    r = s.a.submit("alice", send_via(s, 5, denom="transfer/channel-1/nothing"))
    assert r.code == ResultCode.INVALID_DENOM
    ok(s.a, "alice", send_via(s, 5))
    events = [e for e in s.a.events(s.a.height) if e.type == "transfer.send"]
    assert dict(events[0].attributes)["forward_channel"] == s.ch.end(s.h).channel.encode()


def test_an_ordinary_send_to_the_hub_is_not_forwarded(s: tcs.Star) -> None:
    """A four-element ``TransferData`` pays the receiver on the hub, as before."""
    a, h, _ = s.chains
    msg = TransferSend(
        channel=s.ah.end(a).channel,
        denom="native",
        amount=9,
        receiver=h.address("bob"),
        timeout_time_ms=h.time_ms + MINUTE,
    )
    ok(a, "alice", msg)
    tcs.settle(s)
    assert vbal(h, f"transfer/{s.ah.end(h).channel}/native", "bob") == 9 and no_forward_state(h)


# -- the command line ------------------------------------------------------------------------------------------------
class _NoTip:
    def get(self, path: str) -> object:
        from trellis.cli.client import ClientError

        raise ClientError("not found", status=404)


def _cli_send(monkeypatch: pytest.MonkeyPatch, *argv: str) -> object:
    import argparse

    from trellis.cli import main as cli
    from trellis.cli import transfer as cli_transfer

    sent: list[object] = []
    monkeypatch.setattr(cli, "_client", lambda args: _NoTip())
    monkeypatch.setattr(cli, "submit_and_report", lambda args, payload, what: sent.append((payload, what)) or 0)
    parser = argparse.ArgumentParser()
    common = argparse.ArgumentParser(add_help=False)
    cli_transfer.register(parser.add_subparsers(dest="cmd"), common)
    args = parser.parse_args(["transfer", "send", "--from", "alice", *argv])
    assert args.func(args) == 0
    (got,) = sent
    return got


def test_cli_send_via_signs_a_send_via_with_a_forward(monkeypatch: pytest.MonkeyPatch) -> None:
    to = "ab" * 20
    base = ("--channel", "channel-1", "--denom", "native", "--amount", "7", "--to", to)
    payload, what = _cli_send(monkeypatch, *base, "--via", "hub:channel-3", "--timeout", "10m")  # type: ignore[misc]
    assert isinstance(payload, TransferSendVia)
    assert (payload.channel, payload.forward.channel, payload.receiver) == ("channel-1", "channel-3", bytes.fromhex(to))
    assert payload.timeout_time_ms - payload.forward.timeout_time_ms == 5 * MINUTE
    assert "forwarded over channel-3" in what
    payload, _ = _cli_send(monkeypatch, *base)  # type: ignore[misc]
    assert isinstance(payload, TransferSend)


def test_cli_send_via_refuses_a_forward_timeout_past_the_margin(monkeypatch: pytest.MonkeyPatch) -> None:
    from trellis.cli.main import CliError

    base = ("--channel", "channel-1", "--denom", "native", "--amount", "7", "--to", "ab" * 20, "--via", "channel-3")
    with pytest.raises(CliError, match="ms before"):
        _cli_send(monkeypatch, *base, "--timeout", "5m", "--forward-timeout", "5m")
    with pytest.raises(CliError, match="not a channel id"):
        _cli_send(monkeypatch, *base[:-1], "hub:chan3")
    with pytest.raises(CliError, match="give --via too"):
        _cli_send(monkeypatch, *base[:-2], "--forward-timeout", "1m")
