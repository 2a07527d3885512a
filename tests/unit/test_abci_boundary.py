"""The ABCI boundary (ADR 0013 section 6): what a block did comes back as data (``executed.effects``) and the shell
acts on that data; committed state is read through ``query`` and ``reader``.

The chain: one validator (power 3) owned by ``org1``, the only member organisation (admin threshold 1), whose
admin ``alice`` registers her certificate in block 1; governance changes then apply in the block that proposes
them. The node and driver tests use an application that reports an effect its writes do not show (or hides one
they do): the shell must follow ``effects``, not sniff the writes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib

import pytest

from tests.fixtures.governance import fixed_ca
from tests.shell.driver_fakes import ManualTimers
from trellis.abci import (
    QUERY_OK,
    QUERY_UNKNOWN_PATH,
    Application,
    CommittedView,
    NotFound,
    QueryRequest,
    StageTimes,
)
from trellis.app.application import TrellisApp
from trellis.core.codec import decode, encode
from trellis.core.consensus.machine import Timeouts
from trellis.core.crypto.suite import ED25519, address_of
from trellis.core.execution.block import BlockEffects, ExecutedBlock
from trellis.core.ledger.block import Block, Validator, ValidatorSet, make_validator_set
from trellis.core.ledger.state_tree import verify_state_proof
from trellis.core.ledger.tx import TxBody, sign_tx
from trellis.core.modules.accounts.state import ACCOUNT_PREFIX, Account, account_key
from trellis.core.modules.membership.messages import AddOrg, ProposeMembership, RegisterCert
from trellis.core.modules.membership.state import MEMBERSHIP_KEY, changed
from trellis.core.modules.payload import Payload
from trellis.core.modules.validators.messages import AddValidator
from trellis.core.modules.validators.state import ValidatorUpdate
from trellis.core.params import (
    ChainParams,
    Genesis,
    GenesisAccount,
    GenesisMembership,
    GenesisOrg,
    GenesisValidator,
    params_from_genesis,
)
from trellis.keys.signer import MemorySigner
from trellis.node.config import NodeConfig
from trellis.node.consensus_driver import ConsensusDriver, NoNetwork
from trellis.node.mempool import Mempool
from trellis.node.node import Node
from trellis.node.privval import PrivValidator, solo_commit
from trellis.node.wal import MemoryWal
from trellis.storage.chain_store import ChainStore
from trellis.storage.kv import MemoryStore

CHAIN_ID = "abci-boundary"
GENESIS_TIME_MS = 1_700_000_000_000


def _signer(name: str) -> MemorySigner:
    return MemorySigner(hashlib.sha256(name.encode()).digest())


VALIDATOR = _signer("abci-validator")
ALICE = _signer("abci-alice")
NEWCOMER = _signer("abci-newcomer")
ALICE_ADDR = address_of(ED25519, ALICE.public_key)


def _params() -> ChainParams:
    return params_from_genesis(
        Genesis(
            chain_id=CHAIN_ID,
            genesis_time_ms=GENESIS_TIME_MS,
            validators=[GenesisValidator(name="v0", public_key=VALIDATOR.public_key.hex(), power=3, org="org1")],
            mint_authority=ALICE_ADDR.hex(),
            accounts=[GenesisAccount(address=ALICE_ADDR.hex(), balance=1000)],
            orgs=[GenesisOrg(name="org1", ca_cert=fixed_ca("org1").pem)],
            membership=GenesisMembership(enforce=False, admin_threshold=1),
        )
    )


class Chain:
    """A ``TrellisApp`` driven by hand: alice's transactions, one block each call, committed under a solo commit."""

    def __init__(self, app: TrellisApp | None = None) -> None:
        self.app = app if app is not None else TrellisApp(_params(), ChainStore(MemoryStore()))
        self.nonce = 0
        self.time_ms = GENESIS_TIME_MS

    def raw(self, payload: Payload) -> bytes:
        body = TxBody(chain_id=CHAIN_ID, sender=ALICE.public_key, nonce=self.nonce, payload=payload)
        self.nonce += 1
        return encode(sign_tx(body, ALICE.sign))

    def build(self, *payloads: Payload) -> ExecutedBlock:
        self.time_ms += 1000
        checked = [self.app.check_tx(self.raw(p)) for p in payloads]
        executed = self.app.prepare_proposal(checked, self.time_ms, address_of(ED25519, VALIDATOR.public_key))
        assert all(r.code == 0 for r in executed.output.receipts), executed.output.receipts
        return executed

    def commit(self, *payloads: Payload) -> ExecutedBlock:
        executed = self.build(*payloads)
        p = self.app.params
        self.app.commit(executed, solo_commit(p.suite, p.chain_id, VALIDATOR, executed))
        return executed


def _register_alice() -> RegisterCert:
    return RegisterCert(cert=fixed_ca("org1").issue(ALICE.public_key, "admin", "alice"))


def _add_org2() -> ProposeMembership:
    return ProposeMembership(change=AddOrg(name="org2", ca_certs=[fixed_ca("org2").der]))


def _add_newcomer() -> ProposeMembership:
    return ProposeMembership(change=AddValidator(public_key=NEWCOMER.public_key, power=1, name="newcomer", org="org1"))


def _with_newcomer(params: ChainParams) -> ValidatorSet:
    v0 = params.validators.validators[0]
    return make_validator_set(ED25519, [v0, Validator(public_key=NEWCOMER.public_key, power=1, name="newcomer")])


@pytest.fixture
def chain() -> Chain:
    return Chain()


# -- effects --------------------------------------------------------------------------------------------------
def test_a_quiet_block_has_no_effects(chain: Chain) -> None:
    assert chain.commit().effects == BlockEffects()


def test_a_certificate_registration_changes_no_peer(chain: Chain) -> None:
    executed = chain.commit(_register_alice())
    assert any(k.startswith(b"cert/") for k in executed.output.writes)
    assert executed.effects == BlockEffects(membership_changed=False, validator_update=None)


def test_a_membership_change_by_governance_is_an_effect(chain: Chain) -> None:
    chain.commit(_register_alice())
    executed = chain.commit(_add_org2())
    assert MEMBERSHIP_KEY in executed.output.writes
    assert executed.effects == BlockEffects(membership_changed=True, validator_update=None)
    peers = chain.app.peer_membership()
    assert peers is not None and fixed_ca("org2").pem.encode() in peers.ca_bundle_pem


def test_a_validator_set_change_is_an_effect_every_node_computes(chain: Chain) -> None:
    chain.commit(_register_alice())
    executed = chain.commit(_add_newcomer())
    update = ValidatorUpdate(effective_height=4, validators=_with_newcomer(chain.app.params))
    assert executed.effects.validator_update == update
    # A node that did not build the block gets the same effects when it executes it.
    replica = Chain()
    for h in (1, 2):
        block = chain.app.store.block(h)
        assert block is not None
        again = replica.app.finalize_block(block)
        replica.app.commit(again, chain.app.store.commit(h))  # type: ignore[arg-type]
    assert again.effects == executed.effects


def test_membership_changed_looks_at_the_governed_keys_only() -> None:
    assert changed([b"membership/config"]) and changed([b"acct/x", b"membership/revoked/o\x00s"])
    assert not changed([b"cert/" + bytes(20), b"acct/x", b"membershipx"])
    assert not changed([])


# -- query and reader -----------------------------------------------------------------------------------------
def test_query_state_returns_the_value_and_a_proof_against_the_headers_root(chain: Chain) -> None:
    chain.commit()
    chain.commit()
    key = account_key(ALICE_ADDR)
    for height in (None, 1):
        res = chain.app.query(QueryRequest(path="state", key=key, height=height, prove=True))
        assert res.code == QUERY_OK
        assert res.height == (2 if height is None else 1)
        assert res.proof is not None and res.header is not None and res.value is not None
        assert res.header == chain.app.header(res.height)
        verify_state_proof(ED25519, key, res.value, res.proof, res.header)
        assert decode(res.value, Account).balance == 1000
    absent = chain.app.query(QueryRequest(path="state", key=b"acct/nobody", prove=True))
    assert absent.value is None and absent.proof is not None and absent.header is not None
    verify_state_proof(ED25519, b"acct/nobody", None, absent.proof, absent.header)


def test_query_state_without_proof_and_its_refusals(chain: Chain) -> None:
    chain.commit()
    key = account_key(ALICE_ADDR)
    res = chain.app.query(QueryRequest(path="state", key=key))
    assert (res.code, res.height, res.proof, res.header) == (QUERY_OK, 1, None, None)
    assert res.value == chain.app.reader().get(key)
    assert chain.app.query(QueryRequest(path="state", key=key, height=0)).value == res.value
    assert chain.app.query(QueryRequest(path="no/such/path")).code == QUERY_UNKNOWN_PATH
    with pytest.raises(NotFound):
        chain.app.query(QueryRequest(path="state", key=key, height=2))
    with pytest.raises(NotFound):
        chain.app.query(QueryRequest(path="state", key=key, height=0, prove=True))


def test_reader_is_the_committed_state_at_a_height(chain: Chain) -> None:
    chain.commit(_register_alice())  # alice's nonce becomes 1
    latest = chain.app.reader()
    assert isinstance(latest, CommittedView)
    tip = chain.app.info()
    assert (latest.height, latest.time_ms) == (tip.height, tip.time_ms)
    key = account_key(ALICE_ADDR)
    raw = latest.get(key)
    assert raw is not None and decode(raw, Account).nonce == 1
    assert (key, raw) in latest.scan(ACCOUNT_PREFIX, ACCOUNT_PREFIX + b"\xff", 100)
    genesis = chain.app.reader(0)
    assert (genesis.height, genesis.time_ms) == (0, GENESIS_TIME_MS)
    old = genesis.get(key)
    assert old is not None and decode(old, Account).nonce == 0
    with pytest.raises(NotFound):
        genesis.scan(ACCOUNT_PREFIX, ACCOUNT_PREFIX + b"\xff", 100)  # an earlier state answers point reads only
    with pytest.raises(NotFound):
        chain.app.reader(2)


# -- the shell acts on effects --------------------------------------------------------------------------------
class _Transport:
    """Records what the node applies to its peer connections."""

    def __init__(self) -> None:
        self.updates: list[bytes] = []

    def update_membership(self, ca_bundle_pem: bytes, revoked_serials: frozenset[int]) -> None:
        self.updates.append(ca_bundle_pem)

    async def stop(self) -> None:
        pass


def _node(app: TrellisApp, transport: _Transport) -> Node[TrellisApp]:
    return Node(
        app.params,
        NodeConfig(),
        app.store,
        app,
        None,
        None,  # type: ignore[arg-type]  # no clock: the node is not started
        transport,  # type: ignore[arg-type]
        stages=StageTimes(),
    )


def test_the_node_reapplies_the_peer_membership_when_the_effects_say_so(chain: Chain) -> None:
    chain.commit(_register_alice())
    governed = chain.commit(_add_org2())
    quiet = chain.commit()
    transport = _Transport()
    node = _node(chain.app, transport)
    try:
        node._on_commit(dataclasses.replace(governed, effects=BlockEffects()))  # membership/ written, no effect
        assert transport.updates == []
        node._on_commit(dataclasses.replace(quiet, effects=BlockEffects(membership_changed=True)))  # nothing written
        assert len(transport.updates) == 1 and fixed_ca("org2").pem.encode() in transport.updates[0]
    finally:
        asyncio.run(node.stop())


class _ReportsAChange(TrellisApp):
    """An application whose block 1 reports a validator-set change its writes do not make."""

    change: ValidatorUpdate | None = None

    def finalize_block(self, block: Block) -> ExecutedBlock:
        executed = super().finalize_block(block)
        if block.header.height == 1 and self.change is not None:
            return dataclasses.replace(executed, effects=BlockEffects(validator_update=self.change))
        return executed


def test_the_driver_feeds_the_effects_validator_update_to_its_schedule() -> None:
    app = _ReportsAChange(_params(), ChainStore(MemoryStore()))
    app.change = ValidatorUpdate(effective_height=3, validators=_with_newcomer(app.params))
    boundary: Application = app
    timers = ManualTimers(GENESIS_TIME_MS + 10_000)
    mempool = Mempool(app.account_nonce, max_txs=100, max_bytes=1 << 20)
    privval = PrivValidator(ED25519, VALIDATOR, MemoryWal())
    stages = StageTimes()
    driver = ConsensusDriver(
        app.params, boundary, mempool, privval, NoNetwork(), timers, Timeouts(), blocks=app.store, stages=stages
    )
    driver.start()
    timers.advance(5_000)
    assert app.info().height >= 1
    assert app.validator_set(3) == app.params.validators  # state never changed ...
    assert driver.schedule.set_at(3) == app.change.validators  # ... the driver followed the effect
    assert "order" in stages.snapshot()
    status = driver.status()
    assert status.height >= 2 and status.step in ("propose", "prevote", "precommit", "commit")
