"""The hub module (docs/spec/hub.md 4 and 6; ADR 0016 section 1): ``hub.connected`` checked against the state, and
the registry reads (``trellis.app.modules.hub``): one chain, pages by chain id, by operator, by status.

The handler runs on a ``SimChain`` hub (governed policy, org1 with admin threshold 1) joined to ``SimChain``
sub-chains by ``tests/fixtures/two_chains.py``.
"""

from __future__ import annotations

import msgspec
import pytest

from tests.fixtures import two_chains as tc
from tests.fixtures.chain_sim import ADMIN, SimChain
from tests.fixtures.interchain_clients import RELAYER
from tests.memory_state import MemoryState
from trellis.app.modules import hub as reads
from trellis.core.codec import encode
from trellis.core.crypto.suite import ED25519
from trellis.core.execution.context import TxContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import Receipt
from trellis.core.modules.hub.handlers import handle_connected
from trellis.core.modules.hub.messages import HubConnected, HubRegister, HubRetire, PortChannel
from trellis.core.modules.hub.state import (
    CONNECTED,
    REGISTERED,
    RETIRED,
    SubChain,
    by_org_key,
    chain_key,
    read_subchain,
)
from trellis.core.modules.interchain.messages import UNORDERED, ChanOpenInit, ConnOpenInit, TrustChain, UntrustChain
from trellis.core.modules.interchain.state import ClientState, client_key, read_client, read_next_ids
from trellis.core.modules.membership.messages import ProposeMembership, RegisterCert
from trellis.core.params import GenesisHub
from trellis.storage.kv import StorageError


class Hub:
    def __init__(self) -> None:
        self.h = SimChain("hub", accounts={RELAYER: 10**6}, client_policy="governed", hub=GenesisHub())
        self.h.advance(1)
        assert self.h.submit(ADMIN, RegisterCert(cert=self.h.admin_cert())).code == 0
        self.b = SimChain("sub-b", accounts={RELAYER: 10**6})
        self.c = SimChain("sub-c", accounts={RELAYER: 10**6})
        for chain in (self.b, self.c):
            chain.advance(2)
            self.govern(
                HubRegister(chain_id=chain.chain_id, operator_org="org1", genesis_hash=chain.params.genesis_hash)
            )
        self.path_b = tc.connect(self.h, self.b)
        self.path_c = tc.connect(self.h, self.c)

    def govern(self, change: HubRegister | HubRetire | TrustChain | UntrustChain) -> None:
        r = self.h.submit(ADMIN, ProposeMembership(change=change))
        assert r.code == 0, r

    def connected(self, chain_id: str, client: str, connection: str, *channels: tuple[str, str]) -> Receipt:
        msg = HubConnected(
            chain_id=chain_id,
            client_id=client,
            connection_id=connection,
            channels=[PortChannel(port=p, channel=c) for p, c in channels],
        )
        return self.h.submit(RELAYER, msg)

    def refused(
        self, code: ResultCode, fragment: str, chain_id: str, client: str, connection: str, *channels: tuple[str, str]
    ) -> None:
        before = dict(self.h.reader().scan(b"hub/", b"hub0", 1 << 30))
        r = self.connected(chain_id, client, connection, *channels)
        assert (r.code, fragment in r.message) == (code, True), r
        assert dict(self.h.reader().scan(b"hub/", b"hub0", 1 << 30)) == before


@pytest.fixture(scope="module")
def joined() -> Hub:
    return Hub()


def test_connected_records_the_ids_and_a_later_one_replaces_them() -> None:
    hub = Hub()
    e = hub.path_b.end(hub.h)
    r = hub.connected("sub-b", e.client_id, e.connection_id, ("transfer", e.channel))
    assert r.code == 0, r
    assert [(ev.type, dict(ev.attributes)) for ev in r.events] == [
        (
            "hub.connected",
            {
                "chain_id": b"sub-b",
                "client_id": e.client_id.encode(),
                "connection_id": e.connection_id.encode(),
                "channels": f"transfer/{e.channel}".encode(),
            },
        )
    ]
    sub = read_subchain(hub.h.reader(), "sub-b")
    assert sub is not None
    assert (sub.status, sub.client_id, sub.connection_id, sub.channels) == (
        CONNECTED,
        e.client_id,
        e.connection_id,
        [PortChannel(port="transfer", channel=e.channel)],
    )
    # A second channel over the same connection; the record is replaced by the later message.
    with tc.packet_apps({"echo": tc.EchoApp()}):
        echo_a, _ = tc.open_channel(
            hub.h, hub.b, e.client_id, hub.path_b.b.client_id, e.connection_id, hub.path_b.b.connection_id,
            order=UNORDERED, port="echo", version="echo-1",
        )  # fmt: skip
        r = hub.connected("sub-b", e.client_id, e.connection_id, ("transfer", e.channel), ("echo", echo_a))
    assert r.code == 0, r
    sub = read_subchain(hub.h.reader(), "sub-b")
    assert sub is not None and [pc.port for pc in sub.channels] == ["transfer", "echo"]
    # Nothing else of the record changed.
    assert (sub.operator_org, sub.genesis_hash, sub.registered_height) == ("org1", hub.b.params.genesis_hash, 3)


def test_connected_refusals(joined: Hub) -> None:
    hub = joined
    b, c = hub.path_b.end(hub.h), hub.path_c.end(hub.h)
    t = ("transfer", b.channel)
    hub.refused(ResultCode.NOT_FOUND, "not a registered", "sub-x", b.client_id, b.connection_id, t)
    hub.refused(ResultCode.CLIENT_NOT_FOUND, "no client", "sub-b", "client-99", b.connection_id, t)
    hub.refused(ResultCode.UNTRUSTED_CHAIN, "is of chain 'sub-c'", "sub-b", c.client_id, c.connection_id)
    hub.refused(ResultCode.NOT_FOUND, "no connection", "sub-b", b.client_id, "connection-99", t)
    hub.refused(ResultCode.INVALID_HANDSHAKE, "over client", "sub-b", b.client_id, c.connection_id, t)
    hub.refused(
        ResultCode.CHANNEL_NOT_OPEN, "no channel", "sub-b", b.client_id, b.connection_id, ("transfer", "channel-99")
    )
    hub.refused(
        ResultCode.INVALID_HANDSHAKE, "over connection", "sub-b", b.client_id, b.connection_id, ("transfer", c.channel)
    )
    hub.refused(ResultCode.DUPLICATE, "named twice", "sub-b", b.client_id, b.connection_id, t, ("transfer", c.channel))


def test_connected_refuses_a_connection_or_channel_that_is_not_open() -> None:
    hub = Hub()
    b = hub.path_b.end(hub.h)
    # A connection end still in INIT over b's client.
    init_conn = f"connection-{read_next_ids(hub.h.reader()).connection}"
    r = hub.h.submit(RELAYER, ConnOpenInit(client_id=b.client_id, counterparty_client_id=hub.path_b.b.client_id))
    assert r.code == 0, r
    hub.refused(ResultCode.INVALID_HANDSHAKE, "not OPEN", "sub-b", b.client_id, init_conn)
    # A channel end still in INIT over b's open connection.
    init_chan = f"channel-{read_next_ids(hub.h.reader()).channel}"
    msg = ChanOpenInit(
        port="transfer", connection_id=b.connection_id, counterparty_port="transfer", order=UNORDERED,
        version="trellis-transfer-1",
    )  # fmt: skip
    r = hub.h.submit(RELAYER, msg)
    assert r.code == 0, r
    hub.refused(ResultCode.CHANNEL_NOT_OPEN, "not OPEN", "sub-b", b.client_id, b.connection_id, ("transfer", init_chan))


def _connected_on(hub: Hub, client_id: str, changed: ClientState) -> TxFailure:
    """``hub.connected`` of sub-b over ``hub.path_b`` run against the hub's state with client ``client_id``
    replaced by ``changed``: governance cannot make that state on a hub (a registered chain's trust is the
    registry's alone), so the handler's own check is exercised on a copy of the state."""
    b = hub.path_b.end(hub.h)
    state = dict(hub.h.reader().scan(b"", b"\xff", 1 << 30))
    state[client_key(client_id)] = encode(changed)
    ctx = TxContext(b"\x00" * 20, hub.h.params, hub.h.height + 1, state.get, lambda k, v: None, time_ms=hub.h.time_ms)
    msg = HubConnected(
        chain_id="sub-b",
        client_id=b.client_id,
        connection_id=b.connection_id,
        channels=[PortChannel(port="transfer", channel=b.channel)],
    )
    with pytest.raises(TxFailure) as refused:
        handle_connected(ctx, msg)
    return refused.value


def test_connected_refuses_a_client_of_another_genesis_a_frozen_client_and_a_retired_chain() -> None:
    hub = Hub()
    b = hub.path_b.end(hub.h)
    # Governance cannot trust a registered chain id with another genesis (interchain.trust_chain is refused for a
    # registry chain), so no client of another genesis can exist; the handler still checks it.
    fake = SimChain("sub-b")
    assert fake.params.genesis_hash != hub.b.params.genesis_hash
    r = hub.h.submit(
        ADMIN, ProposeMembership(change=TrustChain(chain_id="sub-b", genesis_hash=fake.params.genesis_hash))
    )
    assert r.code == ResultCode.INVALID_CHANGE and "use hub.register / hub.retire" in r.message, r
    client = read_client(hub.h.reader(), b.client_id)
    assert client is not None
    other = _connected_on(hub, b.client_id, msgspec.structs.replace(client, genesis_hash=fake.params.genesis_hash))
    assert other.code == ResultCode.UNTRUSTED_CHAIN and "registered with genesis" in str(other.message)
    frozen = _connected_on(hub, b.client_id, msgspec.structs.replace(client, frozen_height=2))
    assert frozen.code == ResultCode.CLIENT_FROZEN and "frozen" in str(frozen.message)
    # A retired chain is refused, whatever its ids (its clients froze when it retired).
    c = hub.path_c.end(hub.h)
    hub.govern(HubRetire(chain_id="sub-c"))
    hub.refused(ResultCode.UNTRUSTED_CHAIN, "retired", "sub-c", c.client_id, c.connection_id, ("transfer", c.channel))


# -- reads -------------------------------------------------------------------------------------------------------
def _registry(n: int) -> MemoryState:
    """``n`` sub-chains ``c0000`` ..: even ones run by org-a, odd by org-b; every third retired, every fifth
    connected (unless retired)."""
    st = MemoryState()
    for i in range(n):
        cid = f"c{i:04d}"
        org = "org-a" if i % 2 == 0 else "org-b"
        status = RETIRED if i % 3 == 0 else CONNECTED if i % 5 == 0 else REGISTERED
        st.state[chain_key(cid)] = encode(
            SubChain(operator_org=org, genesis_hash=i.to_bytes(32, "big"), status=status, registered_height=i)
        )
        st.state[by_org_key(ED25519, org, cid)] = b"\x01"
    return st


def _all(st: MemoryState, limit: int, **kw: object) -> tuple[list[str], int]:
    """Every chain id the pages list, and how many pages."""
    out: list[str] = []
    after, pages = "", 0
    while True:
        page = reads.subchains(st, ED25519, after=after, limit=limit, **kw)  # type: ignore[arg-type]
        pages += 1
        out.extend(v.chain_id for v in page.chains)
        if page.next is None:
            return out, pages
        after = page.next


def test_reads_page_by_chain_id_and_filter_by_operator_and_status() -> None:
    st = _registry(25)
    every = [f"c{i:04d}" for i in range(25)]
    assert _all(st, 10) == (every, 3)
    assert _all(st, 25) == (every, 1)
    assert _all(st, 5)[0] == every
    assert _all(st, 10, org="org-a")[0] == every[0::2]
    assert _all(st, 3, org="org-b")[0] == every[1::2]
    assert _all(st, 4, org="org-c") == ([], 1)
    retired = [c for i, c in enumerate(every) if i % 3 == 0]
    connected = [c for i, c in enumerate(every) if i % 3 != 0 and i % 5 == 0]
    assert _all(st, 2, status=RETIRED)[0] == retired
    assert _all(st, 100, status=CONNECTED)[0] == connected
    assert _all(st, 3, org="org-a", status=RETIRED)[0] == [c for c in retired if int(c[1:]) % 2 == 0]
    one = reads.subchain(st, "c0005")
    assert one is not None and (one.status_name, one.record.operator_org) == ("connected", "org-b")
    assert reads.subchain(st, "c9999") is None
    # A chain id that is a prefix of another is not skipped by the cursor.
    st.state[chain_key("c000")] = st.state[chain_key("c0001")]
    assert _all(st, 1)[0][:3] == ["c000", "c0000", "c0001"]
    with pytest.raises(ValueError):
        reads.subchains(st, ED25519, limit=0)


def test_a_status_filter_reads_a_bounded_number_of_records_per_page() -> None:
    st = MemoryState()
    for i in range(1500):  # every 50th connected
        sub = SubChain(operator_org="o", genesis_hash=bytes(32), status=CONNECTED if i % 50 == 0 else REGISTERED,
                       registered_height=i)  # fmt: skip
        st.state[chain_key(f"c{i:04d}")] = encode(sub)
    page = reads.subchains(st, ED25519, status=CONNECTED, limit=100)
    # One page reads at most MAX_SCANNED records: 20 matches there, and the cursor of the last record read.
    assert len(page.chains) == 20 and page.next == f"c{reads.MAX_SCANNED - 1:04d}"
    assert all(v.record.status == CONNECTED for v in page.chains)
    ids, pages = _all(st, 100, status=CONNECTED)
    assert ids == [f"c{i:04d}" for i in range(0, 1500, 50)] and pages == 2


def test_a_dangling_index_entry_is_the_nodes_fault() -> None:
    st = _registry(2)
    st.state[by_org_key(ED25519, "org-a", "ghost")] = b"\x01"
    with pytest.raises(StorageError, match="ghost"):
        reads.subchains(st, ED25519, org="org-a")
    st.state[chain_key("bad")] = b"\xc1"
    with pytest.raises(StorageError, match="bad"):
        reads.subchain(st, "bad")
