"""The ``contracts`` module: deploy, call and upgrade WebAssembly contracts (docs/spec/contracts.md).

The core decides everything consensus-critical about a contract transaction — addresses, authorisation, the
gas schedule, what is written and what a failure rolls back — and leaves running the code to a
``ContractEngine`` injected by the shell (the wasmtime engine in ``trellis.app.modules.contracts``). The
engine sees state only through a ``ContractHost``, which scopes every key to one contract.

A failing call (out of gas, trap, revert, a failing nested call) fails the whole transaction: every write it
made, nested calls' included, is discarded; the sender's nonce advances and the gas used is charged.
"""

from __future__ import annotations

from trellis.core.codec import decode, encode
from trellis.core.execution.context import TxContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import Event
from trellis.core.modules.contracts.engine import (
    ContractEngine,
    Gas,
    InvalidContract,
    StateContractHost,
    contract_address,
)
from trellis.core.modules.contracts.messages import ContractCall, ContractDeploy, ContractUpgrade
from trellis.core.modules.contracts.state import (
    ContractMeta,
    code_key,
    contract_key,
)


def _engine(ctx: TxContext) -> ContractEngine:
    if ctx.engine is None:
        raise TxFailure(ResultCode.INVALID_CONTRACT, "this node was started without a contract engine")
    return ctx.engine


def _charge_intrinsic(ctx: TxContext, cost: int, gas_limit: int) -> None:
    if cost > gas_limit:
        ctx.gas_used = gas_limit
        raise TxFailure(ResultCode.OUT_OF_GAS, f"gas limit {gas_limit} is below the intrinsic cost {cost}")
    ctx.gas_used = cost


def _validate(ctx: TxContext, engine: ContractEngine, code: bytes) -> bytes:
    if len(code) > ctx.limits.max_code_bytes:
        raise TxFailure(
            ResultCode.INVALID_CONTRACT, f"code is {len(code)} bytes; the limit is {ctx.limits.max_code_bytes}"
        )
    try:
        engine.validate(code, ctx.limits)
    except InvalidContract as exc:
        raise TxFailure(ResultCode.INVALID_CONTRACT, f"invalid contract: {exc.reason}") from exc
    code_hash = ctx.suite.hash(code)
    if ctx.get(code_key(code_hash)) is None:
        ctx.put(code_key(code_hash), code)
    return code_hash


def _host(ctx: TxContext) -> StateContractHost:
    return StateContractHost(ctx.suite, ctx.limits, ctx.height, ctx.time_ms, ctx.sender, ctx, ctx.put, ctx.scan_counted)


def _run(
    ctx: TxContext, engine: ContractEngine, contract: bytes, method: str, args: bytes, gas: int, is_init: bool
) -> list[Event]:
    outcome = engine.call(_host(ctx), contract, ctx.sender, method, args, gas, is_init=is_init)
    ctx.gas_used += min(outcome.gas_used, gas)
    if not outcome.ok:
        raise TxFailure(outcome.code, outcome.message)
    if not is_init:
        ctx.return_data = outcome.data
    return outcome.events


def handle_contract_deploy(ctx: TxContext, msg: ContractDeploy) -> list[Event]:
    """Validate and store the code, create the contract record, run ``init`` if the module exports it."""
    engine = _engine(ctx)
    _charge_intrinsic(
        ctx, Gas.DEPLOY_BASE + Gas.CODE_BYTE * len(msg.code) + Gas.ARG_BYTE * len(msg.args), msg.gas_limit
    )
    code_hash = _validate(ctx, engine, msg.code)
    address = contract_address(ctx.suite, ctx.sender, ctx.nonce)
    if ctx.get(contract_key(address)) is not None:  # cannot happen: (sender, nonce) is unique
        raise TxFailure(ResultCode.DUPLICATE, "a contract already exists at this address")
    meta = ContractMeta(
        code_hash=code_hash, deployer=ctx.sender, admin=msg.admin, created_height=ctx.height, updated_height=ctx.height
    )
    ctx.put(contract_key(address), encode(meta))
    events = _run(ctx, engine, address, "init", msg.args, msg.gas_limit - ctx.gas_used, True)
    ctx.return_data = address
    deployed = Event(type="contracts.deployed", attributes=[("contract", address), ("code_hash", code_hash)])
    return [deployed, *events]


def handle_contract_call(ctx: TxContext, msg: ContractCall) -> list[Event]:
    """Run a method of a deployed contract."""
    engine = _engine(ctx)
    _charge_intrinsic(ctx, Gas.CALL_BASE + Gas.ARG_BYTE * len(msg.args), msg.gas_limit)
    if ctx.get(contract_key(msg.contract)) is None:
        raise TxFailure(ResultCode.NOT_FOUND, f"no contract at {msg.contract.hex()}")
    if msg.method == "init":
        raise TxFailure(ResultCode.UNKNOWN_METHOD, "init runs only at deployment")
    return _run(ctx, engine, msg.contract, msg.method, msg.args, msg.gas_limit - ctx.gas_used, False)


def handle_contract_upgrade(ctx: TxContext, msg: ContractUpgrade) -> list[Event]:
    """Replace a contract's code; only its admin or the genesis governance address may."""
    engine = _engine(ctx)
    _charge_intrinsic(ctx, Gas.DEPLOY_BASE + Gas.CODE_BYTE * len(msg.code), msg.gas_limit)
    raw = ctx.get(contract_key(msg.contract))
    if raw is None:
        raise TxFailure(ResultCode.NOT_FOUND, f"no contract at {msg.contract.hex()}")
    meta = decode(raw, ContractMeta)
    if ctx.sender != meta.admin and ctx.sender != ctx.governance:
        raise TxFailure(ResultCode.UNAUTHORIZED, "only the contract's admin or the governance address may upgrade")
    code_hash = _validate(ctx, engine, msg.code)
    new = ContractMeta(
        code_hash=code_hash,
        deployer=meta.deployer,
        admin=meta.admin,
        created_height=meta.created_height,
        updated_height=ctx.height,
    )
    ctx.put(contract_key(msg.contract), encode(new))
    return [Event(type="contracts.upgraded", attributes=[("contract", msg.contract), ("code_hash", code_hash)])]
