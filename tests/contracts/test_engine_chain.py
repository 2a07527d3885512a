"""The wasmtime engine under the core's real ``apply_block``: deployments, calls, and what a failing call
rolls back (every write, nested calls' included, and its events) and keeps (the nonce and the gas charged),
with the other transactions of the block unaffected."""

from __future__ import annotations

import hashlib

import pytest

from trellis.app.modules.contracts import WasmEngine
from trellis.core.codec import decode, encode
from trellis.core.crypto.suite import ED25519, address_of, ed25519_keypair_from_seed, ed25519_sign
from trellis.core.execution.fast_path import apply_block
from trellis.core.execution.reference import BlockEnv, BlockOutput, genesis_writes
from trellis.core.execution.results import ResultCode
from trellis.core.ledger.block import Event, Receipt
from trellis.core.ledger.tx import SignedTx, TxBody, sign_tx
from trellis.core.modules.accounts.state import Account, account_key
from trellis.core.modules.contracts.engine import Gas, contract_address
from trellis.core.modules.contracts.messages import ContractCall, ContractDeploy
from trellis.core.modules.contracts.state import ContractMeta, code_key, contract_key, contract_storage_key
from trellis.core.modules.payload import Payload
from trellis.core.params import (
    ChainParams,
    Genesis,
    GenesisAccount,
    GenesisContracts,
    GenesisValidator,
    params_from_genesis,
)

from .test_engine import wat

CHAIN_ID = "engine-chain-test"
BALANCE = 10_000_000

# init: store the init arguments under "init"
# write: store "v" under the arguments
# write_then_revert / write_then_spin: store "v" under the arguments, then revert / loop forever
# touch_then_call: store "v" under "t", emit, then call callee(20) | method with no arguments and gas 0
# call_then_revert: call callee(20) | method, then revert "after call"
CONTRACT = wat(
    """
    (func $args (result i32) (local $n i32) (local.set $n (call $input_len)) (call $input_read (i32.const 0))
      (local.get $n))
    (func $write (call $storage_set (i32.const 0) (call $args) (i32.const 0x100) (i32.const 1)))
    (func (export "init") (call $storage_set (i32.const 0x110) (i32.const 4) (i32.const 0) (call $args)))
    (func (export "write") (call $write))
    (func (export "write_then_revert") (call $write) (call $revert (i32.const 0x120) (i32.const 10)))
    (func (export "write_then_spin") (call $write) (loop (br 0)))
    (func (export "touch")
      (call $storage_set (i32.const 0x130) (i32.const 1) (i32.const 0x100) (i32.const 1))
      (call $emit (i32.const 0x140) (i32.const 7) (i32.const 0x100) (i32.const 1)))
    (func (export "call_then_revert") (local $n i32)
      (local.set $n (call $args))
      (drop (call $call (i32.const 0) (i32.const 20) (i32.sub (local.get $n) (i32.const 20)) (i32.const 0)
        (i32.const 0) (i64.const 0)))
      (call $revert (i32.const 0x120) (i32.const 10)))
    (func (export "call_twice") (local $n i32)
      (local.set $n (call $args))
      (call $emit (i32.const 0x140) (i32.const 7) (i32.const 0x100) (i32.const 1))
      (drop (call $call (i32.const 0) (i32.const 20) (i32.sub (local.get $n) (i32.const 20)) (i32.const 0)
        (i32.const 0) (i64.const 0))))
    (data (i32.const 0x100) "v")
    (data (i32.const 0x110) "init")
    (data (i32.const 0x120) "after call")
    (data (i32.const 0x130) "t")
    (data (i32.const 0x140) "Touched")
    """
)


class Key:
    """A deterministic Ed25519 key and its address."""

    def __init__(self, name: str) -> None:
        self.secret, self.public = ed25519_keypair_from_seed(hashlib.sha256(name.encode()).digest())
        self.address = address_of(ED25519, self.public)


ALICE = Key("alice")
BOB = Key("bob")


class Chain:
    """A chain held in a dict, run block by block through ``apply_block`` with the wasmtime engine."""

    def __init__(self, engine: WasmEngine, contracts: GenesisContracts | None = None) -> None:
        validator = Key("validator")
        genesis = Genesis(
            chain_id=CHAIN_ID,
            genesis_time_ms=1_700_000_000_000,
            validators=[GenesisValidator(name="v0", public_key=validator.public.hex(), power=1)],
            mint_authority=Key("mint").address.hex(),
            accounts=[GenesisAccount(address=k.address.hex(), balance=BALANCE) for k in (ALICE, BOB)],
            contracts=contracts or GenesisContracts(),
        )
        self.params: ChainParams = params_from_genesis(genesis)
        self.engine = engine
        self.state = {k: v for k, v in genesis_writes(self.params).items() if v is not None}
        self.height = 0
        self.nonces = {ALICE.address: 0, BOB.address: 0}

    def get(self, key: bytes) -> bytes | None:
        return self.state.get(key)

    def scan(self, start: bytes, end: bytes, limit: int) -> list[tuple[bytes, bytes]]:
        return sorted((k, v) for k, v in self.state.items() if start <= k < end)[:limit]

    def tx(self, key: Key, payload: Payload) -> SignedTx:
        nonce = self.nonces[key.address]
        self.nonces[key.address] += 1
        body = TxBody(chain_id=CHAIN_ID, sender=key.public, nonce=nonce, payload=payload)
        return sign_tx(body, lambda message: ed25519_sign(key.secret, message))

    def block(self, *txs: SignedTx) -> BlockOutput:
        """Execute ``txs`` as the next block and commit its writes."""
        self.height += 1
        env = BlockEnv(
            params=self.params,
            height=self.height,
            time_ms=1_700_000_000_000 + self.height * 1000,
            contracts=self.engine,
        )
        out = apply_block(self, list(txs), [encode(t) for t in txs], env)
        for k, v in out.writes.items():
            if v is None:
                self.state.pop(k, None)
            else:
                self.state[k] = v
        return out

    def deploy(self, key: Key, args: bytes = b"") -> bytes:
        receipt = self.block(self.tx(key, ContractDeploy(code=CONTRACT, args=args, gas_limit=5_000_000))).receipts[0]
        assert receipt.code == 0, receipt.message
        return receipt.data

    def call(self, key: Key, contract: bytes, method: str, args: bytes = b"", gas: int = 1_000_000) -> SignedTx:
        return self.tx(key, ContractCall(contract=contract, method=method, args=args, gas_limit=gas))

    def account(self, address: bytes) -> Account:
        return decode(self.state[account_key(address)], Account)

    def stored(self, contract: bytes, key: bytes) -> bytes | None:
        return self.state.get(contract_storage_key(contract, key))


@pytest.fixture(scope="module")
def engine() -> WasmEngine:
    return WasmEngine()


@pytest.fixture
def chain(engine: WasmEngine) -> Chain:
    return Chain(engine)


def test_a_deployment_returns_the_new_address_and_runs_init(chain: Chain) -> None:
    receipt = chain.block(chain.tx(ALICE, ContractDeploy(code=CONTRACT, args=b"hello", gas_limit=5_000_000))).receipts[
        0
    ]
    address = contract_address(ED25519, ALICE.address, 0)
    assert (receipt.code, receipt.data) == (0, address)
    code_hash = ED25519.hash(CONTRACT)
    assert receipt.events[0] == Event(
        type="contracts.deployed", attributes=[("contract", address), ("code_hash", code_hash)]
    )
    assert decode(chain.state[contract_key(address)], ContractMeta).code_hash == code_hash
    assert chain.state[code_key(code_hash)] == CONTRACT
    assert chain.stored(address, b"init") == b"hello"
    assert receipt.gas_used > Gas.DEPLOY_BASE + Gas.CODE_BYTE * len(CONTRACT)


def test_a_module_the_engine_refuses_is_not_deployed(chain: Chain) -> None:
    bad = wat('(func (export "f") (drop (f64.const 1)))')
    receipt = chain.block(chain.tx(ALICE, ContractDeploy(code=bad, gas_limit=5_000_000))).receipts[0]
    assert receipt.code == ResultCode.INVALID_CONTRACT
    assert "floating point is not allowed (f64.const)" in receipt.message
    assert contract_key(contract_address(ED25519, ALICE.address, 0)) not in chain.state
    assert chain.account(ALICE.address).nonce == 1


def test_a_call_writes_contract_storage(chain: Chain) -> None:
    address = chain.deploy(ALICE)
    receipt = chain.block(chain.call(BOB, address, "write", b"colour")).receipts[0]
    assert receipt.code == 0
    assert chain.stored(address, b"colour") == b"v"
    assert receipt.gas_used > Gas.CALL_BASE + Gas.STORAGE_WRITE


def _failure_rolls_back(chain: Chain, method: str, code: ResultCode, gas: int) -> Receipt:
    address = chain.deploy(ALICE)
    before = chain.account(ALICE.address)
    out = chain.block(
        chain.call(ALICE, address, method, b"lost", gas=gas),
        chain.call(BOB, address, "write", b"kept"),
    )
    failed, other = out.receipts
    assert failed.code == code
    assert failed.events == []
    assert chain.stored(address, b"lost") is None
    after = chain.account(ALICE.address)
    assert (after.nonce, after.balance) == (before.nonce + 1, before.balance)  # gas price 0: no fee
    assert other.code == 0 and chain.stored(address, b"kept") == b"v"
    return failed


def test_a_revert_after_a_write_rolls_back_the_write_but_keeps_nonce_and_gas(chain: Chain) -> None:
    failed = _failure_rolls_back(chain, "write_then_revert", ResultCode.REVERTED, 1_000_000)
    assert failed.message == "after call"
    assert Gas.CALL_BASE + Gas.STORAGE_WRITE < failed.gas_used < 1_000_000


def test_running_out_of_gas_after_a_write_rolls_back_the_write_and_charges_the_limit(chain: Chain) -> None:
    failed = _failure_rolls_back(chain, "write_then_spin", ResultCode.OUT_OF_GAS, 300_000)
    assert failed.gas_used == 300_000


def test_a_failure_after_a_nested_call_rolls_back_the_callees_writes_and_events(chain: Chain) -> None:
    caller = chain.deploy(ALICE)
    callee = chain.deploy(ALICE)
    out = chain.block(chain.call(BOB, caller, "call_then_revert", callee + b"touch"))
    assert out.receipts[0].code == ResultCode.REVERTED
    assert out.receipts[0].events == []
    assert chain.stored(callee, b"t") is None


def test_a_failing_nested_call_fails_the_transaction(chain: Chain) -> None:
    caller = chain.deploy(ALICE)
    callee = chain.deploy(ALICE)
    receipt = chain.block(chain.call(BOB, caller, "call_twice", callee + b"write_then_revert")).receipts[0]
    assert receipt.code == ResultCode.REVERTED
    assert receipt.message == f"call into {callee.hex()} failed: after call"
    assert receipt.events == []


def test_a_successful_nested_call_keeps_both_contracts_events_in_order(chain: Chain) -> None:
    caller = chain.deploy(ALICE)
    callee = chain.deploy(ALICE)
    receipt = chain.block(chain.call(BOB, caller, "call_twice", callee + b"touch")).receipts[0]
    assert receipt.code == 0
    assert [dict(e.attributes)["contract"] for e in receipt.events] == [caller, callee]
    assert chain.stored(callee, b"t") == b"v"


def test_the_gas_used_is_charged_at_the_gas_price_even_when_the_call_fails(engine: WasmEngine) -> None:
    chain = Chain(engine, GenesisContracts(gas_price=2))
    address = chain.deploy(ALICE)
    before = chain.account(BOB.address).balance
    receipt = chain.block(chain.call(BOB, address, "write_then_revert", b"x")).receipts[0]
    assert receipt.code == ResultCode.REVERTED
    assert chain.account(BOB.address).balance == before - 2 * receipt.gas_used


def test_every_node_computes_the_same_receipts(engine: WasmEngine) -> None:
    receipts = []
    for eng in (engine, WasmEngine()):
        chain = Chain(eng)
        address = chain.deploy(ALICE)
        out = chain.block(
            chain.call(ALICE, address, "write", b"a"),
            chain.call(BOB, address, "write_then_revert", b"b"),
            chain.call(ALICE, address, "write_then_spin", b"c", gas=100_000),
        )
        receipts.append((out.receipts, sorted(out.writes.items())))
    assert receipts[0] == receipts[1]
    assert [r.code for r in receipts[0][0]] == [0, ResultCode.REVERTED, ResultCode.OUT_OF_GAS]
