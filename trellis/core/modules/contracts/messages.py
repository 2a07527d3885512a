"""Messages of the ``contracts`` module; members of the ``Payload`` union (``trellis.core.modules.payload``). See docs/spec/contracts.md."""

from __future__ import annotations

from typing import Annotated

import msgspec

from trellis.core.types import Address, CoreStruct

MAX_CODE_BYTES = 60 * 1024
"""Hard upper bound on a contract's WebAssembly code; genesis may set a lower one."""


ContractCode = Annotated[bytes, msgspec.Meta(min_length=8, max_length=MAX_CODE_BYTES)]
"""A WebAssembly module's bytes."""


CallArgs = Annotated[bytes, msgspec.Meta(max_length=16 * 1024)]
"""ABI-encoded call arguments (see docs/spec/contracts.md)."""


MethodName = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_]*\Z")]
"""A contract method: an exported function's name."""


GasLimit = Annotated[int, msgspec.Meta(ge=0, le=2**53)]
"""Most gas a transaction may use."""


class ContractDeploy(CoreStruct, frozen=True, tag="contracts.deploy"):
    """Deploy a WebAssembly contract; its address derives from the sender and the transaction's nonce.

    If the module exports ``init``, it runs once with ``args`` as part of the deployment.
    """

    code: ContractCode
    """The module's bytes (stored once per code hash)."""
    args: CallArgs = b""
    """Arguments for ``init``."""
    admin: Address | None = None
    """Who may upgrade the contract's code (besides the genesis governance address); None: nobody else."""
    gas_limit: GasLimit = 10_000_000
    """Most gas this deployment may use."""


class ContractCall(CoreStruct, frozen=True, tag="contracts.call"):
    """Call a method of a deployed contract."""

    contract: Address
    """The contract's address."""
    method: MethodName
    """The exported function to run."""
    args: CallArgs = b""
    """ABI-encoded arguments."""
    gas_limit: GasLimit = 1_000_000
    """Most gas this call (with nested calls) may use."""


class ContractUpgrade(CoreStruct, frozen=True, tag="contracts.upgrade"):
    """Replace a contract's code, keeping its address and storage; only its admin or governance may."""

    contract: Address
    """The contract's address."""
    code: ContractCode
    """The new module's bytes."""
    gas_limit: GasLimit = 10_000_000
    """Most gas this upgrade may use."""
