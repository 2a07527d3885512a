"""State and tree nodes in two dicts: the state reader and node store that ``build_block`` and the state-tree
functions take, for tests and vector generators that run blocks without a node."""

from __future__ import annotations


class MemoryState:
    """A ``StateReader`` (``get``, ``scan``) and ``NodeReader`` (``get_node``) over plain dicts."""

    def __init__(self) -> None:
        self.state: dict[bytes, bytes] = {}
        self.nodes: dict[bytes, bytes] = {}

    def get(self, key: bytes) -> bytes | None:
        return self.state.get(key)

    def scan(self, start: bytes, end: bytes, limit: int) -> list[tuple[bytes, bytes]]:
        return sorted((k, v) for k, v in self.state.items() if start <= k < end)[:limit]

    def get_node(self, node_hash: bytes) -> bytes | None:
        return self.nodes.get(node_hash)
