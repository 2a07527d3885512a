"""Wiring: build a ``Node`` from a home directory with the real adapters (LMDB, key files, system clock).
Constructor injection only; no registries."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from trellis.abci import StageTimes
from trellis.app.application import TrellisApp
from trellis.app.modules.accounts import involved_addresses
from trellis.app.modules.contracts import WasmEngine
from trellis.blobs.store import BlobStore, LocalBlobStore
from trellis.core.errors import TrellisError
from trellis.core.ledger.block import Block, Receipt
from trellis.core.ledger.tx import sender_address
from trellis.core.params import ChainParams
from trellis.keys.signer import KeyStore, Signer
from trellis.node.certwatch import CertWatcher
from trellis.node.clock import SystemClock
from trellis.node.config import BlobsSection, ConfigError, NodeConfig, check_bench_switches, load_config
from trellis.node.home import Home
from trellis.node.node import Node
from trellis.node.peers import peer_transport
from trellis.node.privval import PrivValidator
from trellis.node.verifier import CpuPoolVerifier, TrustingVerifier
from trellis.node.wal import FileWal
from trellis.notary.tsa import TsaIdentity
from trellis.p2p.tcp import TlsTransport
from trellis.storage.chain_store import ChainStore
from trellis.storage.kv import KVStore, SplitStore, open_data_store
from trellis.storage.pruning import Pruner, Retention
from trellis.storage.snapshots import SnapshotStore, check_restored

PASSPHRASE_ENV = "TRELLIS_VALIDATOR_PASSPHRASE"
log = logging.getLogger("trellis.node")


def assemble_node(root: Path, config: NodeConfig | None = None) -> Node[TrellisApp]:
    """Open the home directory at ``root`` and build its node (not started).

    The validator key is found as ``[signer]`` says (see :func:`validator_signer`). An observer
    (``[node] role = "observer"``, ADR 0018 section 4) opens no key at all: no key file is read, no PKCS#11
    module is loaded, no vote WAL is opened, and its consensus driver follows without a signer, so it cannot
    sign even if governance adds its key to the validator set.

    Raises:
        TrellisError: missing or invalid genesis, configuration or key; a data directory of another chain.
    """
    home = Home(root)
    params = home.load_params()
    cfg = config if config is not None else load_config(home.config)
    check_bench_switches(cfg, params.genesis)  # before any key or store is opened
    if cfg.node.role == "observer":
        if cfg.signer.kind != "file":
            log.warning("observer: the [signer] section (kind = %r) is ignored; no key is opened", cfg.signer.kind)
        if not cfg.p2p.peers:
            raise ConfigError(f"{home.config}: an observer follows validators: [p2p] peers must name at least one")
        log.info("role: observer (follows the chain, serves the API, never signs)")
        return _assemble(home, cfg, params, None)
    if cfg.signer.kind == "pkcs11" and params.suite.name != "ed25519":
        raise ConfigError(
            f'[signer] kind = "pkcs11" holds Ed25519 keys, but this chain\'s suite is {params.suite.name!r}'
        )
    signer = validator_signer(home, cfg)
    try:
        return _assemble(home, cfg, params, signer)
    except BaseException:
        _close_signer(signer)
        raise


def validator_signer(home: Home, cfg: NodeConfig) -> Signer:
    """The validator key as ``[signer]`` configures it: a key file of the home's key store (its passphrase,
    if any, from ``$TRELLIS_VALIDATOR_PASSPHRASE``) or a key in a PKCS#11 token (its PIN from ``pin_file``).

    Raises:
        TrellisError: the key, token, module or PIN file cannot be used (``KeyStoreError``, ``HsmError``).
    """
    s = cfg.signer
    if s.kind == "pkcs11":
        from trellis.keys.pkcs11 import Pkcs11Signer  # python-pkcs11 is loaded only when an HSM is configured

        signer = Pkcs11Signer.from_pin_file(s.module, s.token_label, s.key_label, home.root / s.pin_file)
        log.info("validator key: %r in PKCS#11 token %r (%s)", s.key_label, s.token_label, s.module)
        return signer
    passphrase = os.environ.get(PASSPHRASE_ENV)
    return home.keys.signer(cfg.node.validator_key, passphrase.encode() if passphrase else None)


def _signer_name(cfg: NodeConfig) -> str:
    s = cfg.signer
    if s.kind == "pkcs11":
        return f"key {s.key_label!r} in PKCS#11 token {s.token_label!r}"
    return f"key {cfg.node.validator_key!r}"


def _close_signer(signer: Signer) -> None:
    close = getattr(signer, "close", None)
    if close is not None:
        close()


def _assemble(home: Home, cfg: NodeConfig, params: ChainParams, signer: Signer | None) -> Node[TrellisApp]:
    """Build the node around ``signer`` (None: an observer, with no ``PrivValidator`` and no vote WAL)."""
    transport = _transport(home, cfg, params)
    kv = open_data_store(home.data_dir(cfg), durable_state=cfg.node.durable_state)
    try:
        check_restored(kv)  # a state sync cut short, or a state-synced state lost: cannot be rebuilt from blocks
    except BaseException:
        kv.close()
        raise
    if isinstance(kv, SplitStore) and kv.rebuilt:
        log.warning("the state tables were open when the machine went down; rebuilding them from the stored blocks")
    store = ChainStore(kv, track_lifetimes=cfg.storage.keep_recent > 0)  # the pruner's rows (ADR 0018)
    stages = StageTimes()
    verifier: CpuPoolVerifier | TrustingVerifier | None = None
    try:
        if cfg.bench.skip_signature_checks:
            log.warning("BENCH MODE: [bench] skip_signature_checks is on: signatures are NOT checked")
            verifier = TrustingVerifier(params.genesis)
        elif cfg.node.verifier_workers != 0:
            workers = None if cfg.node.verifier_workers < 0 else cfg.node.verifier_workers
            verifier = CpuPoolVerifier(params.suite, workers)
        app = TrellisApp(
            params,
            store,
            index_accounts=cfg.node.index_accounts,
            verifier=verifier,
            contracts=WasmEngine(),
            stages=stages,
        )
        if signer is not None:
            _log_membership(app, signer, cfg)
    except BaseException:
        if verifier is not None:
            verifier.close()
        store.close()
        raise
    privval = None
    if signer is not None:
        privval = PrivValidator(params.suite, signer, FileWal(home.data_dir(cfg) / "consensus.wal"))
    watcher = None
    if transport is not None:
        p2p = cfg.p2p
        watcher = CertWatcher(transport, home.root / p2p.cert, home.root / p2p.key, p2p.cert_reload_s)
    blobs = blob_store(cfg.blobs, home.root)
    tsa = tsa_setup(home, cfg, params)
    snapshots = snapshot_store(home, cfg, params, kv)
    return Node(
        params,
        cfg,
        store,
        app,
        privval,
        SystemClock(),
        transport,
        watcher,
        blobs,
        tsa,
        stages=stages,
        snapshots=snapshots,
        pruner=_pruner(cfg, params, store, snapshots),
    )


def _pruner(cfg: NodeConfig, params: ChainParams, store: ChainStore, snapshots: SnapshotStore | None) -> Pruner | None:
    """The pruner of ``[storage]`` (ADR 0018), keeping the snapshot heights still offered; None for an archive
    node (``keep_recent = 0``)."""
    st = cfg.storage
    if not st.keep_recent:
        return None
    suite = params.suite

    def addresses_of(block: Block, receipts: Sequence[Receipt]) -> list[list[bytes]]:
        full = len(receipts) == len(block.txs)
        return [
            involved_addresses(tx, sender_address(suite, tx), receipts[i] if full else None)
            for i, tx in enumerate(block.txs)
        ]

    return Pruner(
        store,
        Retention(keep_recent=st.keep_recent, keep_every=st.keep_every, prune_blocks=st.prune_blocks),
        suite,
        retain=None if snapshots is None else snapshots.retained_heights,
        addresses_of=addresses_of if cfg.node.index_accounts else None,
        interval=st.prune_interval_blocks,
    )


def snapshot_store(home: Home, cfg: NodeConfig, params: ChainParams, kv: KVStore) -> SnapshotStore | None:
    """The state snapshots under ``<data>/snapshots`` (ADR 0018): written every ``[storage] snapshot_interval``
    blocks, and offered to peers while on disk (None when snapshots are off and none are on disk)."""
    st = cfg.storage
    root = home.data_dir(cfg) / "snapshots"
    if st.snapshot_interval == 0 and not root.is_dir():
        return None
    return SnapshotStore(root, params.suite, params.chain_id, st.snapshot_interval, st.snapshot_keep, kv)


def _log_membership(app: TrellisApp, signer: Signer, cfg: NodeConfig) -> None:
    """Say whether the validator key votes at the next height. A key outside the set is not refused (ADR 0014):
    the node follows, and votes from the height at which governance adds it."""
    height = app.info().height + 1
    keys = {v.public_key for v in app.validator_set(height).validators}
    if signer.public_key in keys:
        # The driver says so at start too ("this node is a validator at height h"): not worth a second line.
        log.debug("the validator key (%s) is a validator at height %d", _signer_name(cfg), height)
    else:
        log.info("the validator key (%s) is not a validator at height %d; following", _signer_name(cfg), height)


def tsa_setup(home: Home, cfg: NodeConfig, params: ChainParams) -> tuple[TsaIdentity, Signer] | None:
    """The RFC 3161 authority ``[notary]`` configures (None when it is off).

    Raises:
        ConfigError: the key or certificate cannot be read; the account key is not in the key store.
    """
    section = cfg.notary
    if not (section.tsa_key and section.tsa_cert and section.tsa_account):
        return None
    try:
        identity = TsaIdentity.from_pem(
            (home.root / section.tsa_key).read_bytes(), (home.root / section.tsa_cert).read_bytes()
        )
    except (OSError, ValueError) as exc:
        raise ConfigError(f"[notary] cannot load the TSA key and certificate: {exc}") from exc
    try:
        signer = KeyStore(home.root / "keys", params.suite).signer(section.tsa_account, None)
    except TrellisError as exc:
        raise ConfigError(f"[notary] tsa_account {section.tsa_account!r}: {exc}") from exc
    return identity, signer


def blob_store(section: BlobsSection, root: Path) -> BlobStore:
    """The file store that ``[blobs]`` configures: a directory (relative to ``root`` unless absolute) or an
    S3 bucket, credentials from the environment (never from the configuration, never logged).

    Raises:
        BlobStoreError: the directory cannot be created or the S3 client cannot be built.
    """
    if section.backend == "s3":
        from trellis.blobs.s3 import S3BlobStore

        # the host only: an endpoint URL could carry user:password@
        host = urlsplit(section.s3_endpoint).hostname if section.s3_endpoint else "AWS"
        log.info("blob store: S3 bucket %r at %s", section.s3_bucket, host)
        return S3BlobStore(
            section.s3_bucket,
            endpoint_url=section.s3_endpoint or None,
            region=section.s3_region,
            prefix=section.s3_prefix,
        )
    return LocalBlobStore(root / section.dir)


def _transport(home: Home, cfg: NodeConfig, params: ChainParams) -> TlsTransport | None:
    p2p = cfg.p2p
    if len(params.validators.validators) == 1 and not p2p.peers:
        return None
    if not p2p.node_id:
        raise ConfigError(f"{home.config}: [p2p] node_id must be set on a chain with several validators")
    return peer_transport(home, cfg, params)
