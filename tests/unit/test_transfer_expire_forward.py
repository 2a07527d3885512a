"""``transfer.expire_forward`` (docs/spec/transfer.md 4.6, *expiry*; interchain.md 5.5 ``expire_packet``): a forward
whose destination's client on the hub froze (retirement-like governance untrust, or misbehaviour) while the second
hop was pending can never be proven either way, so it ends, once the hub's clock passes the second hop's timeout
time, as if the second hop had timed out: the origin refunds its sender exactly once. Refused before the timeout,
while the client is active or merely expired, and the second time. Also the bound on every forward's wait
(``FORWARD_MAX_WAIT_MS``). Three ``SimChain``s in a star (``tests/fixtures/three_chains.py``)."""

from __future__ import annotations

import pytest

from tests.fixtures import three_chains as tcs
from tests.fixtures import two_chains as tc
from tests.fixtures.chain_sim import ADMIN, SimChain
from tests.unit.test_transfer_forward import (
    FUNDS,
    MINUTE,
    _NoTip,
    first_hop,
    hub_ack,
    no_forward_state,
    ok,
    send_via,
    supply,
    vescrow,
)
from trellis.core.execution.results import ResultCode
from trellis.core.modules.interchain.messages import RecoverClient, SubmitMisbehaviour, UntrustChain
from trellis.core.modules.interchain.proofs import client_status
from trellis.core.modules.interchain.state import expired_count, expired_key, read_client, read_packet
from trellis.core.modules.membership.messages import ProposeMembership, RegisterCert
from trellis.core.modules.transfer.app import FORWARD_MARGIN_MS, FORWARD_MAX_WAIT_MS
from trellis.core.modules.transfer.messages import TransferExpireForward, TransferSend
from trellis.core.modules.transfer.state import escrowed, read_forward

DAY = 86_400_000


@pytest.fixture
def s() -> tcs.Star:
    return tcs.star(FUNDS, prefix="exp")


def forwarded(s: tcs.Star, amount: int = 400, second_ms: int = 5 * MINUTE) -> TransferExpireForward:
    """A routed send from A, received and forwarded by the hub (second hop pending); its expiry message."""
    ok(s.a, "alice", send_via(s, amount, second_ms=second_ms))
    p = first_hop(s)
    tc.relay_packets(s.a, s.h, s.ah)
    assert read_forward(s.h.reader(), p.dest_channel, p.sequence) is not None
    return TransferExpireForward(channel=p.dest_channel, sequence=p.sequence)


def hub_client_of_c(s: tcs.Star) -> str:
    return s.ch.end(s.h).client_id


def status(s: tcs.Star) -> str | None:
    return client_status(s.h.reader(), hub_client_of_c(s), s.h.time_ms)


def untrust_c(s: tcs.Star) -> None:
    """The hub's governance untrusts C (what ``hub.retire`` does to a retired sub-chain's clients)."""
    assert s.h.submit(ADMIN, RegisterCert(cert=s.h.admin_cert())).code == 0
    r = s.h.submit(ADMIN, ProposeMembership(change=UntrustChain(chain_id=s.c.chain_id)))
    assert r.code == 0, r.message
    assert status(s) == "frozen"


def misbehave_c(s: tcs.Star) -> None:
    """Two light blocks of C at one height (a fork of C signed by C's validators): the hub's client freezes."""
    fork = SimChain(s.c.chain_id, accounts=FUNDS)
    assert fork.genesis_bytes == s.c.genesis_bytes
    cid = hub_client_of_c(s)
    client = read_client(s.h.reader(), cid)
    assert client is not None
    height = max(s.c.height, client.latest_height + 2) + 1  # not adjacent: no parent check, the fork's history differs
    s.c.advance(height - s.c.height)
    fork.advance(height - fork.height, time_step_ms=1_234)
    first, second = tc.update_message(s.h, s.c, cid, height), tc.update_message(s.h, fork, cid, height)
    assert first is not None and second is not None and first.update.header != second.update.header
    r = s.h.submit(tc.RELAYER, SubmitMisbehaviour(client_id=cid, first=first.update, second=second.update))
    assert r.code == 0, r.message
    assert status(s) == "frozen"


def past_timeout(s: tcs.Star) -> None:
    """Advance the hub's clock past the pending second hop's timeout time."""
    (out,) = tc.pending(s.h, s.ch)
    s.h.advance(1, time_step_ms=out.timeout_time_ms - s.h.time_ms)
    assert s.h.time_ms >= out.timeout_time_ms


def refused(s: tcs.Star, msg: TransferExpireForward, code: ResultCode, words: str) -> None:
    before = s.h.reader().scan(b"", b"\xff", 1_000_000)
    r = s.h.submit("bob", msg)
    assert r.code == int(code) and words in r.message, r
    assert s.h.reader().scan(b"interchain/packet/", b"interchain/packet/\xff", 100) == [
        kv for kv in before if kv[0].startswith(b"interchain/packet/")
    ]
    assert s.h.reader().scan(b"transfer/", b"transfer/\xff", 10_000) == [
        kv for kv in before if kv[0].startswith(b"transfer/")
    ]


def expired_and_refunded(s: tcs.Star, msg: TransferExpireForward) -> None:
    a, h, _ = s.chains
    p = first_hop(s)
    (out,) = tc.pending(h, s.ch)
    ha_ch, hc_ch = s.ah.end(h).channel, s.ch.end(h).channel
    r = h.submit("bob", msg)  # anyone
    assert r.code == 0, r.message
    kinds = [e.type for e in r.events]
    assert kinds == ["interchain.timeout_packet", "transfer.forward_done", "interchain.write_ack"]
    assert dict(r.events[0].attributes)["kind"] == b"expired"
    assert dict(r.events[1].attributes)["outcome"] == b"expired"
    ack = hub_ack(s, p)
    assert ack is not None and ack.code == int(ResultCode.PACKET_TIMED_OUT) and "expired" in ack.reason
    # The hub undid its side: no voucher minted for A's native, nothing escrowed toward C, no record, no packet.
    hub_denom = f"transfer/{ha_ch}/native"
    assert supply(h, hub_denom) == 0 and vescrow(h, hc_ch, hub_denom) == 0 and no_forward_state(h)
    assert read_packet(h.reader(), "transfer", hc_ch, out.sequence) is None
    # A refunds alice exactly once.
    tc.relay_acks(a, h, s.ah)
    assert a.balance("alice") == FUNDS["alice"] and escrowed(a.reader(), s.ah.end(a).channel) == 0
    assert tc.pending(a, s.ah) == []
    # Twice: nothing pending any more.
    refused(s, msg, ResultCode.NOT_FOUND, "no forward")
    tcs.settle(s)
    refunds = [e for height in range(1, a.height + 1) for e in a.events(height, "transfer.refund")]
    assert len(refunds) == 1 and a.balance("alice") == FUNDS["alice"]


def test_a_forward_to_a_retired_chain_expires_and_refunds_once(s: tcs.Star) -> None:
    msg = forwarded(s)
    untrust_c(s)
    refused(s, msg, ResultCode.TIMEOUT_NOT_DUE, "has not expired")  # frozen, but the timeout is ahead
    past_timeout(s)
    expired_and_refunded(s, msg)


def test_a_forward_to_a_misbehaving_chain_expires_and_refunds_once(s: tcs.Star) -> None:
    msg = forwarded(s)
    misbehave_c(s)
    past_timeout(s)
    expired_and_refunded(s, msg)


def test_a_hop_the_retired_chain_received_is_expired_and_its_vouchers_stay_there(s: tcs.Star) -> None:
    """C received the second hop but its ack never reached the hub before the freeze: the expiry still refunds A's
    sender (the hub can prove nothing of C any more), and the vouchers C minted cannot come back through the hub:
    it refuses every relay from C (a frozen client proves nothing)."""
    a, h, c = s.chains
    msg = forwarded(s)
    tc.relay_packets(h, c, s.ch)
    (out,) = tc.pending(h, s.ch)
    assert tc.received(c, s.ch, out)
    untrust_c(s)
    past_timeout(s)
    assert h.submit("bob", msg).code == 0
    tc.relay_acks(a, h, s.ah)
    assert a.balance("alice") == FUNDS["alice"]
    voucher = f"transfer/{s.ch.end(c).channel}/transfer/{s.ah.end(h).channel}/native"
    back = TransferSend(
        channel=s.ch.end(c).channel,
        denom=voucher,
        amount=400,
        receiver=h.address("bob"),
        timeout_time_ms=h.time_ms + DAY,
    )
    assert c.submit("bob", back).code == 0
    with pytest.raises(AssertionError, match="frozen"):
        tc.relay_packets(c, h, s.ch)
    assert supply(h, f"transfer/{s.ah.end(h).channel}/native") == 0


# -- a client under which a forward expired is never recovered -----------------------------------------------------
def substitute_of_c(s: tcs.Star) -> str:
    """A fresh client of C on the hub (open client policy), ahead of the frozen one: a recovery's substitute."""
    s.c.advance(2)
    return tc.create_client(s.h, s.c)


def propose_recovery(s: tcs.Star, substitute: str) -> tuple[int, str]:
    s.h.submit(ADMIN, RegisterCert(cert=s.h.admin_cert()))  # refused when untrust_c registered it already
    r = s.h.submit(ADMIN, ProposeMembership(change=RecoverClient(subject=hub_client_of_c(s), substitute=substitute)))
    return r.code, r.message


@pytest.mark.parametrize("freeze", [untrust_c, misbehave_c], ids=["untrusted", "misbehaviour"])
def test_a_client_with_an_expired_forward_is_never_recovered(s: tcs.Star, freeze: object) -> None:
    """C received the second hop before the freeze; the hub expired it and A refunded. Recovering the hub's client
    of C would let C's vouchers of that hop come back and be paid from the hub's escrow a second time: refused, and
    the client stays frozen (interchain.md 5.5, 2.6)."""
    a, h, c = s.chains
    msg = forwarded(s)
    tc.relay_packets(h, c, s.ch)
    (out,) = tc.pending(h, s.ch)
    assert tc.received(c, s.ch, out)
    cid = hub_client_of_c(s)
    assert h.reader().get(expired_key(cid)) is None
    assert callable(freeze)
    freeze(s)
    past_timeout(s)
    assert h.submit("bob", msg).code == 0
    assert expired_count(h.reader(), cid) == 1
    tc.relay_acks(a, h, s.ah)
    assert a.balance("alice") == FUNDS["alice"]
    substitute = substitute_of_c(s)
    before = h.reader().scan(b"interchain/", b"interchain/\xff", 1_000_000)
    code, message = propose_recovery(s, substitute)
    assert code == int(ResultCode.INVALID_CHANGE), message
    assert f"{cid} has packets expired while it was frozen" in message and "create a new client" in message
    assert h.reader().scan(b"interchain/", b"interchain/\xff", 1_000_000) == before
    assert status(s) == "frozen"
    # So C's vouchers of the hop stay there: the hub still refuses every relay from C over the frozen client.
    voucher = f"transfer/{s.ch.end(c).channel}/transfer/{s.ah.end(h).channel}/native"
    back = TransferSend(
        channel=s.ch.end(c).channel,
        denom=voucher,
        amount=400,
        receiver=h.address("bob"),
        timeout_time_ms=h.time_ms + DAY,
    )
    assert c.submit("bob", back).code == 0
    with pytest.raises(AssertionError, match="frozen"):
        tc.relay_packets(c, h, s.ch)


@pytest.mark.parametrize("freeze", [untrust_c, misbehave_c], ids=["untrusted", "misbehaviour"])
def test_a_frozen_client_without_an_expiry_is_still_recovered(s: tcs.Star, freeze: object) -> None:
    """No expiry: no marker, the recovery applies, and the pending forward ends the ordinary way through the
    recovered client (C's ack is proven, A's sender is not refunded: C holds the value)."""
    a, h, c = s.chains
    forwarded(s)
    tc.relay_packets(h, c, s.ch)
    assert callable(freeze)
    freeze(s)
    past_timeout(s)
    code, message = propose_recovery(s, substitute_of_c(s))
    assert code == 0, message
    assert status(s) == "active" and h.reader().get(expired_key(hub_client_of_c(s))) is None
    tcs.settle(s)
    assert no_forward_state(h) and tc.pending(h, s.ch) == [] and tc.pending(a, s.ah) == []
    assert a.balance("alice") == FUNDS["alice"] - 400


def test_expiry_refused_while_the_client_is_active(s: tcs.Star) -> None:
    msg = forwarded(s)
    past_timeout(s)
    assert status(s) == "active"
    refused(s, msg, ResultCode.INVALID_CHANGE, "not frozen")
    # The ordinary way still works: the timeout is proven through the active client.
    s.c.advance(1, time_step_ms=10 * MINUTE)
    tcs.settle(s)
    assert s.a.balance("alice") == FUNDS["alice"] and no_forward_state(s.h)


def test_expiry_refused_while_the_client_is_merely_expired(s: tcs.Star) -> None:
    msg = forwarded(s)
    s.h.advance(1, time_step_ms=tc.TRUSTING_PERIOD_MS + DAY)  # past the trusting period: expired, recoverable
    assert status(s) == "expired"
    refused(s, msg, ResultCode.INVALID_CHANGE, "is expired, not frozen")


def test_expiry_of_an_unknown_forward_is_refused(s: tcs.Star) -> None:
    refused(s, TransferExpireForward(channel=s.ah.end(s.h).channel, sequence=7), ResultCode.NOT_FOUND, "no forward")


# -- every forward's wait is bounded ---------------------------------------------------------------------------------
def test_hub_bounds_the_wait_of_a_forward_under_a_late_first_hop(s: tcs.Star) -> None:
    """A first hop with a timeout time 3 days out and a second hop 2 days out: the margin holds, but the hub would
    wait past ``FORWARD_MAX_WAIT_MS``: an error ack at once, A refunds."""
    a, h, _ = s.chains
    ok(a, "alice", send_via(s, 10, first_ms=3 * DAY, second_ms=2 * DAY))
    p = first_hop(s)
    tc.relay_packets(a, h, s.ah)
    ack = hub_ack(s, p)
    assert (
        ack is not None
        and ack.code == int(ResultCode.INVALID_CHANGE)
        and "past this chain's block time" in (ack.reason)
    )
    assert no_forward_state(h)
    tcs.settle(s)
    assert a.balance("alice") == FUNDS["alice"]


def test_a_forward_within_the_bound_under_a_late_first_hop_is_forwarded(s: tcs.Star) -> None:
    a, h, _ = s.chains
    second = FORWARD_MAX_WAIT_MS - 10 * MINUTE
    ok(a, "alice", send_via(s, 10, first_ms=second + 2 * FORWARD_MARGIN_MS + 20 * MINUTE, second_ms=second))
    tc.relay_packets(a, h, s.ah)
    assert not no_forward_state(h)


# -- the command line ------------------------------------------------------------------------------------------------
def _cli(monkeypatch: pytest.MonkeyPatch, *argv: str) -> list[tuple[object, str]]:
    import argparse

    from trellis.cli import main as cli
    from trellis.cli import transfer as cli_transfer

    sent: list[tuple[object, str]] = []
    monkeypatch.setattr(cli, "_client", lambda args: _NoTip())
    monkeypatch.setattr(cli, "submit_and_report", lambda args, payload, what: sent.append((payload, what)) or 0)
    parser = argparse.ArgumentParser()
    cli_transfer.register(parser.add_subparsers(dest="cmd"), argparse.ArgumentParser(add_help=False))
    args = parser.parse_args(["transfer", *argv])
    assert args.func(args) == 0
    return sent


def test_cli_expire_forward_signs_the_message(monkeypatch: pytest.MonkeyPatch) -> None:
    argv = ("expire-forward", "--from", "bob", "--channel", "channel-0", "--sequence", "7")
    ((payload, what),) = _cli(monkeypatch, *argv)
    assert payload == TransferExpireForward(channel="channel-0", sequence=7)
    assert "packet 7 received on channel-0" in what


def test_cli_expire_forward_names_a_bad_channel(monkeypatch: pytest.MonkeyPatch) -> None:
    from trellis.cli import main as cli

    with pytest.raises(cli.CliError, match=r"not a valid transfer\.expire_forward"):
        _cli(monkeypatch, "expire-forward", "--from", "bob", "--channel", "chan0", "--sequence", "1")


def test_cli_send_via_refuses_a_forward_timeout_past_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    from trellis.cli import main as cli

    argv = ("send", "--from", "alice", "--channel", "channel-1", "--denom", "native", "--amount", "5")
    with pytest.raises(cli.CliError, match="more than 86400000 ms past"):
        _cli(monkeypatch, *argv, "--to", "ab" * 20, "--via", "channel-1", "--timeout", "3d", "--forward-timeout", "2d")
