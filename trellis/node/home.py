"""The node's home directory: ``genesis.json``, ``config.toml``, ``keys/`` and ``data/``.

``init_home`` creates a development network of one validator: a validator key, two account keys
(``alice``, the mint authority and funded at genesis, and ``bob``), the organisation's certificate authority
(``ca/``, listed in genesis) and the node's TLS certificate issued by it (``tls/``). Development keys are written without a
passphrase, with file mode 0600; production keys are made with ``trellis keys new --passphrase-file``.
``suite`` chooses the chain's crypto suite (``ed25519`` or ``sm``): the keys made and genesis follow it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec

from trellis.core.crypto.suite import ED25519, UnknownSuite, suite_by_name
from trellis.core.errors import TrellisError
from trellis.core.params import (
    ChainParams,
    Genesis,
    GenesisAccount,
    GenesisContracts,
    GenesisMembership,
    GenesisOrg,
    GenesisValidator,
    load_genesis,
)
from trellis.core.types import ChainId
from trellis.keys.certs import create_org_ca, is_valid_node_id, issue_node_cert, write_private_key
from trellis.keys.signer import KeyInfo, KeyStore
from trellis.node.config import ApiSection, NodeConfig, NodeSection, P2pSection, render_config

GENESIS_FILE = "genesis.json"
CONFIG_FILE = "config.toml"
KEYS_DIR = "keys"
DEV_BALANCE = 1_000_000_000_000
ORG = "org0"


class HomeError(TrellisError):
    """A home directory that cannot be created or used."""

    code = "home_error"


@dataclass(frozen=True)
class Home:
    """Paths inside a home directory."""

    root: Path

    @property
    def genesis(self) -> Path:
        return self.root / GENESIS_FILE

    @property
    def config(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def keys(self) -> KeyStore:
        return KeyStore(self.root / KEYS_DIR)

    def data_dir(self, cfg: NodeConfig) -> Path:
        return self.root / cfg.node.data_dir

    def load_params(self) -> ChainParams:
        """Read the genesis file."""
        try:
            data = self.genesis.read_bytes()
        except FileNotFoundError:
            raise HomeError(f"no genesis file at {self.genesis}: run `trellis init --home {self.root}` first") from None
        return load_genesis(data)


def init_home(
    root: Path,
    *,
    chain_id: str = "trellis-dev",
    api_port: int = 8680,
    moniker: str = "validator-0",
    suite: str = ED25519.name,
    permissioned: bool = False,
) -> Home:
    """Create a one-validator development network in ``root`` with crypto suite ``suite``; ``permissioned``
    sets genesis ``membership.enforce`` (every sender needs a registered certificate, docs/spec/membership.md).

    Raises:
        HomeError: ``root`` already holds a genesis file, or an argument would make an unusable home (nothing
            is written then).
    """
    home = Home(root)
    try:
        chain_suite = suite_by_name(suite)
    except UnknownSuite as exc:
        raise HomeError(str(exc)) from None
    if permissioned and chain_suite.name != ED25519.name:
        raise HomeError("--permissioned needs the ed25519 suite: identity certificates bind Ed25519 keys")
    if home.genesis.exists():
        raise HomeError(f"{root} is already initialised (found {home.genesis}); use another --home or remove it")
    node_id = moniker if is_valid_node_id(moniker) else "node0"
    cfg = NodeConfig(node=NodeSection(moniker=moniker), api=ApiSection(port=api_port), p2p=P2pSection(node_id=node_id))
    try:
        msgspec.convert(chain_id, ChainId)
    except msgspec.ValidationError as exc:
        raise HomeError(f"invalid chain id {chain_id!r}: {exc}") from None
    try:
        msgspec.convert(msgspec.to_builtins(cfg), NodeConfig)
    except msgspec.ValidationError as exc:
        raise HomeError(f"invalid configuration: {exc}") from None
    root.mkdir(parents=True, exist_ok=True)
    ks = KeyStore(root / KEYS_DIR, chain_suite)
    val, alice, bob = (
        ks.create(name) if not (root / KEYS_DIR / f"{name}.pem").exists() else ks.info(name)
        for name in ("validator", "alice", "bob")
    )
    for info in (val, alice, bob):
        if info.suite != chain_suite.name:
            raise HomeError(f"key {info.name!r} in {root / KEYS_DIR} is a {info.suite} key; the chain uses {suite}")
    # The organisation's CA and this node's TLS certificate: unused while the chain has one validator, ready
    # for peers to join (their certificates must chain to a CA listed in genesis).
    org = create_org_credentials(ORG, node_id, ca_dir=root / "ca", tls_dir=root / "tls")
    genesis = dev_genesis(
        chain_id,
        [GenesisValidator(name=moniker, public_key=val.public_key.hex(), power=10, org=ORG)],
        [org],
        alice,
        bob,
        suite=chain_suite.name,
        permissioned=permissioned,
    )
    home.genesis.write_bytes(encode_genesis(genesis))
    write_config(home.config, cfg)
    return home


def create_org_credentials(org: str, node_id: str, *, ca_dir: Path, tls_dir: Path) -> GenesisOrg:
    """Create organisation ``org``'s CA (``ca_dir/ca.key|crt``) and issue node ``node_id``'s TLS certificate
    (``tls_dir/node.key|crt``); return the organisation as genesis lists it."""
    ca_key, ca_cert = create_org_ca(org)
    ca_dir.mkdir(parents=True, exist_ok=True)
    tls_dir.mkdir(parents=True, exist_ok=True)
    write_private_key(ca_dir / "ca.key", ca_key)
    (ca_dir / "ca.crt").write_bytes(ca_cert)
    issue_node_tls(org, node_id, ca_key=ca_key, ca_cert=ca_cert, tls_dir=tls_dir)
    return GenesisOrg(name=org, ca_cert=ca_cert.decode())


def issue_node_tls(org: str, node_id: str, *, ca_key: bytes, ca_cert: bytes, tls_dir: Path) -> None:
    """Issue node ``node_id``'s TLS certificate with organisation ``org``'s CA (PEM key and certificate) and write
    it with its fresh key to ``tls_dir/node.crt`` and ``tls_dir/node.key`` (mode 0600).

    Raises:
        CertError: the CA is unusable, or ``org`` is not the CA's organisation.
    """
    node_key, node_cert = issue_node_cert(ca_key, ca_cert, org=org, node_id=node_id)
    tls_dir.mkdir(parents=True, exist_ok=True)
    write_private_key(tls_dir / "node.key", node_key)
    (tls_dir / "node.crt").write_bytes(node_cert)


def dev_genesis(
    chain_id: str,
    validators: list[GenesisValidator],
    orgs: list[GenesisOrg],
    alice: KeyInfo,
    bob: KeyInfo,
    extra_accounts: Sequence[GenesisAccount] = (),
    *,
    suite: str = ED25519.name,
    permissioned: bool = False,
) -> Genesis:
    """A development genesis with crypto suite ``suite``: ``alice`` is the mint authority, the governance address
    (she may upgrade any contract and authorise credential issuers) and funded; ``bob`` funded with less.
    ``permissioned``: membership is enforced (senders need certificates)."""
    return Genesis(
        chain_id=chain_id,
        suite=suite,
        genesis_time_ms=time.time_ns() // 1_000_000,
        orgs=orgs,
        validators=validators,
        mint_authority=alice.address.hex(),
        accounts=[
            GenesisAccount(address=alice.address.hex(), balance=DEV_BALANCE),
            GenesisAccount(address=bob.address.hex(), balance=DEV_BALANCE // 1000),
            *extra_accounts,
        ],
        membership=GenesisMembership(enforce=permissioned),
        contracts=GenesisContracts(governance=alice.address.hex()),
    )


def encode_genesis(genesis: Genesis) -> bytes:
    """``genesis.json`` text: indented JSON."""
    return msgspec.json.format(msgspec.json.encode(genesis), indent=2) + b"\n"


def write_config(path: Path, cfg: NodeConfig) -> None:
    """Write ``config.toml``."""
    path.write_text("# Trellis node configuration (edit and restart to apply)\n" + render_config(cfg))
