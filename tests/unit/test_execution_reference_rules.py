"""The per-transaction rules of the reference executor (``apply_block_reference``: every transaction through its module
handler), tested on their own and not only through its equality with ``apply_block``'s block-level transfer
path: nonces (wrong, replayed, future, gaps), balances (insufficient, exact, spent earlier in the block) and the
gas fee (reservation and charge). Every test runs both executors, so each rule is pinned on each path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from trellis.core.codec import decode, encode
from trellis.core.errors import InvalidBlock
from trellis.core.execution.fast_path import apply_block
from trellis.core.execution.reference import BlockEnv, BlockOutput, apply_block_reference
from trellis.core.execution.results import ResultCode
from trellis.core.ledger.tx import SignedTx
from trellis.core.modules.accounts.messages import Transfer
from trellis.core.modules.accounts.state import Account, account_key
from trellis.core.modules.contracts.engine import CallOutcome, Gas
from trellis.core.modules.contracts.messages import ContractCall
from trellis.core.modules.contracts.state import ContractMeta, contract_key
from trellis.core.modules.kv.messages import KvPut
from trellis.core.params import GenesisContracts

Executor = Callable[..., BlockOutput]

EXECUTORS = {"reference": apply_block_reference, "block_level": apply_block}


@pytest.fixture(params=sorted(EXECUTORS))
def executor(request: pytest.FixtureRequest) -> Executor:
    return EXECUTORS[request.param]


def run(executor: Executor, chain: Any, txs: list[SignedTx]) -> BlockOutput:
    """Execute ``txs`` as the chain's next block with ``executor`` (nothing is committed)."""
    env = BlockEnv(
        params=chain.params, height=chain.tip.height + 1, time_ms=chain.tip.time_ms + 1000, contracts=chain.contracts
    )
    return executor(chain, txs, [encode(t) for t in txs], env)


def commit_writes(chain: Any, out: BlockOutput) -> None:
    """Apply a block's writes to the chain's state (the tip is left as it is: only state matters here)."""
    for key, value in out.writes.items():
        if value is None:
            chain.state.pop(key, None)
        else:
            chain.state[key] = value


def bad_nonce(executor: Executor, chain: Any, txs: list[SignedTx]) -> str:
    with pytest.raises(InvalidBlock) as err:
        run(executor, chain, txs)
    assert err.value.code == "bad_nonce"
    return err.value.reason


# --- nonces ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["transfer", "kv"])
def test_the_first_transaction_of_a_sender_carries_nonce_zero(executor, chain, actors, make_tx, kind) -> None:
    payload = (
        Transfer(to=actors.bob.address, amount=1) if kind == "transfer" else KvPut(namespace="n", key=b"k", value=b"v")
    )
    out = run(executor, chain, [make_tx(actors.alice, 0, payload)])
    assert out.receipts[0].code == ResultCode.OK
    assert chain_account(out, chain, actors.alice.address).nonce == 1


@pytest.mark.parametrize("kind", ["transfer", "kv"])
def test_a_future_nonce_makes_the_block_invalid(executor, chain, actors, make_tx, kind) -> None:
    payload = (
        Transfer(to=actors.bob.address, amount=1) if kind == "transfer" else KvPut(namespace="n", key=b"k", value=b"v")
    )
    reason = bad_nonce(executor, chain, [make_tx(actors.alice, 1, payload)])
    assert reason == "transaction 0 has nonce 1; the sender's next nonce is 0"


@pytest.mark.parametrize("kind", ["transfer", "kv"])
def test_a_replayed_nonce_from_an_earlier_block_makes_the_block_invalid(executor, chain, actors, make_tx, kind) -> None:
    payload = (
        Transfer(to=actors.bob.address, amount=1) if kind == "transfer" else KvPut(namespace="n", key=b"k", value=b"v")
    )
    tx = make_tx(actors.alice, 0, payload)
    commit_writes(chain, run(executor, chain, [tx]))
    reason = bad_nonce(executor, chain, [tx])
    assert reason == "transaction 0 has nonce 0; the sender's next nonce is 1"


def test_the_same_transaction_twice_in_a_block_makes_it_invalid(executor, chain, actors, make_tx) -> None:
    tx = make_tx(actors.alice, 0, Transfer(to=actors.bob.address, amount=1))
    reason = bad_nonce(executor, chain, [tx, tx])
    assert reason == "transaction 1 has nonce 0; the sender's next nonce is 1"


def test_a_nonce_gap_inside_a_block_makes_it_invalid(executor, chain, actors, make_tx) -> None:
    bob = actors.bob.address
    txs = [make_tx(actors.alice, 0, Transfer(to=bob, amount=1)), make_tx(actors.alice, 2, Transfer(to=bob, amount=1))]
    reason = bad_nonce(executor, chain, txs)
    assert reason == "transaction 1 has nonce 2; the sender's next nonce is 1"


def test_a_nonce_below_the_next_one_makes_the_block_invalid(executor, make_chain, actors, make_tx) -> None:
    chain = make_chain()
    chain.state[account_key(actors.alice.address)] = encode(Account(balance=1_000, nonce=5))
    reason = bad_nonce(executor, chain, [make_tx(actors.alice, 4, Transfer(to=actors.bob.address, amount=1))])
    assert reason == "transaction 0 has nonce 4; the sender's next nonce is 5"


def test_consecutive_nonces_in_one_block_each_run(executor, chain, actors, make_tx) -> None:
    bob = actors.bob.address
    out = run(executor, chain, [make_tx(actors.alice, n, Transfer(to=bob, amount=10)) for n in range(3)])
    assert [r.code for r in out.receipts] == [ResultCode.OK] * 3
    assert chain_account(out, chain, actors.alice.address) == Account(balance=970, nonce=3)


def test_a_failed_transaction_still_uses_its_nonce(executor, chain, actors, make_tx) -> None:
    bob = actors.bob.address
    txs = [
        make_tx(actors.alice, 0, Transfer(to=bob, amount=5_000)),
        make_tx(actors.alice, 1, Transfer(to=bob, amount=7)),
    ]
    out = run(executor, chain, txs)
    assert [r.code for r in out.receipts] == [ResultCode.INSUFFICIENT_FUNDS, ResultCode.OK]
    assert chain_account(out, chain, actors.alice.address) == Account(balance=993, nonce=2)


# --- balances ----------------------------------------------------------------------------------------------


def test_a_transfer_of_one_more_than_the_balance_fails_and_moves_nothing(executor, chain, actors, make_tx) -> None:
    out = run(executor, chain, [make_tx(actors.alice, 0, Transfer(to=actors.bob.address, amount=1_001))])
    receipt = out.receipts[0]
    assert (receipt.code, receipt.message) == (
        ResultCode.INSUFFICIENT_FUNDS,
        "balance 1000 is less than the amount 1001",
    )
    assert receipt.events == []
    assert out.writes == {account_key(actors.alice.address): encode(Account(balance=1_000, nonce=1))}


def test_a_transfer_of_exactly_the_balance_succeeds(executor, chain, actors, make_tx) -> None:
    out = run(executor, chain, [make_tx(actors.alice, 0, Transfer(to=actors.bob.address, amount=1_000))])
    assert out.receipts[0].code == ResultCode.OK
    assert chain_account(out, chain, actors.alice.address) == Account(balance=0, nonce=1)
    assert chain_account(out, chain, actors.bob.address) == Account(balance=1_000, nonce=0)


def test_a_balance_spent_earlier_in_the_block_cannot_be_spent_again(executor, chain, actors, make_tx) -> None:
    bob, carol = actors.bob.address, actors.carol.address
    txs = [
        make_tx(actors.alice, 0, Transfer(to=bob, amount=600)),
        make_tx(actors.alice, 1, Transfer(to=carol, amount=401)),
    ]
    out = run(executor, chain, txs)
    assert [r.code for r in out.receipts] == [ResultCode.OK, ResultCode.INSUFFICIENT_FUNDS]
    assert out.receipts[1].message == "balance 400 is less than the amount 401"
    assert chain_account(out, chain, carol) == Account(balance=0, nonce=0)


def test_an_unfunded_sender_cannot_transfer_one_unit(executor, chain, actors, make_tx) -> None:
    out = run(executor, chain, [make_tx(actors.carol, 0, Transfer(to=actors.bob.address, amount=1))])
    assert (out.receipts[0].code, out.receipts[0].message) == (
        ResultCode.INSUFFICIENT_FUNDS,
        "balance 0 is less than the amount 1",
    )


# --- the gas fee -------------------------------------------------------------------------------------------

GAS_PRICE = 3
ENGINE_GAS = 1_234
CONTRACT = b"\xc0" * 20


class _FixedGasEngine:
    """A contract engine whose every call succeeds having used ``ENGINE_GAS``."""

    def validate(self, code: bytes, limits: GenesisContracts) -> None:
        raise AssertionError("no deployment in these tests")

    def call(
        self, host: Any, contract: bytes, sender: bytes, method: str, args: bytes, gas: int, **_: Any
    ) -> CallOutcome:
        return CallOutcome(ok=True, gas_used=ENGINE_GAS)


@pytest.fixture
def fee_chain(make_chain, actors):
    def _make(balance: int) -> Any:
        chain = make_chain(accounts=[(actors.alice.address, balance)], contracts=GenesisContracts(gas_price=GAS_PRICE))
        chain.contracts = _FixedGasEngine()
        meta = ContractMeta(
            code_hash=b"\x01" * 32, deployer=actors.bob.address, admin=None, created_height=1, updated_height=1
        )
        chain.state[contract_key(CONTRACT)] = encode(meta)
        return chain

    return _make


CALL = ContractCall(contract=CONTRACT, method="run", args=b"abcd", gas_limit=10_000)
CALL_GAS = Gas.CALL_BASE + Gas.ARG_BYTE * 4 + ENGINE_GAS


def test_a_sender_who_cannot_reserve_the_gas_limit_fails_before_running(executor, fee_chain, actors, make_tx) -> None:
    chain = fee_chain(CALL.gas_limit * GAS_PRICE - 1)
    out = run(executor, chain, [make_tx(actors.alice, 0, CALL)])
    receipt = out.receipts[0]
    assert (receipt.code, receipt.gas_used) == (ResultCode.INSUFFICIENT_FUNDS, 0)
    assert receipt.message == f"balance {CALL.gas_limit * GAS_PRICE - 1} cannot pay for 10000 gas at price {GAS_PRICE}"
    assert out.writes == {account_key(actors.alice.address): encode(Account(balance=29_999, nonce=1))}


def test_a_sender_who_can_just_reserve_the_gas_limit_runs_and_pays_the_gas_used(
    executor, fee_chain, actors, make_tx
) -> None:
    chain = fee_chain(CALL.gas_limit * GAS_PRICE)
    out = run(executor, chain, [make_tx(actors.alice, 0, CALL)])
    receipt = out.receipts[0]
    assert (receipt.code, receipt.gas_used) == (ResultCode.OK, CALL_GAS)
    assert chain_account(out, chain, actors.alice.address) == Account(balance=30_000 - CALL_GAS * GAS_PRICE, nonce=1)


def test_a_failed_call_still_pays_for_its_gas(executor, fee_chain, actors, make_tx) -> None:
    chain = fee_chain(100_000)
    missing = ContractCall(contract=b"\xc1" * 20, method="run", args=b"abcd", gas_limit=10_000)
    out = run(executor, chain, [make_tx(actors.alice, 0, missing)])
    intrinsic = Gas.CALL_BASE + Gas.ARG_BYTE * 4
    assert (out.receipts[0].code, out.receipts[0].gas_used) == (ResultCode.NOT_FOUND, intrinsic)
    assert chain_account(out, chain, actors.alice.address) == Account(balance=100_000 - intrinsic * GAS_PRICE, nonce=1)


def chain_account(out: BlockOutput, chain: Any, address: bytes) -> Account:
    """The account at ``address`` as the block leaves it (its writes over the chain's state)."""
    key = account_key(address)
    raw = out.writes[key] if key in out.writes else chain.state.get(key)
    return Account(balance=0, nonce=0) if raw is None else decode(raw, Account)
