"""Hub governance (docs/spec/hub.md 3; ADR 0016 section 1): ``hub.register`` and ``hub.retire`` as membership
changes, and what retiring does to the sub-chain's packets.

The hub is a ``SimChain`` with the governed client policy (org1, admin threshold 1: a proposal applies at once);
sub-chains are ``SimChain``s joined to it with ``tests/fixtures/two_chains.py``.
"""

from __future__ import annotations

import pytest

from tests.fixtures import two_chains as tc
from tests.fixtures.chain_sim import ADMIN, SimChain
from tests.fixtures.governance import fixed_ca
from tests.fixtures.interchain_clients import RELAYER, interchain_state, sim_create, submit
from trellis.core.execution.context import StateReader, TxContext
from trellis.core.execution.results import ResultCode
from trellis.core.ledger.block import Receipt, block_hash
from trellis.core.modules.hub import governance as hub_governance
from trellis.core.modules.hub.governance import is_hub_change
from trellis.core.modules.hub.messages import HubChange, HubConnected, HubRegister, HubRetire, PortChannel
from trellis.core.modules.hub.state import (
    CONNECTED,
    MAX_CLIENTS_PER_SUBCHAIN,
    REGISTERED,
    RETIRED,
    SubChain,
    by_org_key,
    hub_client_key,
    indexed_clients,
    read_count,
    read_subchain,
)
from trellis.core.modules.interchain.messages import Relay, TrustChain, UntrustChain
from trellis.core.modules.interchain.state import (
    CLIENT_PREFIX,
    TrustedChain,
    governance_version,
    read_client,
    read_misbehaviour,
    read_trusted,
)
from trellis.core.modules.membership.messages import (
    AddOrg,
    ApproveMembership,
    ProposeMembership,
    RegisterCert,
    SetThreshold,
)
from trellis.core.modules.transfer.messages import TransferSend
from trellis.core.modules.transfer.state import denom_hash, voucher_balance, voucher_supply
from trellis.core.params import GenesisHub, GenesisSubChain


class Hub:
    def __init__(self) -> None:
        self.h = SimChain("hub", accounts={RELAYER: 10**6}, client_policy="governed", hub=GenesisHub())
        self.h.advance(1)
        assert self.h.submit(ADMIN, RegisterCert(cert=self.h.admin_cert())).code == 0
        self.b = SimChain("sub-b", accounts={"alice": 1000, RELAYER: 10**6})
        self.c = SimChain("sub-c")
        self.b.advance(2)
        self.c.advance(2)

    def propose(self, change: HubChange | TrustChain | UntrustChain | AddOrg | SetThreshold) -> Receipt:
        return self.h.submit(ADMIN, ProposeMembership(change=change))

    def decide(self, change: HubChange | TrustChain | UntrustChain) -> list[tuple[str, dict[str, bytes]]]:
        r = self.propose(change)
        assert r.code == 0, r
        return [(e.type, dict(e.attributes)) for e in r.events]

    def refused(self, change: HubChange | TrustChain | UntrustChain, fragment: str) -> None:
        before = self.registry()
        r = self.propose(change)
        assert r.code == ResultCode.INVALID_CHANGE and fragment in r.message, r
        assert self.registry() == before

    def registry(self) -> dict[bytes, bytes]:
        """Every ``hub/`` and ``interchain/`` record (a refused change leaves both alone)."""
        return dict(self.h.reader().scan(b"hub/", b"hub0", 1 << 30)) | interchain_state(self.h)

    def register(self, chain: SimChain, org: str = "org1") -> list[tuple[str, dict[str, bytes]]]:
        return self.decide(
            HubRegister(chain_id=chain.chain_id, operator_org=org, genesis_hash=chain.params.genesis_hash)
        )


@pytest.fixture
def hub() -> Hub:
    return Hub()


def test_hub_changes_are_routed_to_hub_governance() -> None:
    assert is_hub_change(HubRegister(chain_id="x", operator_org="o", genesis_hash=b"\x00" * 32))
    assert is_hub_change(HubRetire(chain_id="x"))
    assert not is_hub_change(UntrustChain(chain_id="x"))
    assert not is_hub_change(AddOrg(name="org9", ca_certs=[]))


def test_hub_changes_are_refused_on_a_chain_that_is_not_a_hub() -> None:
    """Without a genesis ``hub`` member (an open-policy chain, say) the registry means nothing: retiring would drop
    a trust anyone routes around with a new client. Both changes are refused and nothing is written."""
    for policy in ("open", "governed"):
        h = SimChain("plain", accounts={RELAYER: 10**6}, client_policy=policy)
        h.advance(1)
        assert h.submit(ADMIN, RegisterCert(cert=h.admin_cert())).code == 0
        b = SimChain("sub-b")
        assert (
            h.submit(
                ADMIN, ProposeMembership(change=TrustChain(chain_id="sub-b", genesis_hash=b.params.genesis_hash))
            ).code
            == 0
        )
        before = dict(h.reader().scan(b"hub/", b"hub0", 1 << 30)) | interchain_state(h)
        for change in (
            HubRegister(chain_id="sub-x", operator_org="org1", genesis_hash=b.params.genesis_hash),
            HubRetire(chain_id="sub-b"),
        ):
            r = h.submit(ADMIN, ProposeMembership(change=change))
            assert r.code == ResultCode.INVALID_CHANGE and "not a hub" in r.message, r
        assert dict(h.reader().scan(b"hub/", b"hub0", 1 << 30)) | interchain_state(h) == before
        assert read_trusted(h.reader(), "sub-b") is not None


def test_register_writes_the_record_the_index_the_count_and_the_trust(hub: Hub) -> None:
    h = hub.h
    # Governed: no client of b before it is registered.
    assert submit(h, sim_create(hub.b, 2)).code == ResultCode.UNTRUSTED_CHAIN
    version = governance_version(h.reader())
    events = hub.register(hub.b)
    gh = hub.b.params.genesis_hash
    assert events[-1] == (
        "hub.registered",
        {"proposal": b"0", "chain_id": b"sub-b", "operator_org": b"org1", "genesis_hash": gh},
    )
    state = h.reader()
    assert read_subchain(state, "sub-b") == SubChain(
        operator_org="org1", genesis_hash=gh, status=REGISTERED, registered_height=h.height
    )
    assert state.get(by_org_key(h.params.suite, "org1", "sub-b")) == b"\x01"
    assert read_count(state) == 1
    assert read_trusted(state, "sub-b") == TrustedChain(genesis_hash=gh, added_height=h.height)
    assert governance_version(state) == version  # a registration leaves other pending ones valid
    # Now the governed policy lets the hub create a client of it (and only of its registered genesis).
    assert submit(h, sim_create(hub.b, 2)).code == 0
    hub.register(hub.c)
    assert read_count(h.reader()) == 2


def test_pending_registrations_stay_valid_when_one_applies_and_a_retirement_makes_them_stale(hub: Hub) -> None:
    """With two organisations to approve, registering one chain leaves the other pending registrations valid (no
    version bump: applying re-runs the whole precheck); retiring one makes pending hub proposals stale."""
    h = hub.h
    assert hub.propose(AddOrg(name="org2", ca_certs=[fixed_ca("org2").der])).code == 0
    assert hub.propose(SetThreshold(threshold=2)).code == 0
    cert2 = fixed_ca("org2").issue(h.public_key("org2-admin"), "admin", "org2-admin")
    assert h.submit("org2-admin", RegisterCert(cert=cert2)).code == 0

    def pending(change: HubChange) -> int:
        r = hub.propose(change)
        assert r.code == 0 and r.events[-1].type == "membership.approved", r  # approved by org1, not applied
        return int(dict(r.events[-1].attributes)["proposal"])

    def approve(pid: int) -> Receipt:
        return h.submit("org2-admin", ApproveMembership(proposal_id=pid))

    gb, gc = hub.b.params.genesis_hash, hub.c.params.genesis_hash
    pb = pending(HubRegister(chain_id="sub-b", operator_org="org1", genesis_hash=gb))
    pc = pending(HubRegister(chain_id="sub-c", operator_org="org2", genesis_hash=gc))
    pb2 = pending(HubRegister(chain_id="sub-b", operator_org="org2", genesis_hash=gb))
    assert approve(pb).code == 0
    r = approve(pc)
    assert r.code == 0, r
    assert {cid for cid in ("sub-b", "sub-c") if read_subchain(h.reader(), cid) is not None} == {"sub-b", "sub-c"}
    # The same chain proposed twice: the second is refused when applied, by the re-run precheck.
    r = approve(pb2)
    assert r.code == ResultCode.INVALID_CHANGE and "already registered" in r.message, r
    sub = read_subchain(h.reader(), "sub-b")
    assert sub is not None and sub.operator_org == "org1"
    # A retirement still increments the version: a hub proposal made before it is stale.
    pd = pending(HubRegister(chain_id="sub-d", operator_org="org1", genesis_hash=b"\x05" * 32))
    pr = pending(HubRetire(chain_id="sub-c"))
    assert approve(pr).code == 0
    r = approve(pd)
    assert r.code == ResultCode.INVALID_CHANGE and "propose it again" in r.message, r


def test_register_with_a_checkpoint_records_it(hub: Hub) -> None:
    bid = block_hash(hub.b.params.suite, hub.b.header(2))
    hub.decide(
        HubRegister(
            chain_id="sub-b",
            operator_org="org1",
            genesis_hash=hub.b.params.genesis_hash,
            checkpoint_height=2,
            checkpoint_block_id=bid,
        )
    )
    rec = read_trusted(hub.h.reader(), "sub-b")
    assert rec is not None and (rec.checkpoint_height, rec.checkpoint_block_id) == (2, bid)


def test_register_refusals(hub: Hub) -> None:
    gh = hub.b.params.genesis_hash
    hub.refused(HubRegister(chain_id="hub", operator_org="org1", genesis_hash=gh), "this chain")
    hub.refused(HubRegister(chain_id="sub-b", operator_org="org9", genesis_hash=gh), "not a member organisation")
    hub.refused(HubRegister(chain_id="sub-b", operator_org="org1", genesis_hash=gh, checkpoint_height=2), "both")
    hub.refused(
        HubRegister(chain_id="sub-b", operator_org="org1", genesis_hash=gh, checkpoint_block_id=b"\x01" * 32), "both"
    )
    hub.register(hub.b)
    hub.refused(HubRegister(chain_id="sub-b", operator_org="org1", genesis_hash=gh), "already registered")
    hub.refused(HubRegister(chain_id="sub-b", operator_org="org1", genesis_hash=b"\x07" * 32), "already registered")


def test_a_retired_chain_id_is_never_registered_again(hub: Hub) -> None:
    hub.register(hub.b)
    hub.decide(HubRetire(chain_id="sub-b"))
    assert read_count(hub.h.reader()) == 0
    hub.refused(
        HubRegister(chain_id="sub-b", operator_org="org1", genesis_hash=hub.b.params.genesis_hash),
        "never registered again",
    )
    sub = read_subchain(hub.h.reader(), "sub-b")
    assert sub is not None and sub.status == RETIRED


def test_retire_freezes_every_client_and_drops_the_trust(hub: Hub) -> None:
    h = hub.h
    hub.register(hub.b)
    hub.register(hub.c)
    assert submit(h, sim_create(hub.b, 2)).code == 0  # client-0
    assert submit(h, sim_create(hub.c, 2)).code == 0  # client-1
    hub.b.advance()
    assert submit(h, sim_create(hub.b, 3)).code == 0  # client-2
    version = governance_version(h.reader())
    events = hub.decide(HubRetire(chain_id="sub-b"))
    assert events[-3:] == [
        ("hub.retired", {"proposal": b"2", "chain_id": b"sub-b", "frozen": b"2"}),
        ("interchain.client_frozen", {"client_id": b"client-0", "height": b"2", "kind": b"untrusted"}),
        ("interchain.client_frozen", {"client_id": b"client-2", "height": b"3", "kind": b"untrusted"}),
    ]
    state = h.reader()
    sub = read_subchain(state, "sub-b")
    assert sub is not None and (sub.status, sub.retired_height) == (RETIRED, h.height)
    assert read_count(state) == 1
    assert read_trusted(state, "sub-b") is None and read_trusted(state, "sub-c") is not None
    assert governance_version(state) == version + 1
    for cid, frozen in (("client-0", True), ("client-1", False), ("client-2", True)):
        client = read_client(state, cid)
        assert client is not None and (client.frozen_height != 0) == frozen, cid
    rec = read_misbehaviour(state, "client-2")
    assert rec is not None and rec.kind == "untrusted"
    # No new client of the retired chain; retiring again (or an unknown chain) is refused.
    hub.b.advance()
    assert submit(h, sim_create(hub.b, 4)).code == ResultCode.UNTRUSTED_CHAIN
    hub.refused(HubRetire(chain_id="sub-b"), "retired already")
    hub.refused(HubRetire(chain_id="sub-x"), "not a registered sub-chain")


def test_trust_and_untrust_of_a_registry_chain_are_refused_on_a_hub(hub: Hub) -> None:
    """The registry alone governs a sub-chain's trust: interchain.trust_chain / untrust_chain of a chain id in it
    (registered or retired) are refused, so retiring reaches every trust and client of it."""
    hub.register(hub.b)
    gh = hub.b.params.genesis_hash
    hub.refused(UntrustChain(chain_id="sub-b"), "use hub.register / hub.retire")
    hub.refused(TrustChain(chain_id="sub-b", genesis_hash=b"\x07" * 32), "use hub.register / hub.retire")
    hub.decide(HubRetire(chain_id="sub-b"))
    hub.refused(TrustChain(chain_id="sub-b", genesis_hash=gh), "use hub.register / hub.retire")
    assert read_trusted(hub.h.reader(), "sub-b") is None
    # A chain outside the registry is still trusted and untrusted by interchain governance.
    hub.decide(TrustChain(chain_id="sub-c", genesis_hash=hub.c.params.genesis_hash))
    hub.decide(UntrustChain(chain_id="sub-c"))


def test_register_refuses_a_chain_trusted_outside_the_registry(hub: Hub) -> None:
    """A trust record, or a client left by an earlier trust, would escape a later retirement: untrust it first."""
    h, gh = hub.h, hub.b.params.genesis_hash
    hub.decide(TrustChain(chain_id="sub-b", genesis_hash=gh))
    hub.refused(HubRegister(chain_id="sub-b", operator_org="org1", genesis_hash=gh), "untrust it first")
    assert submit(h, sim_create(hub.b, 2)).code == 0  # client-0, indexed
    hub.decide(UntrustChain(chain_id="sub-b"))  # freezes it; the client remains
    assert read_trusted(h.reader(), "sub-b") is None
    hub.refused(HubRegister(chain_id="sub-b", operator_org="org1", genesis_hash=gh), "untrust it first")
    assert read_subchain(h.reader(), "sub-b") is None


def test_clients_of_a_chain_are_indexed_and_capped_on_a_hub(hub: Hub) -> None:
    h = hub.h
    hub.register(hub.b)
    hub.register(hub.c)
    for _ in range(MAX_CLIENTS_PER_SUBCHAIN):
        assert submit(h, sim_create(hub.b, 2)).code == 0
    assert submit(h, sim_create(hub.c, 2)).code == 0
    ids = [f"client-{i}" for i in range(MAX_CLIENTS_PER_SUBCHAIN)]
    assert indexed_clients(h.reader(), "sub-b") == ids
    assert indexed_clients(h.reader(), "sub-c") == [f"client-{MAX_CLIENTS_PER_SUBCHAIN}"]
    assert all(h.reader().get(hub_client_key("sub-b", cid)) == b"\x01" for cid in ids)
    before = hub.registry()
    r = submit(h, sim_create(hub.b, 2))
    assert r.code == ResultCode.DUPLICATE and "the most it keeps of one chain" in r.message, r
    assert hub.registry() == before
    assert submit(h, sim_create(hub.c, 2)).code == 0  # another chain is not affected


def test_a_chain_that_is_not_a_hub_writes_no_client_index() -> None:
    """Other chains' state is as before: no hub/ key, no cap on clients per chain."""
    a = SimChain("plain", accounts={RELAYER: 10**6})
    a.advance(1)
    b = SimChain("sub-b")
    b.advance(2)
    for _ in range(MAX_CLIENTS_PER_SUBCHAIN + 1):
        assert submit(a, sim_create(b, 2)).code == 0
    assert a.reader().scan(b"hub/", b"hub0", 10) == []


class _Reads:
    """A state reader counting the client records read (``interchain/client/`` gets and scanned rows)."""

    def __init__(self, state: StateReader) -> None:
        self.state, self.client_reads = state, 0

    def get(self, key: bytes) -> bytes | None:
        self.client_reads += key.startswith(CLIENT_PREFIX)
        return self.state.get(key)

    def scan(self, start: bytes, end: bytes, limit: int) -> list[tuple[bytes, bytes]]:
        rows = self.state.scan(start, end, limit)
        self.client_reads += sum(k.startswith(CLIENT_PREFIX) for k, _ in rows)
        return rows


def test_retire_reads_only_the_chains_own_clients(hub: Hub) -> None:
    """Retirement freezes from the hub's client index: its reads do not grow with the other chains' clients."""
    h = hub.h
    hub.register(hub.b)
    hub.register(hub.c)
    assert submit(h, sim_create(hub.b, 2)).code == 0  # client-0
    for _ in range(6):
        assert submit(h, sim_create(hub.c, 2)).code == 0  # client-1..6
    reads = _Reads(h.reader())
    ctx = TxContext(
        b"\x00" * 20,
        h.params,
        h.height + 1,
        reads.get,
        lambda k, v: None,
        time_ms=h.time_ms,
        scan=lambda start, end, limit: (reads.scan(start, end, limit), 0),
    )
    events = hub_governance.apply_change_in_block(ctx, 99, HubRetire(chain_id="sub-b"))
    assert (events[0].type, dict(events[0].attributes)["frozen"]) == ("hub.retired", b"1")
    assert reads.client_reads <= 2, reads.client_reads  # client-0, read once or twice, not the six of sub-c


def test_retire_from_the_index_freezes_every_client_and_only_the_chains(hub: Hub) -> None:
    h = hub.h
    hub.register(hub.b)
    hub.register(hub.c)
    created = []
    for i in range(12):
        chain = hub.b if i % 3 else hub.c
        assert submit(h, sim_create(chain, 2)).code == 0
        created.append(chain.chain_id)
    hub.decide(HubRetire(chain_id="sub-b"))
    state = h.reader()
    for i, chain_id in enumerate(created):
        client = read_client(state, f"client-{i}")
        assert client is not None and (client.frozen_height != 0) == (chain_id == "sub-b"), i


def test_a_packet_from_a_retired_sub_chain_is_refused_at_the_hub(hub: Hub) -> None:
    """Register, connect, send (a voucher is minted on the hub), retire; a new packet is refused: the relay's
    update fails on the frozen client, and without an update its proof is refused, so no voucher is minted."""
    h, b = hub.h, hub.b
    hub.register(b)
    path = tc.connect(h, b)
    end = path.end(h)
    r = h.submit(
        RELAYER,
        HubConnected(
            chain_id="sub-b",
            client_id=end.client_id,
            connection_id=end.connection_id,
            channels=[PortChannel(port="transfer", channel=end.channel)],
        ),
    )
    assert r.code == 0, r
    sub = read_subchain(h.reader(), "sub-b")
    assert sub is not None and sub.status == CONNECTED

    voucher = denom_hash(h.params.suite, f"transfer/{end.channel}/native")
    bob = h.address("bob")

    def send(amount: int) -> None:
        msg = TransferSend(
            channel=path.end(b).channel, denom="native", amount=amount, receiver=bob, timeout_height=h.height + 50
        )
        assert b.submit("alice", msg).code == 0

    send(10)
    tc.relay_all(h, b, path)
    assert voucher_balance(h.reader(), voucher, bob) == 10

    hub.decide(HubRetire(chain_id="sub-b"))
    send(5)
    items = tc.recv_items(b, h, path, b.height)
    assert len(items) == 1
    update = tc.update_message(h, b, end.client_id, b.height)
    assert update is not None
    r = h.submit(RELAYER, Relay(update=update, items=items))
    assert r.code == ResultCode.CLIENT_FROZEN, r
    # Without the update, the item's proof is refused by the frozen client.
    r = h.submit(RELAYER, Relay(update=None, items=items))
    assert r.code == 0 and tc.item_codes(r) == [ResultCode.CLIENT_FROZEN], r
    assert voucher_balance(h.reader(), voucher, bob) == 10 and voucher_supply(h.reader(), voucher) == 10


def test_sub_chains_registered_in_genesis_are_governed_like_the_others() -> None:
    """A hub genesis registers sub-chains at height 0 (record, index, count, trust); governance then refuses their
    ids again, retires them, and counts on from the genesis count."""
    b = SimChain("sub-b")
    gh = b.params.genesis_hash
    h = SimChain(
        "hub",
        accounts={RELAYER: 10**6},
        client_policy="governed",
        hub=GenesisHub(subchains=[GenesisSubChain(chain_id="sub-b", operator_org="org1", genesis_hash=gh.hex())]),
    )
    h.advance(1)
    assert h.submit(ADMIN, RegisterCert(cert=h.admin_cert())).code == 0
    state = h.reader()
    assert read_subchain(state, "sub-b") == SubChain(
        operator_org="org1", genesis_hash=gh, status=REGISTERED, registered_height=0
    )
    assert read_count(state) == 1 and read_trusted(state, "sub-b") == TrustedChain(genesis_hash=gh, added_height=0)
    b.advance(2)
    assert submit(h, sim_create(b, 2)).code == 0
    r = h.submit(ADMIN, ProposeMembership(change=HubRegister(chain_id="sub-b", operator_org="org1", genesis_hash=gh)))
    assert r.code == ResultCode.INVALID_CHANGE and "already registered" in r.message
    c = SimChain("sub-c")
    change = HubRegister(chain_id="sub-c", operator_org="org1", genesis_hash=c.params.genesis_hash)
    assert h.submit(ADMIN, ProposeMembership(change=change)).code == 0
    assert read_count(h.reader()) == 2
    r = h.submit(ADMIN, ProposeMembership(change=HubRetire(chain_id="sub-b")))
    assert r.code == 0 and dict(r.events[-2].attributes)["frozen"] == b"1"
    assert read_count(h.reader()) == 1
    client = read_client(h.reader(), "client-0")
    assert client is not None and client.frozen_height == 2
