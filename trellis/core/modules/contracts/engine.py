"""The contract engine interface of the ``contracts`` module: gas, the ``ContractEngine`` and ``ContractHost``
protocols the shell's wasmtime engine implements, and ``StateContractHost`` (every key scoped to one contract).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from trellis.core.codec import decode
from trellis.core.crypto.suite import Suite
from trellis.core.execution.context import CountedScanFn, ScanFn, StateReader
from trellis.core.execution.results import ResultCode
from trellis.core.ledger.block import Event
from trellis.core.modules.contracts.messages import ContractCall, ContractDeploy, ContractUpgrade
from trellis.core.modules.contracts.state import (
    CONTRACT_STORE_PREFIX,
    ContractMeta,
    code_key,
    contract_key,
    contract_storage_key,
)
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


def plain_scan(scan: ScanFn) -> CountedScanFn:
    """A ``CountedScanFn`` over committed state (no pending deletions to pass over), such as ``ChainStore.scan``."""

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
        state: StateReader,
        put: Callable[[bytes, bytes | None], None] | None,
        scan: CountedScanFn,
    ) -> None:
        self.suite = suite
        self.limits = limits
        self.height = height
        self.time_ms = time_ms
        self.origin = origin
        self.read_only = put is None
        self.range_skipped = 0
        self._state = state
        self._put = put
        self._scan = scan

    def code_hash_of(self, contract: bytes) -> bytes | None:
        raw = self._state.get(contract_key(contract))
        return None if raw is None else decode(raw, ContractMeta).code_hash

    def code(self, code_hash: bytes) -> bytes | None:
        return self._state.get(code_key(code_hash))

    def storage_get(self, contract: bytes, key: bytes) -> bytes | None:
        return self._state.get(contract_storage_key(contract, key))

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
