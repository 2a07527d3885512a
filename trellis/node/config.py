"""Node configuration (``config.toml`` in the home directory): local, not consensus-critical.

Parsed strictly into typed structs: unknown keys and out-of-range values are refused with the offending field
named.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from trellis.core.consensus.machine import Timeouts
from trellis.core.errors import TrellisError
from trellis.core.params import Genesis

Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]


class ConfigError(TrellisError):
    """A configuration file that cannot be used."""

    code = "config_error"


class NodeSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Identity and files."""

    moniker: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] = "node"
    """Human-readable name of this node."""
    validator_key: str = "validator"
    """Name of the validator's key in the home's key store (``keys/NAME.pem``)."""
    data_dir: str = "data"
    """Database directory, relative to the home directory."""
    index_accounts: bool = True
    """Keep each account's transaction history."""
    durable_state: bool = False
    """fsync the derived tables (state, receipts, indexes) at every block as well as the blocks themselves.
    Off (the default): they are written without fsync — safe against the node being killed at any instant; after
    a power loss or kernel crash they are rebuilt by re-executing the stored blocks (ADR 0011)."""
    verifier_workers: Annotated[int, msgspec.Meta(ge=-1, le=256)] = -1
    """Signature verification worker processes: -1 one per CPU core, 0 verify in the node process."""
    role: Literal["validator", "observer"] = "validator"
    """``observer``: a non-voting full node (ADR 0018 section 4). It never opens its signer, so it cannot sign
    even if its key is added to the validator set; it follows the chain, serves the API and state sync, and
    forwards the transactions it accepts to the validators."""


class ApiSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The REST API."""

    host: str = "127.0.0.1"
    """Address to listen on."""
    port: Port = 8680
    """TCP port (0 picks a free one)."""
    max_body_bytes: Annotated[int, msgspec.Meta(ge=1024, le=256 * 1024 * 1024)] = 4 * 1024 * 1024
    """Largest request body accepted."""
    query_gas_limit: Annotated[int, msgspec.Meta(ge=10_000, le=1_000_000_000)] = 20_000_000
    """Most gas one read-only contract query may use."""


Ms = Annotated[int, msgspec.Meta(ge=1, le=600_000)]


class ConsensusSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Consensus timing (local: validators may differ, but similar values keep rounds in step)."""

    block_interval_ms: Annotated[int, msgspec.Meta(ge=1, le=60_000)] = 50
    """Pause after a commit before the next height starts."""
    empty_block_interval_ms: Annotated[int, msgspec.Meta(ge=10, le=3_600_000)] = 1000
    """A proposer with an empty mempool waits this long for transactions, then proposes an empty block."""
    propose_timeout_ms: Ms = 3000
    """How long to wait for a round's proposal (round 0; grows by ``timeout_delta_ms`` per round)."""
    prevote_timeout_ms: Ms = 500
    """How long to wait for more prevotes once a quorum has prevoted, without agreement."""
    precommit_timeout_ms: Ms = 500
    """How long to wait for more precommits once a quorum has precommitted, without agreement."""
    timeout_delta_ms: Ms = 500
    """Added to every timeout for each further round (so a slow network is eventually waited for)."""
    gossip_interval_ms: Ms = 500
    """How often to resend the current round's messages (recovers lost messages)."""


def timeouts_of(c: ConsensusSection) -> Timeouts:
    """The consensus machine's timeouts from the configuration."""
    return Timeouts(
        propose_ms=c.propose_timeout_ms,
        propose_delta_ms=c.timeout_delta_ms,
        prevote_ms=c.prevote_timeout_ms,
        prevote_delta_ms=c.timeout_delta_ms,
        precommit_ms=c.precommit_timeout_ms,
        precommit_delta_ms=c.timeout_delta_ms,
        commit_ms=c.block_interval_ms,
    )


class P2pSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The validator network (TCP with mutual TLS)."""

    node_id: Annotated[str, msgspec.Meta(max_length=64)] = ""
    """This node's id (its TLS certificate's common name); empty for a single-validator chain."""
    host: str = "127.0.0.1"
    """Address to listen on."""
    port: Port = 26656
    """TCP port (0 picks a free one)."""
    peers: Annotated[list[str], msgspec.Meta(max_length=1000)] = []
    """Persistent peers, written ``NODE_ID@HOST:PORT``."""
    cert: str = "tls/node.crt"
    """This node's certificate, relative to the home directory."""
    key: str = "tls/node.key"
    """This node's TLS private key, relative to the home directory."""
    max_frame_bytes: Annotated[int, msgspec.Meta(ge=1024, le=1024**3)] = 64 * 1024 * 1024
    """Largest frame accepted from a peer."""
    cert_reload_s: Annotated[float, msgspec.Meta(ge=0.1, le=3600)] = 10.0
    """How often the node checks ``cert``/``key`` for a new certificate (rotation without a restart)."""
    batch_store_max_batches: Annotated[int, msgspec.Meta(ge=16, le=1_000_000)] = 8192
    """Most transaction batches (this node's and its peers', ADR 0012) held for compact proposals."""
    batch_store_max_bytes: Annotated[int, msgspec.Meta(ge=1024 * 1024, le=16 * 1024**3)] = 128 * 1024 * 1024
    """Most bytes of batches held (raw transactions plus a fixed overhead each); oldest batches go first."""


class MempoolSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Mempool bounds."""

    max_txs: Annotated[int, msgspec.Meta(ge=1, le=10_000_000)] = 200_000
    """Most pending transactions."""
    max_bytes: Annotated[int, msgspec.Meta(ge=1024, le=8 * 1024**3)] = 256 * 1024 * 1024
    """Most bytes of pending transactions."""
    max_age_s: Annotated[int, msgspec.Meta(ge=0, le=30 * 24 * 3600)] = 3600
    """A transaction pending longer than this is evicted, with its sender's later ones, and logged (0: none)."""


class BenchSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Benchmark-only switches. They take effect only on a network made by ``trellis bench``."""

    skip_signature_checks: bool = False
    """BENCH ONLY: accept every signature without checking it, to measure the rest of the pipeline. Refused at
    start (``check_bench_switches``) unless the chain's genesis carries ``bench_network: true``, which only
    ``trellis bench`` writes; a node running so logs a warning at start and shows it on ``/v1/status``
    (``signature_checks: false``)."""


def check_bench_switches(cfg: NodeConfig, genesis: Genesis) -> None:
    """Refuse ``[bench]`` switches on a chain that is not a bench network.

    A real chain's genesis never carries the ``bench_network`` marker, so a node of a real chain cannot be
    configured to accept unchecked signatures in the blocks it validates.

    Raises:
        ConfigError: ``[bench] skip_signature_checks`` is set and ``genesis`` lacks ``bench_network: true``.
    """
    if cfg.bench.skip_signature_checks and not genesis.is_bench_network:
        raise ConfigError(
            "[bench] skip_signature_checks is set, but this chain is not a bench network (its genesis has no "
            "bench_network marker; only `trellis bench` creates one): remove the setting from config.toml"
        )


class SignerSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where the validator's private key lives. The PIN is never in this file: only the path of a file
    holding it."""

    kind: Literal["file", "pkcs11"] = "file"
    """``file``: the key store's ``keys/NAME.pem`` named by ``[node] validator_key``; ``pkcs11``: an Ed25519
    key in a hardware security module, reached through its PKCS#11 module."""
    module: Annotated[str, msgspec.Meta(max_length=4096)] = "/usr/lib/softhsm/libsofthsm2.so"
    """``pkcs11``: path of the PKCS#11 module (default: Debian's SoftHSM2)."""
    token_label: Annotated[str, msgspec.Meta(max_length=32)] = ""
    """``pkcs11``: label of the token holding the key."""
    key_label: Annotated[str, msgspec.Meta(max_length=32)] = ""
    """``pkcs11``: label of the key in the token."""
    pin_file: Annotated[str, msgspec.Meta(max_length=4096)] = ""
    """``pkcs11``: file holding the token's user PIN (relative to the home directory unless absolute)."""

    def __post_init__(self) -> None:
        if self.kind == "pkcs11":
            missing = [f for f in ("module", "token_label", "key_label", "pin_file") if not getattr(self, f)]
            if missing:
                raise ValueError(f'kind = "pkcs11" needs {", ".join(missing)}')


class BlobsSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The file store (``trellis.blobs``). S3 credentials are never in this file: boto3 reads them from the
    environment (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``) or its shared credentials file."""

    backend: Literal["local", "s3"] = "local"
    """``local``: a directory (``dir``); ``s3``: a bucket of an S3-compatible service."""
    dir: Annotated[str, msgspec.Meta(max_length=4096)] = "blobs"
    """``local``: the store's directory, relative to the home directory unless absolute."""
    chunk_bytes: Annotated[int, msgspec.Meta(ge=4096, le=64 * 1024 * 1024)] = 1024 * 1024
    """Bytes per chunk of a stored file."""
    max_upload_bytes: Annotated[int, msgspec.Meta(ge=0, le=1024**4)] = 1024**3
    """Largest file ``PUT /v1/blobs`` accepts (0 turns uploads off)."""
    s3_endpoint: Annotated[str, msgspec.Meta(max_length=4096)] = ""
    """``s3``: the service's URL (``https://minio.example:9000``); empty for AWS S3."""
    s3_bucket: Annotated[str, msgspec.Meta(max_length=63)] = ""
    """``s3``: the bucket."""
    s3_region: Annotated[str, msgspec.Meta(max_length=64)] = "us-east-1"
    """``s3``: the region name."""
    s3_prefix: Annotated[str, msgspec.Meta(max_length=512)] = ""
    """``s3``: prefix of every object key (to share a bucket)."""

    def __post_init__(self) -> None:
        if self.backend == "s3" and not self.s3_bucket:
            raise ValueError('backend = "s3" needs s3_bucket')


class NotarySection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The RFC 3161 time-stamping endpoint ``POST /v1/notary/tsa`` (docs/spec/receipt.md); off unless all three
    are set."""

    tsa_key: Annotated[str, msgspec.Meta(max_length=4096)] = ""
    """PEM private key of the TSA certificate, relative to the home directory unless absolute."""
    tsa_cert: Annotated[str, msgspec.Meta(max_length=4096)] = ""
    """PEM TSA certificate (``trellis.keys.certs.issue_tsa_cert``: extendedKeyUsage timeStamping)."""
    tsa_account: Annotated[str, msgspec.Meta(max_length=64)] = ""
    """Name of the (unencrypted) key in the home's key store whose account anchors digests not yet on chain."""


class InterchainSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where to read other chains' state (ADR 0015 section 9): cross-chain DID resolution fetches values and their
    proofs from these endpoints and checks each against this chain's client of that chain (untrusted transport)."""

    endpoints: Annotated[dict[str, str], msgspec.Meta(max_length=256)] = {}
    """Chain id -> API base URL of a node of that chain (``{ "chain-b" = "http://127.0.0.1:8690" }``)."""
    genesis_hashes: Annotated[
        dict[str, Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]], msgspec.Meta(max_length=256)
    ] = {}
    """Chain id -> the genesis hash (64 lowercase hex digits) of that chain, for chains governance does not trust
    (``interchain/trusted/<chain_id>`` wins when present): cross-chain reads of a chain use only an active client
    created from this genesis, so a client of another chain that calls itself by that chain id is never used. A
    chain with neither is ``unknown_chain``."""


LogLevel = Literal["debug", "info", "warning", "error", "critical"]
LoggerName = Annotated[
    str, msgspec.Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$", max_length=128)
]


class LogSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The node's log (``trellis.node.logging_setup``): stderr, one record per line."""

    format: Literal["text", "json"] = "text"
    """``text`` (human-readable) or ``json`` (one object per line: ts, level, logger, msg, extra fields, exc)."""
    level: LogLevel = "info"
    """Level of every logger not named in ``levels`` (``trellis node start --log-level`` overrides it)."""
    levels: Annotated[dict[LoggerName, LogLevel], msgspec.Meta(max_length=64)] = {}
    """Logger name -> level (``{ "trellis.consensus" = "debug" }``); a name covers the loggers below it."""


class StorageSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Retention of old state, blocks and snapshots (ADR 0018 sections 1 and 2)."""

    keep_recent: Annotated[int, msgspec.Meta(ge=0, le=2**62)] = 0
    """Keep the state of the newest ``keep_recent`` heights; older heights are pruned. 0 (the default): keep
    every height (an archive node). Otherwise at least 2 (a snapshot reads its height's state through one MVCC
    read view, opened before the next block is written, so pruning cannot disturb it whatever the interval)."""
    keep_every: Annotated[int, msgspec.Meta(ge=0, le=2**62)] = 0
    """Also keep, forever, the state at every height that is a multiple of this (0: none)."""
    prune_blocks: bool = False
    """Also delete blocks, commits, receipts and transaction indexes of pruned heights (needs ``keep_recent``);
    the headers and commits of validator-set changes are always kept."""
    prune_interval_blocks: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 100
    """Run the pruner every this many committed blocks."""
    snapshot_interval: Annotated[int, msgspec.Meta(ge=0, le=2**62)] = 0
    """Write a state snapshot every this many blocks (0: none)."""
    snapshot_keep: Annotated[int, msgspec.Meta(ge=1, le=64)] = 2
    """How many of the newest snapshots to keep on disk and offer to peers."""


class StateSyncSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Joining from a snapshot instead of replaying every block (ADR 0018 section 3)."""

    enable: bool = False
    """Start from a peer's snapshot when the data directory is empty (``trellis node start --state-sync``)."""
    trust_height: Annotated[int, msgspec.Meta(ge=0, le=2**62)] = 0
    """With ``trust_hash``: a block the synced history must contain (0: trust the genesis alone)."""
    trust_hash: Annotated[str, msgspec.Meta(max_length=64, pattern="^([0-9a-f]{64})?$")] = ""
    """Hex block id at ``trust_height``."""
    chunk_timeout_s: Annotated[float, msgspec.Meta(ge=0.5, le=600)] = 20.0
    """How long to wait for one chunk before asking another peer."""
    ban_s: Annotated[float, msgspec.Meta(ge=1, le=86_400)] = 600.0
    """How long a peer that sent a bad chunk or manifest is refused."""
    discovery_s: Annotated[float, msgspec.Meta(ge=0.1, le=600)] = 3.0
    """How long to collect snapshot offers from peers before choosing one."""


class NodeConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The whole node configuration."""

    node: NodeSection = NodeSection()
    api: ApiSection = ApiSection()
    consensus: ConsensusSection = ConsensusSection()
    p2p: P2pSection = P2pSection()
    mempool: MempoolSection = MempoolSection()
    bench: BenchSection = BenchSection()
    signer: SignerSection = SignerSection()
    blobs: BlobsSection = BlobsSection()
    notary: NotarySection = NotarySection()
    interchain: InterchainSection = InterchainSection()
    log: LogSection = LogSection()
    storage: StorageSection = StorageSection()
    statesync: StateSyncSection = StateSyncSection()


def load_config(path: Path) -> NodeConfig:
    """Read and validate ``config.toml``.

    Raises:
        ConfigError: missing file, bad TOML, or a bad value (the message names the field).
    """
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"no configuration file at {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    try:
        cfg = msgspec.convert(raw, NodeConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    _check_storage(path, cfg)
    return cfg


def _check_storage(path: Path, cfg: NodeConfig) -> None:
    """Refuse retention settings that contradict each other (the message names the fields)."""
    st = cfg.storage
    if st.keep_recent == 1:
        raise ConfigError(f"{path}: storage.keep_recent must be 0 (keep everything) or at least 2")
    if st.prune_blocks and not st.keep_recent:
        raise ConfigError(f"{path}: storage.prune_blocks needs storage.keep_recent > 0")
    if bool(cfg.statesync.trust_height) != bool(cfg.statesync.trust_hash):
        raise ConfigError(f"{path}: statesync.trust_height and statesync.trust_hash go together")


def _toml_string(value: str) -> str:
    """``value`` as a TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for ch in value:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch < " " or ch == "\x7f":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def render_config(cfg: NodeConfig) -> str:
    """Return ``cfg`` as TOML text."""
    lines: list[str] = []
    for section_name in (
        "node",
        "api",
        "consensus",
        "p2p",
        "mempool",
        "bench",
        "signer",
        "blobs",
        "storage",
        "statesync",
    ):
        section = getattr(cfg, section_name)
        lines.append(f"[{section_name}]")
        for field in section.__struct_fields__:
            value = getattr(section, field)
            if isinstance(value, bool):
                text = "true" if value else "false"
            elif isinstance(value, int | float):
                text = repr(value)
            elif isinstance(value, list):
                text = "[" + ", ".join(_toml_string(str(v)) for v in value) + "]"
            else:
                text = _toml_string(str(value))
            lines.append(f"{field} = {text}")
        lines.append("")
    if cfg.interchain.endpoints:
        lines.append("[interchain.endpoints]")
        for chain_id, url in sorted(cfg.interchain.endpoints.items()):
            lines.append(f"{_toml_string(chain_id)} = {_toml_string(url)}")
        lines.append("")
    if cfg.interchain.genesis_hashes:
        lines.append("[interchain.genesis_hashes]")
        for chain_id, digest in sorted(cfg.interchain.genesis_hashes.items()):
            lines.append(f"{_toml_string(chain_id)} = {_toml_string(digest)}")
        lines.append("")
    if cfg.log != LogSection():
        lines.append("[log]")
        lines.append(f"format = {_toml_string(cfg.log.format)}")
        lines.append(f"level = {_toml_string(cfg.log.level)}")
        levels = ", ".join(f"{_toml_string(k)} = {_toml_string(v)}" for k, v in sorted(cfg.log.levels.items()))
        lines.append(f"levels = {{ {levels} }}" if levels else "levels = {}")
        lines.append("")
    return "\n".join(lines)
