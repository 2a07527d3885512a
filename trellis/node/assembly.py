"""Wiring: build a ``Node`` from a home directory with the real adapters (LMDB, key files, system clock).
Constructor injection only; no registries."""

from __future__ import annotations

import os
from pathlib import Path

from trellis.app.application import TrellisApp
from trellis.keys.signer import KeyStoreError
from trellis.node.clock import SystemClock
from trellis.node.config import NodeConfig, load_config
from trellis.node.home import Home
from trellis.node.node import Node
from trellis.storage.chain_store import ChainStore
from trellis.storage.kv import LmdbStore

PASSPHRASE_ENV = "TRELLIS_VALIDATOR_PASSPHRASE"


def assemble_node(root: Path, config: NodeConfig | None = None) -> Node:
    """Open the home directory at ``root`` and build its node (not started).

    The validator key's passphrase, if it has one, comes from ``$TRELLIS_VALIDATOR_PASSPHRASE``.

    Raises:
        TrellisError: missing or invalid genesis, configuration or key; a data directory of another chain.
    """
    home = Home(root)
    params = home.load_params()
    cfg = config if config is not None else load_config(home.config)
    passphrase = os.environ.get(PASSPHRASE_ENV)
    signer = home.keys.signer(cfg.node.validator_key, passphrase.encode() if passphrase else None)
    if signer.public_key not in {v.public_key for v in params.validators.validators}:
        raise KeyStoreError(f"key {cfg.node.validator_key!r} is not a validator of this chain's genesis")
    kv = LmdbStore(home.data_dir(cfg))
    store = ChainStore(kv)
    try:
        app = TrellisApp(params, store, index_accounts=cfg.node.index_accounts)
    except BaseException:
        kv.close()
        raise
    return Node(params, cfg, store, app, signer, SystemClock())
