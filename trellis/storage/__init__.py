"""Storage: the ``KVStore`` port, its LMDB implementation and in-memory twin, and the chain store that writes
each block (block, certificate, state, tree nodes, receipts, indexes) in one atomic transaction.

May import: ``trellis.core``. Must not import ``node``, ``p2p``, ``api``, ``cli``.
"""

from trellis.storage.chain_store import ChainStore, StoredTip
from trellis.storage.kv import KVStore, LmdbStore, MemoryStore, StorageError, TableKeys, TableRows, WriteBatch

__all__ = [
    "ChainStore",
    "KVStore",
    "LmdbStore",
    "MemoryStore",
    "StorageError",
    "StoredTip",
    "TableKeys",
    "TableRows",
    "WriteBatch",
]
