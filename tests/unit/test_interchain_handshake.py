"""Connection and channel handshakes between two in-process chains (ADR 0015 section 4; docs/spec/interchain.md 5.1-5.2):
the four ICS-03 steps with the self-client check, the four ICS-04 steps with the port's application, closing, and
the refusals (wrong state, counterparty, order, version, unbound port, a client of another chain or genesis).
"""

from __future__ import annotations

import pytest

from tests.fixtures.chain_sim import SimChain
from tests.fixtures.two_chains import (
    TRUSTING_PERIOD_MS,
    EchoApp,
    connect,
    create_client,
    open_channel,
    open_connection,
    packet_apps,
    update_client,
    update_message,
)
from trellis.core.codec import decode, encode
from trellis.core.execution.results import ResultCode
from trellis.core.ledger.block import Receipt
from trellis.core.modules.interchain.messages import (
    ORDERED,
    UNORDERED,
    ChanCloseConfirm,
    ChanCloseInit,
    ChanOpenAck,
    ChanOpenConfirm,
    ChanOpenInit,
    ChanOpenTry,
    ConnOpenAck,
    ConnOpenConfirm,
    ConnOpenInit,
    ConnOpenTry,
)
from trellis.core.modules.interchain.state import (
    CLOSED,
    INIT,
    OPEN,
    TRYOPEN,
    ClientState,
    channel_key,
    client_key,
    connection_key,
    read_channel,
    read_connection,
    read_seq,
    seq_recv_key,
)

R = "relayer"


def chains() -> tuple[SimChain, SimChain]:
    return SimChain("chain-a"), SimChain("chain-b")


def sync(dst: SimChain, src: SimChain, client_id: str) -> int:
    """Update ``dst``'s client ``client_id`` of ``src`` to ``src``'s tip; that height."""
    msg = update_message(dst, src, client_id)
    if msg is not None:
        assert dst.submit(R, msg).code == 0
    return src.height


def refused(r: Receipt, code: ResultCode, text: str = "") -> None:
    assert r.code == code, (r.code, r.message)
    assert text in r.message


# -- connections -----------------------------------------------------------------------------------------------
def test_connect_opens_both_ends_with_each_others_ids() -> None:
    a, b = chains()
    path = connect(a, b)
    ca = read_connection(a.reader(), path.a.connection_id)
    cb = read_connection(b.reader(), path.b.connection_id)
    assert ca is not None and cb is not None
    assert (ca.state, cb.state) == (OPEN, OPEN)
    assert (ca.client_id, ca.counterparty_client_id, ca.counterparty_connection_id) == (
        path.a.client_id,
        path.b.client_id,
        path.b.connection_id,
    )
    assert (cb.client_id, cb.counterparty_client_id, cb.counterparty_connection_id) == (
        path.b.client_id,
        path.a.client_id,
        path.a.connection_id,
    )
    ha = read_channel(a.reader(), "transfer", path.a.channel)
    hb = read_channel(b.reader(), "transfer", path.b.channel)
    assert ha is not None and hb is not None
    assert (ha.state, hb.state) == (OPEN, OPEN)
    assert (ha.counterparty_port, ha.counterparty_channel) == ("transfer", path.b.channel)
    assert (hb.counterparty_port, hb.counterparty_channel) == ("transfer", path.a.channel)
    assert ha.order == hb.order == UNORDERED and ha.version == hb.version == "trellis-transfer-1"
    # both ends start their sequences at 1 (seq_recv is proven by ordered timeouts)
    assert read_seq(b.reader(), seq_recv_key("transfer", path.b.channel)) == 1
    assert b.get(seq_recv_key("transfer", path.b.channel)) == (1).to_bytes(8, "big")


def test_handshake_events() -> None:
    a, b = chains()
    ca, cb = create_client(a, b), create_client(b, a)
    r = a.submit(R, ConnOpenInit(client_id=ca, counterparty_client_id=cb))
    (ev,) = r.events
    assert ev.type == "interchain.connection_open_init"
    assert dict(ev.attributes)["connection_id"] == b"connection-0"
    conn_a, conn_b = "connection-0", "connection-0"
    h = sync(b, a, cb)
    cs = a.get(client_key(ca), h)
    assert cs is not None
    r = b.submit(
        R,
        ConnOpenTry(
            client_id=cb,
            counterparty_client_id=ca,
            counterparty_connection_id=conn_a,
            counterparty_client_state=cs,
            proof_init=a.prove(connection_key(conn_a), h),
            proof_client=a.prove(client_key(ca), h),
        ),
    )
    assert r.code == 0 and r.events[0].type == "interchain.connection_open_try"
    assert read_connection(b.reader(), conn_b).state == TRYOPEN  # type: ignore[union-attr]


def _init_and_sync(a: SimChain, b: SimChain) -> tuple[str, str, int]:
    ca, cb = create_client(a, b), create_client(b, a)
    assert a.submit(R, ConnOpenInit(client_id=ca, counterparty_client_id=cb)).code == 0
    return ca, cb, sync(b, a, cb)


def _try(
    a: SimChain,
    ca: str,
    cb: str,
    h: int,
    *,
    cs: bytes | None = None,
    proven: str | None = None,
    counterparty_client: str | None = None,
) -> ConnOpenTry:
    proven_client = ca if proven is None else proven
    state = a.get(client_key(proven_client), h) if cs is None else cs
    assert state is not None
    return ConnOpenTry(
        client_id=cb,
        counterparty_client_id=ca if counterparty_client is None else counterparty_client,
        counterparty_connection_id="connection-0",
        counterparty_client_state=state,
        proof_init=a.prove(connection_key("connection-0"), h),
        proof_client=a.prove(client_key(proven_client), h),
    )


def test_self_client_check_refuses_a_client_of_another_chain() -> None:
    a, b = chains()
    c = SimChain("chain-c")
    ca, cb, _ = _init_and_sync(a, b)
    other = create_client(a, c)  # a's client of chain-c, proven, but it does not name b
    h = sync(b, a, cb)
    refused(b.submit(R, _try(a, ca, cb, h, proven=other)), ResultCode.INVALID_HANDSHAKE, "chain-c")


def test_self_client_check_refuses_another_genesis_of_the_same_chain_id() -> None:
    a, b = chains()
    twin = SimChain("chain-b", accounts={"mallory": 1})  # same chain id, another genesis
    assert twin.params.genesis_hash != b.params.genesis_hash
    ca_twin = create_client(a, twin)
    cb = create_client(b, a)
    assert a.submit(R, ConnOpenInit(client_id=ca_twin, counterparty_client_id=cb)).code == 0
    h = sync(b, a, cb)
    refused(b.submit(R, _try(a, ca_twin, cb, h)), ResultCode.INVALID_HANDSHAKE, "genesis")


def test_try_with_an_unproven_client_state_or_wrong_counterparty_fails_the_proof() -> None:
    a, b = chains()
    ca, cb, h = _init_and_sync(a, b)
    real = a.get(client_key(ca), h)
    assert real is not None
    cs = decode(real, ClientState)
    forged = encode(ClientState(**{**{f: getattr(cs, f) for f in cs.__struct_fields__}, "latest_height": 999}))
    refused(b.submit(R, _try(a, ca, cb, h, cs=forged)), ResultCode.INVALID_PROOF)
    # the INIT end names client ca: a try that claims another counterparty client does not match it
    refused(b.submit(R, _try(a, ca, cb, h, counterparty_client="client-5")), ResultCode.INVALID_PROOF)
    assert b.submit(R, _try(a, ca, cb, h)).code == 0


def test_connection_steps_in_the_wrong_state() -> None:
    a, b = chains()
    ca, cb = create_client(a, b), create_client(b, a)
    conn_a, conn_b = open_connection(a, b, ca, cb)
    hb = sync(a, b, ca)
    cs = b.get(client_key(cb), hb)
    assert cs is not None
    again = ConnOpenAck(
        connection_id=conn_a,
        counterparty_connection_id=conn_b,
        counterparty_client_state=cs,
        proof_try=b.prove(connection_key(conn_b), hb),
        proof_client=b.prove(client_key(cb), hb),
    )
    refused(a.submit(R, again), ResultCode.INVALID_HANDSHAKE, "OPEN, not INIT")
    ha = sync(b, a, cb)
    confirm = ConnOpenConfirm(connection_id=conn_b, proof_ack=a.prove(connection_key(conn_a), ha))
    refused(b.submit(R, confirm), ResultCode.INVALID_HANDSHAKE, "OPEN, not TRYOPEN")
    refused(b.submit(R, ConnOpenConfirm(connection_id="connection-9", proof_ack=b"")), ResultCode.INVALID_HANDSHAKE)
    # a confirm while the counterparty is still INIT fails its proof
    assert a.submit(R, ConnOpenInit(client_id=ca, counterparty_client_id=cb)).code == 0
    h = sync(b, a, cb)
    assert b.submit(R, _try_for(a, ca, cb, "connection-1", h)).code == 0
    h = sync(b, a, cb)
    premature = ConnOpenConfirm(connection_id="connection-1", proof_ack=a.prove(connection_key("connection-1"), h))
    refused(b.submit(R, premature), ResultCode.INVALID_PROOF)


def _try_for(a: SimChain, ca: str, cb: str, conn_a: str, h: int) -> ConnOpenTry:
    cs = a.get(client_key(ca), h)
    assert cs is not None
    return ConnOpenTry(
        client_id=cb,
        counterparty_client_id=ca,
        counterparty_connection_id=conn_a,
        counterparty_client_state=cs,
        proof_init=a.prove(connection_key(conn_a), h),
        proof_client=a.prove(client_key(ca), h),
    )


def test_expired_client_proves_nothing() -> None:
    a, b = chains()
    ca, cb, h = _init_and_sync(a, b)
    b.advance(1, TRUSTING_PERIOD_MS)  # b's client of a is now a trusting period old
    refused(b.submit(R, _try(a, ca, cb, h)), ResultCode.CLIENT_EXPIRED)
    refused(b.submit(R, ConnOpenInit(client_id=cb, counterparty_client_id=ca)), ResultCode.CLIENT_EXPIRED)


# -- channels --------------------------------------------------------------------------------------------------
def _connected() -> tuple[SimChain, SimChain, str, str, str, str]:
    a, b = chains()
    ca, cb = create_client(a, b), create_client(b, a)
    conn_a, conn_b = open_connection(a, b, ca, cb)
    return a, b, ca, cb, conn_a, conn_b


def test_channel_init_refusals() -> None:
    a, _b, ca, cb, conn_a, _ = _connected()
    init = ChanOpenInit(port="nosuch", connection_id=conn_a, counterparty_port="transfer", order=1, version="v")
    refused(a.submit(R, init), ResultCode.PORT_NOT_BOUND)
    wrong_version = ChanOpenInit(
        port="transfer", connection_id=conn_a, counterparty_port="transfer", order=UNORDERED, version="v2"
    )
    refused(a.submit(R, wrong_version), ResultCode.INVALID_HANDSHAKE, "version")
    ordered = ChanOpenInit(
        port="transfer", connection_id=conn_a, counterparty_port="transfer", order=ORDERED, version="trellis-transfer-1"
    )
    refused(a.submit(R, ordered), ResultCode.INVALID_HANDSHAKE, "unordered")  # the application refuses
    no_conn = ChanOpenInit(
        port="transfer",
        connection_id="connection-7",
        counterparty_port="transfer",
        order=1,
        version="trellis-transfer-1",
    )
    refused(a.submit(R, no_conn), ResultCode.INVALID_HANDSHAKE, "no connection")
    # a connection still in INIT carries no channel
    assert a.submit(R, ConnOpenInit(client_id=ca, counterparty_client_id=cb)).code == 0
    half = ChanOpenInit(
        port="transfer",
        connection_id="connection-1",
        counterparty_port="transfer",
        order=1,
        version="trellis-transfer-1",
    )
    refused(a.submit(R, half), ResultCode.INVALID_HANDSHAKE, "INIT, not OPEN")


def test_channel_try_must_match_the_counterparty_init() -> None:
    app = EchoApp()
    with packet_apps({"echo": app}):
        a, b, ca, cb, conn_a, conn_b = _connected()
        init = ChanOpenInit(
            port="echo", connection_id=conn_a, counterparty_port="echo", order=ORDERED, version="echo-1"
        )
        assert a.submit(R, init).code == 0
        h = sync(b, a, cb)
        proof = a.prove(channel_key("echo", "channel-0"), h)

        def attempt(**kw: object) -> Receipt:
            fields: dict[str, object] = {
                "port": "echo",
                "connection_id": conn_b,
                "counterparty_port": "echo",
                "counterparty_channel": "channel-0",
                "order": ORDERED,
                "version": "echo-1",
                "proof_init": proof,
            }
            fields.update(kw)
            return b.submit(R, ChanOpenTry(**fields))  # type: ignore[arg-type]

        refused(attempt(order=UNORDERED), ResultCode.INVALID_PROOF)  # the counterparty is ordered
        refused(attempt(counterparty_channel="channel-3"), ResultCode.INVALID_PROOF)
        refused(attempt(version="echo-2"), ResultCode.INVALID_HANDSHAKE)  # not the port's version
        refused(attempt(port="transfer", version="trellis-transfer-1", order=UNORDERED), ResultCode.INVALID_PROOF)
        refused(attempt(proof_init=b"\x00"), ResultCode.INVALID_PROOF, "undecodable")
        assert attempt().code == 0
        assert read_channel(b.reader(), "echo", "channel-0").state == TRYOPEN  # type: ignore[union-attr]
        # ack and confirm in the wrong state
        h = sync(a, b, ca)
        proof_try = b.prove(channel_key("echo", "channel-0"), h)
        refused(
            b.submit(
                R, ChanOpenAck(port="echo", channel="channel-0", counterparty_channel="channel-0", proof_try=proof_try)
            ),
            ResultCode.INVALID_HANDSHAKE,
            "TRYOPEN, not INIT",
        )
        refused(
            a.submit(R, ChanOpenConfirm(port="echo", channel="channel-0", proof_ack=proof_try)),
            ResultCode.INVALID_HANDSHAKE,
            "INIT, not TRYOPEN",
        )
        ack = ChanOpenAck(port="echo", channel="channel-0", counterparty_channel="channel-0", proof_try=proof_try)
        r = a.submit(R, ack)
        assert r.code == 0 and r.events[0].type == "interchain.channel_open_ack"
        h = sync(b, a, cb)
        confirm = ChanOpenConfirm(
            port="echo", channel="channel-0", proof_ack=a.prove(channel_key("echo", "channel-0"), h)
        )
        r = b.submit(R, confirm)
        assert r.code == 0 and r.events[0].type == "interchain.channel_open_confirm"
        assert read_channel(a.reader(), "echo", "channel-0").state == OPEN  # type: ignore[union-attr]
        assert read_channel(b.reader(), "echo", "channel-0").state == OPEN  # type: ignore[union-attr]


def test_port_without_an_app_on_the_try_side() -> None:
    app = EchoApp()
    with packet_apps({"echo": app}):
        a, b, _ca, cb, conn_a, conn_b = _connected()
        init = ChanOpenInit(port="echo", connection_id=conn_a, counterparty_port="other", order=1, version="echo-1")
        assert a.submit(R, init).code == 0
        assert read_channel(a.reader(), "echo", "channel-0").state == INIT  # type: ignore[union-attr]
        h = sync(b, a, cb)
        attempt = ChanOpenTry(
            port="other",
            connection_id=conn_b,
            counterparty_port="echo",
            counterparty_channel="channel-0",
            order=1,
            version="echo-1",
            proof_init=a.prove(channel_key("echo", "channel-0"), h),
        )
        refused(b.submit(R, attempt), ResultCode.PORT_NOT_BOUND)


def test_a_transfer_channel_cannot_be_closed_by_a_user() -> None:
    """ICS-20: the escrow of a transfer channel backs vouchers that can only come home over it."""
    a, b, ca, cb, conn_a, conn_b = _connected()
    chan_a, _ = open_channel(a, b, ca, cb, conn_a, conn_b)
    refused(
        a.submit(R, ChanCloseInit(port="transfer", channel=chan_a)), ResultCode.INVALID_HANDSHAKE, "cannot be closed"
    )
    assert read_channel(a.reader(), "transfer", chan_a).state == OPEN  # type: ignore[union-attr]


def test_close_init_and_confirm() -> None:
    app = EchoApp(keep_open={"channel-1"})
    with packet_apps({"echo": app}):
        a, b, ca, cb, conn_a, conn_b = _connected()
        chan_a, chan_b = open_channel(a, b, ca, cb, conn_a, conn_b, port="echo", version="echo-1")
        h = sync(b, a, cb)
        early = ChanCloseConfirm(port="echo", channel=chan_b, proof_init=a.prove(channel_key("echo", chan_a), h))
        refused(b.submit(R, early), ResultCode.INVALID_PROOF)  # a's end is still OPEN
        r = a.submit(R, ChanCloseInit(port="echo", channel=chan_a))
        assert r.code == 0 and r.events[0].type == "interchain.channel_close"
        refused(a.submit(R, ChanCloseInit(port="echo", channel=chan_a)), ResultCode.INVALID_HANDSHAKE, "CLOSED")
        h = sync(b, a, cb)
        confirm = ChanCloseConfirm(port="echo", channel=chan_b, proof_init=a.prove(channel_key("echo", chan_a), h))
        assert b.submit(R, confirm).code == 0
        assert read_channel(b.reader(), "echo", chan_b).state == CLOSED  # type: ignore[union-attr]
        refused(b.submit(R, confirm), ResultCode.INVALID_HANDSHAKE, "CLOSED, not OPEN")
        # The application may refuse a user's close.
        chan_a2, _ = open_channel(a, b, ca, cb, conn_a, conn_b, port="echo", version="echo-1")
        assert chan_a2 == "channel-1"
        refused(a.submit(R, ChanCloseInit(port="echo", channel=chan_a2)), ResultCode.INVALID_HANDSHAKE, "keeps")


@pytest.mark.parametrize("order", [UNORDERED, ORDERED])
def test_connect_with_an_echo_port_in_both_orders(order: int) -> None:
    app = EchoApp()
    with packet_apps({"echo": app}):
        a, b = chains()
        path = connect(a, b, order=order, port="echo", version="echo-1")
        for chain, end in ((a, path.a), (b, path.b)):
            ch = read_channel(chain.reader(), "echo", end.channel)
            assert ch is not None and ch.state == OPEN and ch.order == order
    update_client(a, b, path)


class AnyVersionApp(EchoApp):
    """An application that accepts any channel: the handler itself holds the version to the app's."""

    def on_chan_open(self, ctx: object, order: int, counterparty_port: str, version: str) -> None:  # type: ignore[override]
        return None


def test_version_must_be_the_ports_even_when_the_app_accepts_it() -> None:
    with packet_apps({"echo": AnyVersionApp()}):
        a, _b, _ca, _cb, conn_a, _ = _connected()
        init = ChanOpenInit(port="echo", connection_id=conn_a, counterparty_port="echo", order=1, version="echo-2")
        refused(a.submit(R, init), ResultCode.INVALID_HANDSHAKE, "speaks 'echo-1'")
        ok = ChanOpenInit(port="echo", connection_id=conn_a, counterparty_port="echo", order=1, version="echo-1")
        assert a.submit(R, ok).code == 0
