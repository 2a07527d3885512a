"""Fixtures for the contract toolchain and example tests: the examples built once per session, deterministic
keys, and a chain held in a dict that runs blocks through the core's ``apply_block`` with the wasmtime engine."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from trellis.app.modules.contracts import abi as abi_mod
from trellis.app.modules.contracts.toolchain import CONTRACTS_DIR, BuildResult, build
from trellis.core.codec import decode, encode
from trellis.core.crypto.suite import ED25519, address_of, ed25519_keypair_from_seed, ed25519_sign
from trellis.core.execution.fast_path import apply_block
from trellis.core.execution.reference import BlockEnv, genesis_writes
from trellis.core.ledger.block import Event, Receipt
from trellis.core.ledger.tx import TxBody, sign_tx
from trellis.core.modules.accounts.state import Account, account_key
from trellis.core.modules.contracts.engine import CallOutcome, ContractEngine, StateContractHost, plain_scan
from trellis.core.modules.contracts.messages import ContractCall, ContractDeploy
from trellis.core.modules.payload import Payload
from trellis.core.params import ChainParams, Genesis, GenesisAccount, GenesisValidator, params_from_genesis

EXAMPLES = ("token", "escrow", "registry")
EXAMPLES_DIR = CONTRACTS_DIR / "examples"
CHAIN_ID = "contracts-test-chain"
GENESIS_TIME_MS = 1_700_000_000_000
BLOCK_INTERVAL_MS = 1_000
CALL_GAS = 5_000_000
DEPLOY_GAS = 50_000_000


@dataclass(frozen=True)
class Example:
    """A built example contract: its module and its ABI."""

    name: str
    build: BuildResult
    code: bytes
    abi: abi_mod.Abi


@pytest.fixture(scope="session")
def examples() -> dict[str, Example]:
    """The three example contracts, compiled once per session (and cached across sessions by the toolchain)."""
    out: dict[str, Example] = {}
    for name in EXAMPLES:
        result = build(EXAMPLES_DIR / name)
        out[name] = Example(name, result, result.wasm_path.read_bytes(), abi_mod.load_abi(result.abi_path))
    return out


@dataclass(frozen=True)
class Key:
    """A deterministic Ed25519 key pair and its address."""

    name: str
    secret: bytes
    public: bytes
    address: bytes


def make_key(name: str) -> Key:
    """The key whose seed is SHA-256 of ``name``."""
    secret, public = ed25519_keypair_from_seed(hashlib.sha256(name.encode()).digest())
    return Key(name, secret, public, address_of(ED25519, public))


class Failed(Exception):
    """A transaction the test expected to succeed failed; carries its receipt."""

    def __init__(self, receipt: Receipt) -> None:
        super().__init__(f"code {receipt.code}: {receipt.message}")
        self.receipt = receipt


@dataclass(frozen=True)
class Deployed:
    """A deployed contract: its address and ABI."""

    address: bytes
    abi: abi_mod.Abi


class ContractChain:
    """A single-node chain in a dict: each ``send`` runs one block of one transaction through ``apply_block``.

    Block time starts at genesis and advances ``BLOCK_INTERVAL_MS`` a block, or jumps with ``advance``.
    """

    def __init__(self, engine: ContractEngine, funded: Sequence[Key]) -> None:
        validator = make_key("validator-0")
        genesis = Genesis(
            chain_id=CHAIN_ID,
            genesis_time_ms=GENESIS_TIME_MS,
            validators=[GenesisValidator(name="v0", public_key=validator.public.hex(), power=1)],
            mint_authority=make_key("mint").address.hex(),
            accounts=[GenesisAccount(address=k.address.hex(), balance=1_000_000) for k in funded],
        )
        self.params: ChainParams = params_from_genesis(genesis)
        self.engine = engine
        self.state: dict[bytes, bytes] = {k: v for k, v in genesis_writes(self.params).items() if v is not None}
        self.height = 0
        self.time_ms = GENESIS_TIME_MS

    # StateReader
    def get(self, key: bytes) -> bytes | None:
        return self.state.get(key)

    def scan(self, start: bytes, end: bytes, limit: int) -> list[tuple[bytes, bytes]]:
        return sorted((k, v) for k, v in self.state.items() if start <= k < end)[:limit]

    def advance(self, ms: int) -> None:
        """Move block time forward by ``ms`` (on top of the usual interval of the next block)."""
        self.time_ms += ms

    def send(self, key: Key, payload: Payload) -> Receipt:
        """Run the next block holding one transaction of ``key``; commit its writes; return its receipt."""
        raw = self.state.get(account_key(key.address))
        nonce = 0 if raw is None else decode(raw, Account).nonce
        tx = sign_tx(TxBody(chain_id=CHAIN_ID, sender=key.public, nonce=nonce, payload=payload), self._signer(key))
        self.height += 1
        self.time_ms += BLOCK_INTERVAL_MS
        env = BlockEnv(params=self.params, height=self.height, time_ms=self.time_ms, contracts=self.engine)
        out = apply_block(self, [tx], [encode(tx)], env)
        for k, v in out.writes.items():
            if v is None:
                self.state.pop(k, None)
            else:
                self.state[k] = v
        return out.receipts[0]

    @staticmethod
    def _signer(key: Key) -> Any:
        return lambda message: ed25519_sign(key.secret, message)

    def deploy(
        self, key: Key, example: Example, init_args: Sequence[Any] | Mapping[str, Any] | None = None
    ) -> Deployed:
        """Deploy ``example`` (running ``init`` with ``init_args`` if given); fail the test if it fails."""
        args = b"" if init_args is None else abi_mod.encode_args(example.abi, "init", init_args)
        receipt = self.send(key, ContractDeploy(code=example.code, args=args, gas_limit=DEPLOY_GAS))
        if receipt.code != 0:
            raise Failed(receipt)
        return Deployed(receipt.data, example.abi)

    def try_call(
        self, key: Key, contract: Deployed, method: str, args: Sequence[Any] | Mapping[str, Any] = ()
    ) -> Receipt:
        """Call ``method``; return the receipt whatever its code."""
        data = abi_mod.encode_args(contract.abi, method, args)
        return self.send(key, ContractCall(contract=contract.address, method=method, args=data, gas_limit=CALL_GAS))

    def call(
        self, key: Key, contract: Deployed, method: str, args: Sequence[Any] | Mapping[str, Any] = ()
    ) -> dict[str, Any]:
        """Call ``method`` and return its decoded outputs (Python values); fail the test if the call fails."""
        receipt = self.try_call(key, contract, method, args)
        if receipt.code != 0:
            raise Failed(receipt)
        return abi_mod.decode_outputs(contract.abi, method, receipt.data, raw=True)

    def query_raw(self, contract: bytes, method: str, args: bytes, gas: int = CALL_GAS) -> CallOutcome:
        """Run ``method`` read-only against the committed state, as a node's query does (the engine directly)."""
        host = StateContractHost(
            self.params.suite,
            self.params.genesis.contracts,
            self.height,
            self.time_ms,
            bytes(20),
            self,
            None,
            plain_scan(self.scan),
        )
        return self.engine.call(host, contract, bytes(20), method, args, gas)

    def query(self, contract: Deployed, method: str, args: Sequence[Any] | Mapping[str, Any] = ()) -> dict[str, Any]:
        """Run ``method`` read-only and return its decoded outputs (Python values); fail the test if it fails."""
        outcome = self.query_raw(contract.address, method, abi_mod.encode_args(contract.abi, method, args))
        assert outcome.ok, f"query {method} failed: code {outcome.code}: {outcome.message}"
        return abi_mod.decode_outputs(contract.abi, method, outcome.data, raw=True)


def contract_events(receipt: Receipt, contract: Deployed) -> list[tuple[str, dict[str, Any]]]:
    """(topic, decoded fields) of each event ``contract`` emitted in ``receipt``, in order."""
    out: list[tuple[str, dict[str, Any]]] = []
    for e in receipt.events:
        if (
            e.type.startswith("contract.")
            and _attr(e, "contract") == contract.address
            and e.type != "contract.deployed"
        ):
            out.append((e.type.removeprefix("contract."), abi_mod.decode_event(contract.abi, e, raw=True)))
    return out


def _attr(event: Event, name: str) -> bytes | None:
    for k, v in event.attributes:
        if k == name:
            return v
    return None


@pytest.fixture(scope="session")
def engine() -> ContractEngine:
    """The wasmtime engine (imported lazily: it is written alongside these tests)."""
    from trellis.app.modules.contracts.engine import WasmEngine

    return WasmEngine()


@dataclass(frozen=True)
class People:
    """The test's actors."""

    alice: Key
    bob: Key
    carol: Key
    dave: Key
    erin: Key


@pytest.fixture(scope="session")
def people() -> People:
    return People(*(make_key(n) for n in ("alice", "bob", "carol", "dave", "erin")))


@pytest.fixture
def chain(engine: ContractEngine, people: People) -> ContractChain:
    return ContractChain(engine, [people.alice, people.bob, people.carol, people.dave, people.erin])


def example_path(name: str) -> Path:
    """The folder of example ``name``."""
    return EXAMPLES_DIR / name
