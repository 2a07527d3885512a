"""The ``contracts`` module: deploy, call and upgrade WebAssembly contracts (docs/spec/contracts.md).

The core decides everything consensus-critical about a contract transaction — addresses, authorisation, the
gas schedule, what is written and what a failure rolls back — and leaves running the code to a
``ContractEngine`` injected by the shell (the wasmtime engine in ``trellis.app.modules.contracts``). The
engine sees state only through a ``ContractHost``, which scopes every key to one contract.

A failing call (out of gas, trap, revert, a failing nested call) fails the whole transaction: every write it
made, nested calls' included, is discarded; the sender's nonce advances and the gas used is charged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from trellis.core.codec import decode, encode
from trellis.core.crypto.suite import Suite
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.execution.state_keys import (
    CONTRACT_STORE_PREFIX,
    ContractMeta,
    code_key,
    contract_key,
    contract_storage_key,
)
from trellis.core.ledger.block import Event
from trellis.core.ledger.tx import ContractCall, ContractDeploy, ContractUpgrade
from trellis.core.params import GenesisContracts


class Gas:
    """The gas schedule (consensus-critical). One unit of wasmtime fuel costs one unit of gas."""

    DEPLOY_BASE = 50_000
    """Fixed cost of a deployment or upgrade."""
    CODE_BYTE = 20
    """Per byte of code validated and stored."""
    CALL_BASE = 5_000
    """Fixed cost of a transaction's call."""
    ARG_BYTE = 8
    """Per byte of call arguments."""
    NESTED_CALL = 2_000
    """Fixed cost of a contract calling another."""
    STORAGE_READ = 200
    """Per storage read or range entry."""
    STORAGE_READ_BYTE = 1
    """Per byte read (key and value)."""
    STORAGE_WRITE = 2_000
    """Per storage write or delete."""
    STORAGE_WRITE_BYTE = 20
    """Per byte written (key and value)."""
    EVENT = 500
    """Per event."""
    EVENT_BYTE = 8
    """Per byte of event topic and data."""
    HASH = 100
    """Per hash."""
    HASH_BYTE = 1
    """Per byte hashed."""
    VERIFY = 5_000
    """Per signature verification."""
    HOST_CALL = 50
    """Any other host function."""
    RETURN_BYTE = 2
    """Per byte of return data."""


MAX_RANGE_ENTRIES = 100
"""Most entries one ``storage_range`` returns."""
MAX_CONTRACT_KEY = 256
"""Longest key of a contract's storage."""
MAX_CONTRACT_VALUE = 16 * 1024
"""Longest value of a contract's storage."""


@dataclass
class CallOutcome:
    """What running a contract method produced.

    Attributes:
        ok: True when the call returned normally.
        code: on failure, the receipt code (OUT_OF_GAS, CONTRACT_TRAP, REVERTED, UNKNOWN_METHOD, CALL_DEPTH...).
        message: on failure, why (a revert's own message, the trap, the limit hit).
        data: the return data.
        gas_used: gas consumed by execution and host functions (not the transaction's intrinsic cost).
        events: events emitted, in order (discarded by the caller when the call failed).
    """

    ok: bool
    code: ResultCode = ResultCode.OK
    message: str = ""
    data: bytes = b""
    gas_used: int = 0
    events: list[Event] = field(default_factory=list)


class InvalidContract(Exception):
    """A module refused at deployment: not valid WebAssembly, floats, unknown imports, over a limit."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ContractHost(Protocol):
    """The state and block facts a contract may see. Keys are scoped: one contract cannot touch another's."""

    suite: Suite
    height: int
    time_ms: int
    origin: bytes
    read_only: bool
    limits: GenesisContracts
    range_skipped: int

    def code_hash_of(self, contract: bytes) -> bytes | None:
        """The hash of the code a contract runs, or None if no contract is deployed there."""
        ...

    def code(self, code_hash: bytes) -> bytes | None:
        """The module with ``code_hash``."""
        ...

    def storage_get(self, contract: bytes, key: bytes) -> bytes | None:
        """The value at ``key`` in ``contract``'s storage."""
        ...

    def storage_put(self, contract: bytes, key: bytes, value: bytes | None) -> None:
        """Write (None: delete) ``key`` in ``contract``'s storage; refused on a read-only host."""
        ...

    def storage_range(self, contract: bytes, start: bytes, end: bytes | None, limit: int) -> list[tuple[bytes, bytes]]:
        """Up to ``limit`` (key, value) pairs of ``contract``'s storage with ``start <= key < end``, in order.

        Sets ``range_skipped`` to the number of entries deleted earlier in the block that the scan passed over:
        work the engine charges for (``Gas.STORAGE_READ`` each), so a scan cannot be made expensive for free.
        """
        ...


class ContractEngine(Protocol):
    """Runs contract code. Must be deterministic: the same inputs give the same outcome on every node."""

    def validate(self, code: bytes, limits: GenesisContracts) -> None:
        """Check a module before it is stored.

        Raises:
            InvalidContract: naming what is wrong.
        """
        ...

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
        """Run ``method`` of ``contract`` for ``caller`` with at most ``gas_limit`` gas.

        ``is_init`` runs the deployment-time ``init`` (a no-op when the module does not export one); without it,
        ``init`` cannot be called.
        """
        ...


def contract_address(suite: Suite, deployer: bytes, nonce: int) -> bytes:
    """The address of the contract ``deployer`` creates with its transaction of nonce ``nonce``."""
    return suite.tagged_hash(b"trellis/contract-address/v1", deployer + nonce.to_bytes(8, "big"))[:20]


def declared_gas(payload: object) -> int:
    """The gas a transaction's payload reserves (its ``gas_limit``; 0 for non-contract messages)."""
    if isinstance(payload, ContractDeploy | ContractCall | ContractUpgrade):
        return payload.gas_limit
    return 0


ScanFn = Callable[[bytes, bytes, int], tuple[list[tuple[bytes, bytes]], int]]
"""``scan(start, end, limit) -> (entries, deletions passed over)`` over a view of state."""


def plain_scan(scan: Callable[[bytes, bytes, int], list[tuple[bytes, bytes]]]) -> ScanFn:
    """A ``ScanFn`` over committed state (no pending deletions to pass over), such as ``ChainStore.scan``."""

    def wrapped(start: bytes, end: bytes, limit: int) -> tuple[list[tuple[bytes, bytes]], int]:
        return scan(start, end, limit), 0

    return wrapped


class StateContractHost:
    """``ContractHost`` over a transaction's read/write view of state (and, for queries, a read-only view)."""

    def __init__(
        self,
        suite: Suite,
        limits: GenesisContracts,
        height: int,
        time_ms: int,
        origin: bytes,
        get: Callable[[bytes], bytes | None],
        put: Callable[[bytes, bytes | None], None] | None,
        scan: ScanFn,
    ) -> None:
        self.suite = suite
        self.limits = limits
        self.height = height
        self.time_ms = time_ms
        self.origin = origin
        self.read_only = put is None
        self.range_skipped = 0
        self._get = get
        self._put = put
        self._scan = scan

    def code_hash_of(self, contract: bytes) -> bytes | None:
        raw = self._get(contract_key(contract))
        return None if raw is None else decode(raw, ContractMeta).code_hash

    def code(self, code_hash: bytes) -> bytes | None:
        return self._get(code_key(code_hash))

    def storage_get(self, contract: bytes, key: bytes) -> bytes | None:
        return self._get(contract_storage_key(contract, key))

    def storage_put(self, contract: bytes, key: bytes, value: bytes | None) -> None:
        if self._put is None:
            raise PermissionError("storage is read-only in a query")
        self._put(contract_storage_key(contract, key), value)

    def storage_range(self, contract: bytes, start: bytes, end: bytes | None, limit: int) -> list[tuple[bytes, bytes]]:
        prefix = CONTRACT_STORE_PREFIX + contract
        hi = prefix + end if end is not None else _prefix_end(prefix)
        rows, self.range_skipped = self._scan(prefix + start, hi, min(limit, MAX_RANGE_ENTRIES))
        return [(k[len(prefix) :], v) for k, v in rows]


def _prefix_end(prefix: bytes) -> bytes:
    """The smallest key greater than every key starting with ``prefix`` (prefix never ends in 0xff here)."""
    p = bytearray(prefix)
    while p and p[-1] == 0xFF:
        p.pop()
    p[-1] += 1
    return bytes(p)


class ContractTx(Protocol):
    """The part of ``TxContext`` the contract handlers use."""

    sender: bytes
    nonce: int
    height: int
    time_ms: int
    gas_used: int
    return_data: bytes
    suite: Suite
    limits: GenesisContracts
    governance: bytes | None
    engine: ContractEngine | None
    get: Callable[[bytes], bytes | None]
    put: Callable[[bytes, bytes | None], None]
    scan: ScanFn


def _engine(ctx: ContractTx) -> ContractEngine:
    if ctx.engine is None:
        raise TxFailure(ResultCode.INVALID_CONTRACT, "this node was started without a contract engine")
    return ctx.engine


def _charge_intrinsic(ctx: ContractTx, cost: int, gas_limit: int) -> None:
    if cost > gas_limit:
        ctx.gas_used = gas_limit
        raise TxFailure(ResultCode.OUT_OF_GAS, f"gas limit {gas_limit} is below the intrinsic cost {cost}")
    ctx.gas_used = cost


def _validate(ctx: ContractTx, engine: ContractEngine, code: bytes) -> bytes:
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


def _host(ctx: ContractTx) -> StateContractHost:
    return StateContractHost(ctx.suite, ctx.limits, ctx.height, ctx.time_ms, ctx.sender, ctx.get, ctx.put, ctx.scan)


def _run(
    ctx: ContractTx, engine: ContractEngine, contract: bytes, method: str, args: bytes, gas: int, is_init: bool
) -> list[Event]:
    outcome = engine.call(_host(ctx), contract, ctx.sender, method, args, gas, is_init=is_init)
    ctx.gas_used += min(outcome.gas_used, gas)
    if not outcome.ok:
        raise TxFailure(outcome.code, outcome.message)
    if not is_init:
        ctx.return_data = outcome.data
    return outcome.events


def handle_contract_deploy(ctx: ContractTx, msg: ContractDeploy) -> list[Event]:
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


def handle_contract_call(ctx: ContractTx, msg: ContractCall) -> list[Event]:
    """Run a method of a deployed contract."""
    engine = _engine(ctx)
    _charge_intrinsic(ctx, Gas.CALL_BASE + Gas.ARG_BYTE * len(msg.args), msg.gas_limit)
    if ctx.get(contract_key(msg.contract)) is None:
        raise TxFailure(ResultCode.NOT_FOUND, f"no contract at {msg.contract.hex()}")
    if msg.method == "init":
        raise TxFailure(ResultCode.UNKNOWN_METHOD, "init runs only at deployment")
    return _run(ctx, engine, msg.contract, msg.method, msg.args, msg.gas_limit - ctx.gas_used, False)


def handle_contract_upgrade(ctx: ContractTx, msg: ContractUpgrade) -> list[Event]:
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
