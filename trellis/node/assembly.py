"""Wiring: build a ``Node`` from a home directory with the real adapters (LMDB, key files, system clock).
Constructor injection only; no registries."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from trellis.app.application import TrellisApp
from trellis.app.modules.contracts import WasmEngine
from trellis.core.params import ChainParams
from trellis.keys.signer import KeyStoreError
from trellis.node.clock import SystemClock
from trellis.node.config import ConfigError, NodeConfig, load_config
from trellis.node.home import Home
from trellis.node.node import Node
from trellis.node.privval import PrivValidator
from trellis.node.verifier import CpuPoolVerifier, TrustingVerifier
from trellis.node.wal import FileWal
from trellis.p2p.address import PeerAddress
from trellis.p2p.tcp import TlsTransport
from trellis.storage.chain_store import ChainStore
from trellis.storage.kv import LmdbStore

PASSPHRASE_ENV = "TRELLIS_VALIDATOR_PASSPHRASE"
log = logging.getLogger("trellis.node")


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
    transport = _transport(home, cfg, params)
    kv = LmdbStore(home.data_dir(cfg))
    store = ChainStore(kv)
    verifier: CpuPoolVerifier | TrustingVerifier | None = None
    try:
        if cfg.bench.skip_signature_checks:
            log.warning("BENCH MODE: [bench] skip_signature_checks is on: signatures are NOT checked")
            verifier = TrustingVerifier()
        elif cfg.node.verifier_workers != 0:
            workers = None if cfg.node.verifier_workers < 0 else cfg.node.verifier_workers
            verifier = CpuPoolVerifier(params.suite, workers)
        app = TrellisApp(
            params, store, index_accounts=cfg.node.index_accounts, verifier=verifier, contracts=WasmEngine()
        )
    except BaseException:
        if verifier is not None:
            verifier.close()
        kv.close()
        raise
    privval = PrivValidator(params.suite, signer, FileWal(home.data_dir(cfg) / "consensus.wal"))
    return Node(params, cfg, store, app, privval, SystemClock(), transport)


def _transport(home: Home, cfg: NodeConfig, params: ChainParams) -> TlsTransport | None:
    p2p = cfg.p2p
    if len(params.validators.validators) == 1 and not p2p.peers:
        return None
    if not p2p.node_id:
        raise ConfigError(f"{home.config}: [p2p] node_id must be set on a chain with several validators")
    ca_bundle = "".join(org.ca_cert for org in params.genesis.orgs).encode()
    if not ca_bundle:
        raise ConfigError("the genesis names no member organisations ([orgs]): peers cannot be authenticated")
    try:
        peers = [PeerAddress.parse(p) for p in p2p.peers]
        cert = (home.root / p2p.cert).read_bytes()
        key = (home.root / p2p.key).read_bytes()
    except ValueError as exc:
        raise ConfigError(f"{home.config}: [p2p] peers: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read the node's TLS certificate or key: {exc}") from exc
    return TlsTransport(
        p2p.node_id, p2p.host, p2p.port, peers, ca_bundle, cert, key, max_frame_bytes=p2p.max_frame_bytes
    )
