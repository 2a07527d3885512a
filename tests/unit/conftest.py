"""Fixtures for the core unit tests: deterministic keys, chain parameters and an in-memory state."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from trellis.core.codec import decode, encode
from trellis.core.crypto.suite import ED25519, address_of, ed25519_keypair_from_seed, ed25519_sign
from trellis.core.execution.block import ChainTip, ExecutedBlock, build_block, genesis_tip
from trellis.core.execution.fast_path import apply_block
from trellis.core.execution.reference import BlockEnv, BlockOutput, genesis_writes
from trellis.core.ledger.state_tree import TreeUpdate
from trellis.core.ledger.tx import SignedTx, TxBody, sign_tx
from trellis.core.modules.accounts.state import Account, account_key
from trellis.core.modules.contracts.engine import ContractEngine
from trellis.core.modules.kv.state import KvRecord, kv_key
from trellis.core.modules.payload import Payload
from trellis.core.params import (
    ChainParams,
    Genesis,
    GenesisAccount,
    GenesisContracts,
    GenesisLimits,
    GenesisValidator,
    params_from_genesis,
)

CHAIN_ID = "unit-test-chain"
GENESIS_TIME_MS = 1_700_000_000_000
ALICE_BALANCE = 1_000


@dataclass(frozen=True)
class Key:
    """A deterministic Ed25519 key pair and its address."""

    name: str
    secret: bytes
    public: bytes
    address: bytes

    def sign(self, message: bytes) -> bytes:
        return ed25519_sign(self.secret, message)


def make_key(name: str) -> Key:
    """Return the key whose seed is SHA-256 of ``name`` (stable across runs)."""
    secret, public = ed25519_keypair_from_seed(hashlib.sha256(name.encode()).digest())
    return Key(name=name, secret=secret, public=public, address=address_of(ED25519, public))


@dataclass
class MemoryChain:
    """A chain held in dicts: state values, tree nodes and the tip. Implements StateReader and NodeReader."""

    params: ChainParams
    tip: ChainTip
    state: dict[bytes, bytes] = field(default_factory=dict)
    nodes: dict[bytes, bytes] = field(default_factory=dict)
    contracts: ContractEngine | None = None
    """The contract engine blocks run with (None: contract transactions fail)."""

    def get(self, key: bytes) -> bytes | None:
        return self.state.get(key)

    def scan(self, start: bytes, end: bytes, limit: int) -> list[tuple[bytes, bytes]]:
        return sorted((k, v) for k, v in self.state.items() if start <= k < end)[:limit]

    def get_node(self, node_hash: bytes) -> bytes | None:
        return self.nodes.get(node_hash)

    def store_tree(self, tree: TreeUpdate) -> None:
        self.nodes.update(tree.nodes)

    def commit(self, executed: ExecutedBlock) -> None:
        """Make ``executed`` the new tip: apply its writes and store its tree nodes."""
        for key, value in executed.output.writes.items():
            if value is None:
                self.state.pop(key, None)
            else:
                self.state[key] = value
        self.store_tree(executed.tree)
        h = executed.block.header
        self.tip = ChainTip(height=h.height, time_ms=h.time_ms, block_id=executed.block_id, state_root=h.state_root)

    def build(self, txs: list[SignedTx], proposer: bytes | None = None) -> ExecutedBlock:
        """Build the next block of ``txs`` one second after the tip, proposed by the first validator."""
        if proposer is None:
            proposer = address_of(ED25519, self.params.validators.validators[0].public_key)
        return build_block(
            self.params,
            self,
            self,
            self.tip,
            txs,
            [encode(t) for t in txs],
            self.tip.time_ms + 1000,
            proposer,
            contracts=self.contracts,
        )

    def execute(self, txs: list[SignedTx]) -> BlockOutput:
        """Run ``apply_block`` for ``txs`` as the next block (nothing is committed)."""
        env = BlockEnv(
            params=self.params,
            height=self.tip.height + 1,
            time_ms=self.tip.time_ms + 1000,
            contracts=self.contracts,
            parent_id=self.tip.block_id,
        )
        return apply_block(self, txs, [encode(t) for t in txs], env)

    def execute_and_commit(self, txs: list[SignedTx]) -> ExecutedBlock:
        """Build the next block of ``txs`` and commit it."""
        executed = self.build(txs)
        self.commit(executed)
        return executed

    def account(self, address: bytes) -> Account:
        raw = self.state.get(account_key(address))
        return Account(balance=0, nonce=0) if raw is None else decode(raw, Account)

    def kv_record(self, namespace: str, key: bytes) -> KvRecord | None:
        raw = self.state.get(kv_key(namespace, key))
        return None if raw is None else decode(raw, KvRecord)


@dataclass(frozen=True)
class Actors:
    """The keys every test can use: four equal-power validators, the mint authority, alice, bob and carol."""

    validators: list[Key]
    mint: Key
    alice: Key
    bob: Key
    carol: Key


@pytest.fixture(scope="session")
def actors() -> Actors:
    return Actors(
        validators=[make_key(f"validator-{i}") for i in range(4)],
        mint=make_key("mint-authority"),
        alice=make_key("alice"),
        bob=make_key("bob"),
        carol=make_key("carol"),
    )


def make_genesis(
    actors: Actors,
    accounts: list[tuple[bytes, int]] | None = None,
    contracts: GenesisContracts | None = None,
    **limits: int,
) -> Genesis:
    """Return a genesis with the four validators, the mint authority and ``accounts`` (default: alice funded);
    ``contracts`` sets the contract parameters (default: genesis defaults)."""
    if accounts is None:
        accounts = [(actors.alice.address, ALICE_BALANCE)]
    return Genesis(
        chain_id=CHAIN_ID,
        genesis_time_ms=GENESIS_TIME_MS,
        validators=[GenesisValidator(name=v.name, public_key=v.public.hex(), power=1) for v in actors.validators],
        mint_authority=actors.mint.address.hex(),
        accounts=[GenesisAccount(address=a.hex(), balance=b) for a, b in accounts],
        limits=GenesisLimits(**limits),
        contracts=contracts if contracts is not None else GenesisContracts(),
    )


@pytest.fixture
def params(actors: Actors) -> ChainParams:
    return params_from_genesis(make_genesis(actors))


def start_chain(params: ChainParams) -> MemoryChain:
    """Return a chain at its genesis tip (genesis accounts written to state and tree)."""
    chain = MemoryChain(params=params, tip=ChainTip(height=0, time_ms=0, block_id=b"", state_root=b""))
    tip, tree = genesis_tip(params, chain)
    chain.store_tree(tree)
    for key, value in genesis_writes(params).items():
        assert value is not None
        chain.state[key] = value
    chain.tip = tip
    return chain


@pytest.fixture
def chain(params: ChainParams) -> MemoryChain:
    return start_chain(params)


ChainFactory = Callable[..., MemoryChain]


@pytest.fixture
def make_chain(actors: Actors) -> ChainFactory:
    """Return ``make_chain(accounts=[(address, balance), ...], contracts=None, **limits)``: a fresh chain at
    genesis."""

    def _make(
        accounts: list[tuple[bytes, int]] | None = None, contracts: GenesisContracts | None = None, **limits: int
    ) -> MemoryChain:
        return start_chain(params_from_genesis(make_genesis(actors, accounts, contracts, **limits)))

    return _make


TxFactory = Callable[..., SignedTx]


@pytest.fixture
def make_tx() -> TxFactory:
    """Return ``make_tx(key, nonce, payload, chain_id=CHAIN_ID, memo="")``: a transaction signed by ``key``."""

    def _make(key: Key, nonce: int, payload: Payload, chain_id: str = CHAIN_ID, memo: str = "") -> SignedTx:
        body = TxBody(chain_id=chain_id, sender=key.public, nonce=nonce, payload=payload, memo=memo)
        return sign_tx(body, key.sign)

    return _make
