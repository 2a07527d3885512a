"""The contracts module's consensus rules, independent of the WebAssembly engine.

These tests drive the core handlers with ``ScriptedEngine``, a small deterministic test double of the
``ContractEngine`` port whose "code" is a list of commands; the real wasmtime engine has its own tests in
tests/contracts/. What is tested here is what the core decides: addresses, records, gas, fees, rollback,
authorisation and block limits.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trellis.core.codec import decode, encode
from trellis.core.crypto.suite import ED25519
from trellis.core.errors import InvalidBlock
from trellis.core.execution import ResultCode
from trellis.core.execution.reference import Layer, merged_scan
from trellis.core.modules.accounts.messages import Transfer
from trellis.core.modules.accounts.state import Account, account_key
from trellis.core.modules.contracts.engine import (
    CallOutcome,
    ContractHost,
    Gas,
    InvalidContract,
    StateContractHost,
    contract_address,
    plain_scan,
)
from trellis.core.modules.contracts.messages import ContractCall, ContractDeploy, ContractUpgrade
from trellis.core.modules.contracts.state import (
    CONTRACT_STORE_PREFIX,
    ContractMeta,
    code_key,
    contract_key,
    contract_storage_key,
)
from trellis.core.params import GenesisContracts

CODE = b"\x00asm" + b"set:greeting=hello"
OTHER_CODE = b"\x00asm" + b"set:greeting=bonjour"
STEP_GAS = 1_000


class ScriptedEngine:
    """Test double of ``ContractEngine``: the code after the 4-byte magic, then the call's args, are
    ``;``-separated commands — ``set:K=V`` writes storage, ``del:K`` deletes, ``fail`` fails the call with
    REVERTED, ``ret:X`` returns X, ``emit:T`` emits an event. Each command costs ``STEP_GAS``."""

    def validate(self, code: bytes, limits: GenesisContracts) -> None:
        if not code.startswith(b"\x00asm"):
            raise InvalidContract("not a WebAssembly module (bad magic)")

    def call(
        self,
        host: ContractHost,
        contract: bytes,
        caller: bytes,
        method: str,
        args: bytes,
        gas_limit: int,
        *,
        is_init: bool = False,
    ) -> CallOutcome:
        code_hash = host.code_hash_of(contract)
        assert code_hash is not None
        code = host.code(code_hash)
        assert code is not None
        script = code[4:] if is_init else args
        out = CallOutcome(ok=True)
        for cmd in filter(None, script.split(b";")):
            out.gas_used += STEP_GAS
            if out.gas_used > gas_limit:
                return CallOutcome(ok=False, code=ResultCode.OUT_OF_GAS, message="out of gas", gas_used=gas_limit)
            op, _, arg = cmd.partition(b":")
            if op == b"set":
                k, _, v = arg.partition(b"=")
                host.storage_put(contract, k, v)
            elif op == b"del":
                host.storage_put(contract, arg, None)
            elif op == b"fail":
                return CallOutcome(ok=False, code=ResultCode.REVERTED, message="told to fail", gas_used=out.gas_used)
            elif op == b"ret":
                out.data = arg
        return out


RICH = 10_000_000


@pytest.fixture
def new_chain(make_chain, actors):
    """``new_chain(**contract_params)``: alice and bob funded, the scripted engine plugged in."""

    def _make(accounts=None, **contracts):
        funded = accounts or [(actors.alice.address, RICH), (actors.bob.address, RICH)]
        chain = make_chain(funded, contracts=GenesisContracts(**contracts))
        chain.contracts = ScriptedEngine()
        return chain

    return _make


@pytest.fixture
def cchain(new_chain, actors):
    return new_chain(governance=actors.carol.address.hex())


def _deploy(chain, make_tx, actors, nonce: int = 0, code: bytes = CODE, **kw: object) -> bytes:
    executed = chain.execute_and_commit([make_tx(actors.alice, nonce, ContractDeploy(code=code, **kw))])
    receipt = executed.output.receipts[0]
    assert receipt.code == ResultCode.OK, receipt.message
    return receipt.data


def test_deploy_creates_the_contract_at_the_address_derived_from_sender_and_nonce(cchain, actors, make_tx) -> None:
    address = _deploy(cchain, make_tx, actors)
    assert address == contract_address(ED25519, actors.alice.address, 0)
    meta = decode(cchain.state[contract_key(address)], ContractMeta)
    assert meta.deployer == actors.alice.address
    assert meta.code_hash == ED25519.hash(CODE)
    assert cchain.state[code_key(meta.code_hash)] == CODE


def test_deploy_runs_init_and_reports_a_deployed_event(cchain, actors, make_tx) -> None:
    executed = cchain.execute_and_commit([make_tx(actors.alice, 0, ContractDeploy(code=CODE))])
    receipt = executed.output.receipts[0]
    address = receipt.data
    assert cchain.state[contract_storage_key(address, b"greeting")] == b"hello"
    assert receipt.events[0].type == "contracts.deployed"
    assert dict(receipt.events[0].attributes)["contract"] == address
    intrinsic = Gas.DEPLOY_BASE + Gas.CODE_BYTE * len(CODE)
    assert receipt.gas_used == intrinsic + STEP_GAS


def test_the_same_code_deployed_twice_is_stored_once_under_two_addresses(cchain, actors, make_tx) -> None:
    first = _deploy(cchain, make_tx, actors, 0)
    second = _deploy(cchain, make_tx, actors, 1)
    assert first != second
    assert [k for k in cchain.state if k.startswith(b"code/")] == [code_key(ED25519.hash(CODE))]


def test_a_refused_module_fails_the_deploy_and_creates_nothing(cchain, actors, make_tx) -> None:
    out = cchain.execute([make_tx(actors.alice, 0, ContractDeploy(code=b"not wasm at all"))])
    assert out.receipts[0].code == ResultCode.INVALID_CONTRACT
    assert "bad magic" in out.receipts[0].message
    assert list(out.writes) == [account_key(actors.alice.address)]


def test_code_over_the_genesis_limit_is_refused(new_chain, actors, make_tx) -> None:
    chain = new_chain(max_code_bytes=1024)
    out = chain.execute([make_tx(actors.alice, 0, ContractDeploy(code=b"\x00asm" + b"x" * 1100))])
    assert out.receipts[0].code == ResultCode.INVALID_CONTRACT
    assert "limit is 1024" in out.receipts[0].message


def test_a_call_runs_the_method_and_returns_its_data(cchain, actors, make_tx) -> None:
    address = _deploy(cchain, make_tx, actors)
    call = ContractCall(contract=address, method="run", args=b"set:a=1;ret:done")
    executed = cchain.execute_and_commit([make_tx(actors.bob, 0, call)])
    receipt = executed.output.receipts[0]
    assert receipt.code == ResultCode.OK
    assert receipt.data == b"done"
    assert cchain.state[contract_storage_key(address, b"a")] == b"1"
    assert receipt.gas_used == Gas.CALL_BASE + Gas.ARG_BYTE * len(call.args) + 2 * STEP_GAS


def test_a_failing_call_discards_every_write_but_advances_the_nonce_and_records_gas(cchain, actors, make_tx) -> None:
    address = _deploy(cchain, make_tx, actors)
    bad = ContractCall(contract=address, method="run", args=b"set:a=1;del:greeting;fail")
    good = Transfer(to=actors.carol.address, amount=5)
    out = cchain.execute([make_tx(actors.bob, 0, bad), make_tx(actors.alice, 1, good)])
    failed, ok = out.receipts
    assert failed.code == ResultCode.REVERTED and failed.message == "told to fail"
    assert failed.gas_used == Gas.CALL_BASE + Gas.ARG_BYTE * len(bad.args) + 3 * STEP_GAS
    assert failed.events == [] and failed.data == b""
    assert contract_storage_key(address, b"a") not in out.writes
    assert contract_storage_key(address, b"greeting") not in out.writes
    assert decode(out.writes[account_key(actors.bob.address)] or b"", Account).nonce == 1
    assert ok.code == ResultCode.OK


def test_a_call_to_an_empty_address_fails_with_not_found(cchain, actors, make_tx) -> None:
    out = cchain.execute([make_tx(actors.alice, 0, ContractCall(contract=b"\x01" * 20, method="run"))])
    assert out.receipts[0].code == ResultCode.NOT_FOUND


def test_init_cannot_be_called_after_deployment(cchain, actors, make_tx) -> None:
    address = _deploy(cchain, make_tx, actors)
    out = cchain.execute([make_tx(actors.alice, 1, ContractCall(contract=address, method="init"))])
    assert out.receipts[0].code == ResultCode.UNKNOWN_METHOD


def test_a_gas_limit_below_the_intrinsic_cost_fails_with_out_of_gas_and_uses_all_of_it(cchain, actors, make_tx) -> None:
    address = _deploy(cchain, make_tx, actors)
    out = cchain.execute([make_tx(actors.alice, 1, ContractCall(contract=address, method="run", gas_limit=100))])
    assert out.receipts[0].code == ResultCode.OUT_OF_GAS
    assert out.receipts[0].gas_used == 100


def test_running_out_of_gas_mid_call_fails_the_transaction(cchain, actors, make_tx) -> None:
    address = _deploy(cchain, make_tx, actors)
    args = b"set:a=1;" * 10
    call = ContractCall(
        contract=address, method="run", args=args, gas_limit=Gas.CALL_BASE + Gas.ARG_BYTE * len(args) + 3 * STEP_GAS
    )
    out = cchain.execute([make_tx(actors.alice, 1, call)])
    assert out.receipts[0].code == ResultCode.OUT_OF_GAS
    assert out.receipts[0].gas_used == call.gas_limit


def test_gas_is_paid_at_the_genesis_price_whether_the_call_succeeds_or_fails(new_chain, actors, make_tx) -> None:
    chain = new_chain(gas_price=2)
    address = _deploy(chain, make_tx, actors, gas_limit=100_000)
    # The deployment itself was paid for.
    deploy_gas = Gas.DEPLOY_BASE + Gas.CODE_BYTE * len(CODE) + STEP_GAS
    assert chain.account(actors.alice.address).balance == RICH - 2 * deploy_gas
    before = chain.account(actors.alice.address).balance
    ok = ContractCall(contract=address, method="run", args=b"set:a=1", gas_limit=20_000)
    bad = ContractCall(contract=address, method="run", args=b"fail", gas_limit=20_000)
    executed = chain.execute_and_commit([make_tx(actors.alice, 1, ok), make_tx(actors.alice, 2, bad)])
    used = sum(r.gas_used for r in executed.output.receipts)
    assert chain.account(actors.alice.address).balance == before - 2 * used


def test_a_sender_who_cannot_pay_for_the_gas_limit_is_refused_before_anything_runs(new_chain, actors, make_tx) -> None:
    chain = new_chain([(actors.alice.address, RICH), (actors.bob.address, 1_000)], gas_price=1)
    address = _deploy(chain, make_tx, actors, gas_limit=1_000_000)
    out = chain.execute([make_tx(actors.bob, 0, ContractCall(contract=address, method="run", args=b"set:a=1"))])
    assert out.receipts[0].code == ResultCode.INSUFFICIENT_FUNDS
    assert out.receipts[0].gas_used == 0
    assert out.writes == {account_key(actors.bob.address): encode(Account(balance=1_000, nonce=1))}


def test_a_block_declaring_more_gas_than_the_genesis_limit_is_invalid(new_chain, actors, make_tx) -> None:
    chain = new_chain(max_block_gas=1_500_000)
    address = b"\x02" * 20
    txs = [
        make_tx(actors.alice, n, ContractCall(contract=address, method="run", gas_limit=1_000_000)) for n in range(2)
    ]
    with pytest.raises(InvalidBlock) as info:
        chain.execute(txs)
    assert info.value.code == "too_much_gas"


def test_upgrade_by_the_admin_replaces_the_code_and_keeps_the_storage(cchain, actors, make_tx) -> None:
    address = _deploy(cchain, make_tx, actors, admin=actors.bob.address)
    executed = cchain.execute_and_commit([make_tx(actors.bob, 0, ContractUpgrade(contract=address, code=OTHER_CODE))])
    assert executed.output.receipts[0].code == ResultCode.OK
    meta = decode(cchain.state[contract_key(address)], ContractMeta)
    assert meta.code_hash == ED25519.hash(OTHER_CODE)
    assert meta.updated_height == 2 and meta.created_height == 1
    assert cchain.state[contract_storage_key(address, b"greeting")] == b"hello"


def test_upgrade_by_the_genesis_governance_address_is_allowed(cchain, actors, make_tx) -> None:
    address = _deploy(cchain, make_tx, actors)
    out = cchain.execute([make_tx(actors.carol, 0, ContractUpgrade(contract=address, code=OTHER_CODE))])
    assert out.receipts[0].code == ResultCode.OK


def test_upgrade_by_anyone_else_is_unauthorized(cchain, actors, make_tx) -> None:
    address = _deploy(cchain, make_tx, actors, admin=actors.bob.address)
    out = cchain.execute([make_tx(actors.alice, 1, ContractUpgrade(contract=address, code=OTHER_CODE))])
    assert out.receipts[0].code == ResultCode.UNAUTHORIZED


def test_without_an_engine_contract_transactions_fail_with_a_receipt(chain, actors, make_tx) -> None:
    out = chain.execute([make_tx(actors.alice, 0, ContractDeploy(code=CODE))])
    assert out.receipts[0].code == ResultCode.INVALID_CONTRACT
    assert "without a contract engine" in out.receipts[0].message


def test_a_contract_host_only_sees_its_own_storage(params) -> None:
    mine, theirs = b"\x0a" * 20, b"\x0b" * 20
    state = {
        contract_storage_key(mine, b"k1"): b"1",
        contract_storage_key(mine, b"k2"): b"2",
        contract_storage_key(theirs, b"k1"): b"x",
    }

    def scan(start: bytes, end: bytes, limit: int) -> list[tuple[bytes, bytes]]:
        return sorted((k, v) for k, v in state.items() if start <= k < end)[:limit]

    host = StateContractHost(ED25519, GenesisContracts(), 1, 0, mine, state, None, plain_scan(scan))
    assert host.storage_range(mine, b"", None, 10) == [(b"k1", b"1"), (b"k2", b"2")]
    assert host.storage_range(mine, b"k2", None, 10) == [(b"k2", b"2")]
    assert host.storage_range(theirs, b"", None, 10) == [(b"k1", b"x")]
    assert host.read_only
    with pytest.raises(PermissionError):
        host.storage_put(mine, b"k1", b"changed")


_keys = st.binary(min_size=1, max_size=3).map(lambda k: CONTRACT_STORE_PREFIX + k)
_changes = st.dictionaries(_keys, st.none() | st.binary(min_size=1, max_size=2), max_size=10)


class _Stored:
    def __init__(self, rows: dict[bytes, bytes]) -> None:
        self.rows = rows

    def get(self, key: bytes) -> bytes | None:
        return self.rows.get(key)

    def scan(self, s: bytes, e: bytes, n: int) -> list[tuple[bytes, bytes]]:
        return sorted((k, v) for k, v in self.rows.items() if s <= k < e)[:n]


def _layer(changes: dict[bytes, bytes | None]) -> Layer:
    layer = Layer()
    for k, v in changes.items():
        layer.put(k, v)
    return layer


@given(
    stored=st.dictionaries(_keys, st.binary(min_size=1, max_size=2), max_size=20),
    block=_changes,
    tx=_changes,
    start=_keys,
    end=_keys,
    limit=st.integers(min_value=0, max_value=8),
)
def test_a_scan_sees_stored_state_as_changed_by_the_block_and_the_transaction(
    stored, block, tx, start, end, limit
) -> None:
    merged: dict[bytes, bytes | None] = {**stored, **block, **tx}
    expected = sorted((k, v) for k, v in merged.items() if v is not None and start <= k < end)[:limit]
    rows, _ = merged_scan(_Stored(stored), (_layer(block), _layer(tx)), start, end, limit)
    assert rows == expected


def test_a_scan_reports_the_deletions_it_passes_over_so_they_can_be_charged() -> None:
    stored = {CONTRACT_STORE_PREFIX + bytes([i]): b"v" for i in range(10)}
    block = _layer({CONTRACT_STORE_PREFIX + bytes([i]): None for i in range(8)})
    rows, skipped = merged_scan(
        _Stored(stored), (block, Layer()), CONTRACT_STORE_PREFIX, CONTRACT_STORE_PREFIX + b"\xff", 1
    )
    assert rows == [(CONTRACT_STORE_PREFIX + bytes([8]), b"v")]
    assert skipped == 8
