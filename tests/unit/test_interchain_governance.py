"""Interchain governance changes through membership propose/approve (docs/spec/interchain.md 2.6; ADR 0015
section 4): ``trust_chain`` lets the governed policy create clients, ``untrust_chain`` freezes every client of the
chain, ``recover_client`` gives a frozen or expired client the latest consensus state of an active substitute.

Chain A (governed policy, org1 with admin threshold 1: a proposal applies at once) hosts the clients of chains B and
C (``SimChain``).
"""

from __future__ import annotations

import pytest

from tests.fixtures.chain_sim import ADMIN, SimChain
from tests.fixtures.interchain_clients import HOUR, RELAYER, host, interchain_state, sim_create, sim_update, submit
from trellis.core.execution.context import TxContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import Receipt, block_hash
from trellis.core.modules.accounts.state import account_key
from trellis.core.modules.interchain.governance import clients_of, is_interchain_change, precheck_change
from trellis.core.modules.interchain.messages import InterchainChange, RecoverClient, TrustChain, UntrustChain
from trellis.core.modules.interchain.proofs import client_status, verify_membership
from trellis.core.modules.interchain.state import (
    TrustedChain,
    expired_key,
    read_client,
    read_consensus,
    read_misbehaviour,
    read_trusted,
)
from trellis.core.modules.membership.messages import AddOrg, ProposeMembership, RegisterCert


class Net:
    def __init__(self) -> None:
        self.a = host(policy="governed")
        assert self.a.submit(ADMIN, RegisterCert(cert=self.a.admin_cert())).code == 0
        self.b = SimChain("chain-b", accounts={"alice": 100})
        self.c = SimChain("chain-c")
        self.b.advance(2)
        self.c.advance(2)

    def propose(self, change: InterchainChange) -> Receipt:
        return self.a.submit(ADMIN, ProposeMembership(change=change))

    def decide(self, change: InterchainChange) -> list[tuple[str, dict[str, bytes]]]:
        r = self.propose(change)
        assert r.code == 0, r
        return [(e.type, dict(e.attributes)) for e in r.events]

    def refused(self, change: InterchainChange, fragment: str) -> None:
        before = interchain_state(self.a)
        r = self.propose(change)
        assert r.code == ResultCode.INVALID_CHANGE and fragment in r.message, r
        assert interchain_state(self.a) == before

    def status(self, cid: str) -> str | None:
        return client_status(self.a.reader(), cid, self.a.time_ms)


@pytest.fixture
def net() -> Net:
    return Net()


def _trust(net: Net, chain: SimChain) -> None:
    net.decide(TrustChain(chain_id=chain.chain_id, genesis_hash=chain.params.genesis_hash))


def test_trust_chain_lets_the_governed_policy_create_clients(net: Net) -> None:
    r = submit(net.a, sim_create(net.b, 2))
    assert r.code == ResultCode.UNTRUSTED_CHAIN
    events = net.decide(TrustChain(chain_id="chain-b", genesis_hash=net.b.params.genesis_hash))
    assert events[-1] == (
        "interchain.chain_trusted",
        {"proposal": b"0", "chain_id": b"chain-b", "genesis_hash": net.b.params.genesis_hash},
    )
    assert read_trusted(net.a.reader(), "chain-b") == TrustedChain(
        genesis_hash=net.b.params.genesis_hash, added_height=net.a.height
    )
    assert submit(net.a, sim_create(net.b, 2)).code == 0
    # The same trust again is refused; another hash replaces it (and then b's genesis is no longer trusted).
    net.refused(TrustChain(chain_id="chain-b", genesis_hash=net.b.params.genesis_hash), "already trusted")
    net.decide(TrustChain(chain_id="chain-b", genesis_hash=b"\x02" * 32))
    assert submit(net.a, sim_create(net.b, 2)).code == ResultCode.UNTRUSTED_CHAIN
    assert net.status("client-0") == "active"
    # A checkpoint names both its height and its block id; with one, it is recorded.
    net.refused(TrustChain(chain_id="chain-b", genesis_hash=net.b.params.genesis_hash, checkpoint_height=2), "both")
    bid = block_hash(net.b.params.suite, net.b.light_block(2).header)
    net.decide(
        TrustChain(
            chain_id="chain-b", genesis_hash=net.b.params.genesis_hash, checkpoint_height=2, checkpoint_block_id=bid
        )
    )
    rec = read_trusted(net.a.reader(), "chain-b")
    assert rec is not None and (rec.checkpoint_height, rec.checkpoint_block_id) == (2, bid)


def test_untrust_chain_freezes_every_client_of_that_chain(net: Net) -> None:
    _trust(net, net.b)
    _trust(net, net.c)
    assert submit(net.a, sim_create(net.b, 2)).code == 0  # client-0
    assert submit(net.a, sim_create(net.c, 2)).code == 0  # client-1
    net.b.advance()
    assert submit(net.a, sim_create(net.b, 3)).code == 0  # client-2
    assert [cid for cid, _ in clients_of(net.a.reader(), "chain-b")] == ["client-0", "client-2"]
    events = net.decide(UntrustChain(chain_id="chain-b"))
    assert events[-3:] == [
        ("interchain.chain_untrusted", {"proposal": b"2", "chain_id": b"chain-b", "frozen": b"2"}),
        ("interchain.client_frozen", {"client_id": b"client-0", "height": b"2", "kind": b"untrusted"}),
        ("interchain.client_frozen", {"client_id": b"client-2", "height": b"3", "kind": b"untrusted"}),
    ]
    assert read_trusted(net.a.reader(), "chain-b") is None
    assert (net.status("client-0"), net.status("client-1"), net.status("client-2")) == ("frozen", "active", "frozen")
    rec = read_misbehaviour(net.a.reader(), "client-2")
    assert rec is not None and rec.kind == "untrusted" and rec.height == 3
    # Frozen clients refuse updates; no new client of b; nothing left to untrust.
    net.b.advance()
    assert submit(net.a, sim_update(net.b, "client-0", 2, 4)).code == ResultCode.CLIENT_FROZEN
    assert submit(net.a, sim_create(net.b, 4)).code == ResultCode.UNTRUSTED_CHAIN
    net.refused(UntrustChain(chain_id="chain-b"), "nothing to untrust")
    net.refused(UntrustChain(chain_id="chain-x"), "nothing to untrust")


def test_recover_client_takes_the_substitutes_latest_state(net: Net) -> None:
    _trust(net, net.b)
    _trust(net, net.c)
    assert submit(net.a, sim_create(net.b, 2)).code == 0  # client-0 (the subject)
    assert submit(net.a, sim_create(net.c, 2)).code == 0  # client-1 (another chain)
    net.decide(UntrustChain(chain_id="chain-b"))
    _trust(net, net.b)
    net.b.advance(3)
    assert submit(net.a, sim_create(net.b, 5)).code == 0  # client-2 (the substitute)

    net.refused(RecoverClient(subject="client-0", substitute="client-0"), "itself")
    net.refused(RecoverClient(subject="client-9", substitute="client-2"), "no client client-9")
    net.refused(RecoverClient(subject="client-0", substitute="client-9"), "no substitute")
    net.refused(RecoverClient(subject="client-2", substitute="client-0"), "is active")
    net.refused(RecoverClient(subject="client-0", substitute="client-1"), "not of the subject's chain")

    events = net.decide(RecoverClient(subject="client-0", substitute="client-2"))
    assert events[-1] == (
        "interchain.client_recovered",
        {"proposal": b"4", "subject": b"client-0", "substitute": b"client-2", "height": b"5"},
    )
    state = net.a.reader()
    subject = read_client(state, "client-0")
    assert subject is not None and subject.frozen_height == 0 and subject.latest_height == 5
    assert read_consensus(state, "client-0", 5) == read_consensus(state, "client-2", 5)
    assert read_misbehaviour(state, "client-0") is None
    assert net.status("client-0") == "active"
    # The recovered client proves and updates again.
    ctx = TxContext(b"\x00" * 20, net.a.params, net.a.height + 1, state.get, lambda k, v: None, time_ms=net.a.time_ms)
    alice = account_key(net.b.address("alice"))
    value = net.b.get(alice, 5)
    assert value is not None
    assert verify_membership(ctx, "client-0", alice, value, net.b.prove(alice, 5)) == 5
    # Its own consensus states from before the freeze are gone: it proves nothing at those heights any more.
    assert read_consensus(state, "client-0", 2) is None
    old = net.b.get(alice, 2)
    assert old is not None
    with pytest.raises(TxFailure) as refused:
        verify_membership(ctx, "client-0", alice, old, net.b.prove(alice, 2))
    assert refused.value.code == ResultCode.UNKNOWN_CONSENSUS_HEIGHT
    net.b.advance()
    assert submit(net.a, sim_update(net.b, "client-0", 5, 6)).code == 0
    # The substitute must be ahead of the subject.
    net.decide(UntrustChain(chain_id="chain-b"))
    _trust(net, net.b)
    assert submit(net.a, sim_create(net.b, 6)).code == 0  # client-3 at 6, subject client-0 at 6
    net.refused(RecoverClient(subject="client-0", substitute="client-3"), "not above")
    # A frozen substitute is refused.
    net.b.advance()
    assert submit(net.a, sim_create(net.b, 7)).code == 0  # client-4
    net.decide(UntrustChain(chain_id="chain-b"))
    net.refused(RecoverClient(subject="client-0", substitute="client-4"), "not active")


def test_an_expired_client_is_recovered(net: Net) -> None:
    _trust(net, net.b)
    r = submit(net.a, sim_create(net.b, 2, trusting_period_ms=HOUR))
    assert r.code == 0
    net.a.advance(1, time_step_ms=HOUR)
    assert net.status("client-0") == "expired"
    net.b.advance(1, time_step_ms=HOUR)
    assert submit(net.a, sim_create(net.b, 3)).code == 0  # client-1, a day's trusting period
    net.decide(RecoverClient(subject="client-0", substitute="client-1"))
    subject = read_client(net.a.reader(), "client-0")
    assert subject is not None and subject.trusting_period_ms == 24 * HOUR and net.status("client-0") == "active"


def test_a_client_with_expired_packets_is_not_recovered(net: Net) -> None:
    """``expire_packet`` marks the frozen client (``interchain/expired/<client_id>``): its counterparty may hold value
    the expiry already gave back here, so the precheck (run at proposal and again at application) refuses it; the
    same recovery without the marker passes. The whole path (expire_forward, then the proposal) is in
    ``test_transfer_expire_forward.py``."""
    _trust(net, net.b)
    assert submit(net.a, sim_create(net.b, 2)).code == 0  # client-0 (the subject)
    net.decide(UntrustChain(chain_id="chain-b"))
    _trust(net, net.b)
    net.b.advance(3)
    assert submit(net.a, sim_create(net.b, 5)).code == 0  # client-1 (the substitute)
    state = net.a.reader()
    change = RecoverClient(subject="client-0", substitute="client-1")

    def ctx(marked: bool) -> TxContext:
        def get(key: bytes) -> bytes | None:
            return (1).to_bytes(8, "big") if marked and key == expired_key("client-0") else state.get(key)

        return TxContext(b"\x00" * 20, net.a.params, net.a.height + 1, get, lambda k, v: None, time_ms=net.a.time_ms)

    precheck_change(ctx(False), change)
    with pytest.raises(TxFailure) as refused:
        precheck_change(ctx(True), change)
    assert refused.value.code == ResultCode.INVALID_CHANGE
    assert refused.value.message == (
        "client-0 has packets expired while it was frozen; recovering it could pay them twice: create a new client "
        "and channel instead"
    )
    assert state.get(expired_key("client-0")) is None  # never written without an expiry
    net.decide(change)
    assert net.status("client-0") == "active"


def test_interchain_changes_are_routed_to_interchain_governance() -> None:
    assert is_interchain_change(TrustChain(chain_id="x", genesis_hash=b"\x00" * 32))
    assert is_interchain_change(UntrustChain(chain_id="x"))
    assert is_interchain_change(RecoverClient(subject="client-0", substitute="client-1"))
    assert not is_interchain_change(AddOrg(name="org9", ca_certs=[]))


def test_untrust_in_the_block_that_created_the_clients_finds_them() -> None:
    a = host(policy="open")
    assert a.submit(ADMIN, RegisterCert(cert=a.admin_cert())).code == 0
    b = SimChain("chain-b")
    b.advance(2)
    receipts = a.commit_block(
        [
            a.sign(RELAYER, sim_create(b, 1)),
            a.sign(RELAYER, sim_create(b, 2)),
            a.sign(ADMIN, ProposeMembership(change=UntrustChain(chain_id="chain-b"))),
        ]
    )
    assert [r.code for r in receipts] == [0, 0, 0]
    assert dict(receipts[-1].events[-3].attributes)["frozen"] == b"2"
    assert [client_status(a.reader(), c, a.time_ms) for c in ("client-0", "client-1")] == ["frozen", "frozen"]
