"""An in-memory ``ContractHost``: the twin of the core's ``StateContractHost``.

``MemoryContractHost`` keeps code, contract records and storage in dicts; writes apply at once (there is no
transaction to roll back), so it suits running contracts in tests, tools and benchmarks.
"""

from __future__ import annotations

from trellis.core.crypto.suite import ED25519, Suite
from trellis.core.modules.contracts.engine import MAX_RANGE_ENTRIES, ContractEngine
from trellis.core.params import GenesisContracts


class MemoryContractHost:
    """A ``ContractHost`` over dicts: code by hash, each contract's code hash, each contract's storage."""

    def __init__(
        self,
        *,
        suite: Suite = ED25519,
        limits: GenesisContracts | None = None,
        height: int = 1,
        time_ms: int = 1_700_000_000_000,
        origin: bytes = bytes(20),
        read_only: bool = False,
    ) -> None:
        """An empty chain view: no code, no contracts.

        Args:
            suite: the crypto suite (``hash`` and ``verify`` use it).
            limits: the genesis contract parameters (default: genesis defaults).
            height: the block height contracts see.
            time_ms: the block time contracts see.
            origin: the transaction's sender.
            read_only: refuse writes (a query).
        """
        self.suite = suite
        self.limits = limits if limits is not None else GenesisContracts()
        self.height = height
        self.time_ms = time_ms
        self.range_skipped = 0
        """A dict holds no pending deletions: a scan never passes over any."""
        self.origin = origin
        self.read_only = read_only
        self.codes: dict[bytes, bytes] = {}
        self.contracts: dict[bytes, bytes] = {}
        self.storage: dict[bytes, dict[bytes, bytes]] = {}
        self._next = 0

    def deploy(self, engine: ContractEngine, code: bytes, address: bytes | None = None) -> bytes:
        """Validate ``code`` with ``engine`` and install it at ``address`` (default: the next test address).

        ``init`` is not run: call it with ``engine.call(..., "init", ..., is_init=True)`` if needed.

        Raises:
            InvalidContract: the engine refused the module.
        """
        engine.validate(code, self.limits)
        if address is None:
            self._next += 1
            address = b"\xc0" + self._next.to_bytes(19, "big")
        code_hash = self.suite.hash(code)
        self.codes[code_hash] = code
        self.contracts[address] = code_hash
        self.storage.setdefault(address, {})
        return address

    def code_hash_of(self, contract: bytes) -> bytes | None:
        return self.contracts.get(contract)

    def code(self, code_hash: bytes) -> bytes | None:
        return self.codes.get(code_hash)

    def storage_get(self, contract: bytes, key: bytes) -> bytes | None:
        return self.storage.get(contract, {}).get(key)

    def storage_put(self, contract: bytes, key: bytes, value: bytes | None) -> None:
        if self.read_only:
            raise PermissionError("storage is read-only in a query")
        store = self.storage.setdefault(contract, {})
        if value is None:
            store.pop(key, None)
        else:
            store[key] = value

    def storage_range(self, contract: bytes, start: bytes, end: bytes | None, limit: int) -> list[tuple[bytes, bytes]]:
        store = self.storage.get(contract, {})
        keys = sorted(k for k in store if k >= start and (end is None or k < end))
        return [(k, store[k]) for k in keys[: min(limit, MAX_RANGE_ENTRIES)]]
