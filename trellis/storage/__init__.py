"""Storage: the ``KVStore`` port, its LMDB implementation and in-memory twin, the power-loss twin of a node's
disk (``power_loss``: only synced writes survive a simulated crash), the chain store that writes each block
(block, certificate, state, tree nodes, receipts, indexes): chain rows first and fsynced, then the derived rows
(ADR 0011), and ``block_store``: the ``BlockSource``/``BlockStore`` ports through which the driver and the API
read blocks, receipts and transaction positions (the ``ChainStore`` implements both).

May import: ``trellis.core``. Must not import ``abci``, ``app``, ``node``, ``p2p``, ``api``, ``cli``.
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
