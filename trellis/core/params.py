"""Chain parameters, read from the genesis file. Everything here is consensus-critical.

The genesis file is JSON (``genesis.json``), human-readable, with hex strings for keys and addresses.
``load_genesis`` parses it strictly (unknown fields, bad hex and out-of-range numbers are refused) and derives
``ChainParams``; the chain's identity is ``genesis_hash``, the tagged hash of the canonical msgpack form.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Literal

import msgspec
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from trellis.core.codec import encode
from trellis.core.crypto.suite import Suite, address_of, suite_by_name
from trellis.core.errors import DecodeError, TrellisError
from trellis.core.ledger.block import MAX_BLOCK_TXS, Validator, ValidatorSet, make_validator_set
from trellis.core.ledger.tx import MAX_TX_BYTES
from trellis.core.modules.contracts.messages import MAX_CODE_BYTES
from trellis.core.types import U64, ChainId

# \Z, not $, which would also accept a trailing "\n" (see trellis/core/types.py).
HexKey = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}([0-9a-f]{66})?\Z")]
HexAddress = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{40}\Z")]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class GenesisValidator(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A validator as written in genesis."""

    name: Name
    """Human-readable name."""
    public_key: HexKey
    """Consensus public key, hex."""
    power: Annotated[int, msgspec.Meta(ge=1, le=2**40)] = 1
    """Voting power."""
    org: Name | msgspec.UnsetType = msgspec.UNSET
    """The genesis org that owns this validator (must name one of ``orgs``). Absent from the encoding when not
    given, so the genesis hash of a file without it is what it was before the field existed."""


class GenesisAccount(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An account funded at genesis."""

    address: HexAddress
    """The account's address, hex."""
    balance: U64
    """Its opening balance."""


class GenesisLimits(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Size limits, consensus-critical."""

    max_tx_bytes: Annotated[int, msgspec.Meta(ge=256, le=MAX_TX_BYTES)] = MAX_TX_BYTES
    """Largest encoded transaction accepted."""
    max_block_txs: Annotated[int, msgspec.Meta(ge=1, le=MAX_BLOCK_TXS)] = 20_000
    """Most transactions in one block."""
    max_block_bytes: Annotated[int, msgspec.Meta(ge=1024, le=256 * 1024 * 1024)] = 32 * 1024 * 1024
    """Largest total size of a block's transactions."""


class GenesisContracts(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Smart-contract parameters, consensus-critical (docs/spec/contracts.md)."""

    governance: HexAddress | None = None
    """An address that may upgrade any contract (besides each contract's own admin); None: no such address."""
    gas_price: U64 = 0
    """Settlement units charged per unit of gas, paid by the sender even when the transaction fails."""
    max_code_bytes: Annotated[int, msgspec.Meta(ge=1024, le=MAX_CODE_BYTES)] = MAX_CODE_BYTES
    """Largest module accepted."""
    max_block_gas: Annotated[int, msgspec.Meta(ge=1_000_000, le=2**53)] = 2_000_000_000
    """Most gas a block's transactions may declare in total (their ``gas_limit`` sum)."""
    max_memory_pages: Annotated[int, msgspec.Meta(ge=1, le=1024)] = 16
    """Most 64 KiB linear-memory pages a contract instance may have."""
    max_call_depth: Annotated[int, msgspec.Meta(ge=1, le=64)] = 8
    """Most nested contract calls (the transaction's own call is depth 1)."""


class GenesisOrg(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A member organisation: its certificate authority issues its nodes' TLS certificates."""

    name: Name
    """The organisation's name."""
    ca_cert: Annotated[str, msgspec.Meta(max_length=16 * 1024)]
    """Its CA certificate (PEM). Peers whose certificates chain to a member CA may connect."""


class GenesisMembership(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Membership rules, consensus-critical (docs/spec/membership.md)."""

    enforce: bool = False
    """Every transaction's sender must hold a certificate valid at the block's time (permissioned chain)."""
    admin_threshold: Annotated[int, msgspec.Meta(ge=1, le=64)] | None = None
    """Distinct organisations whose admins must approve a membership change; None: a majority of the orgs."""


DAY_MS = 86_400_000
"""A day in milliseconds."""


class GenesisHubRef(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A sub-chain's hub: its chain id and genesis hash."""

    chain_id: ChainId
    """The hub's chain id."""
    genesis_hash: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}\Z")]
    """The hub's genesis hash (hex)."""


class GenesisInterchain(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Rules for light clients of other chains (docs/spec/interchain.md 2.1; ADR 0015 section 4.1)."""

    client_policy: Literal["governed", "open"] = "governed"
    """``governed``: a client may be created only of a chain whose genesis hash governance trusted
    (``interchain.trust_chain``); ``open``: any member may create a client of any chain."""
    max_trusting_period_ms: Annotated[int, msgspec.Meta(ge=3_600_000, le=365 * DAY_MS)] = 14 * DAY_MS
    """The longest trusting period a client may ask for."""
    max_consensus_states: Annotated[int, msgspec.Meta(ge=2, le=1_000_000)] | msgspec.UnsetType = msgspec.UNSET
    """Most consensus states one client keeps (an update beyond it deletes the lowest stored height other than the
    latest); absent: no cap, exactly as before the field existed (a chain that predates it keeps every state, and
    its genesis hash is unchanged). A hub should set it (docs/spec/hub.md 2)."""
    hub: GenesisHubRef | msgspec.UnsetType = msgspec.UNSET
    """On a sub-chain: its hub, trusted from genesis as if governance had run ``interchain.trust_chain``
    (ADR 0016 section 1); absent on other chains."""

    @property
    def consensus_state_cap(self) -> int | None:
        """``max_consensus_states``, or None when genesis does not set it (no cap)."""
        cap = self.max_consensus_states
        return None if isinstance(cap, msgspec.UnsetType) else cap


class GenesisSubChain(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A sub-chain registered in a hub's genesis (as ``hub.register`` would register it)."""

    chain_id: ChainId
    """The sub-chain's chain id."""
    operator_org: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    """The genesis organisation that runs it."""
    genesis_hash: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}\Z")]
    """Its genesis hash (hex)."""


class GenesisHub(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A hub's genesis member: the sub-chains registered from the start (docs/spec/hub.md 2)."""

    subchains: Annotated[list[GenesisSubChain], msgspec.Meta(max_length=100_000)] = []
    """The registered sub-chains."""


class GenesisCustody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Proof-of-retrievability rounds of the ``custody`` module (docs/spec/custody.md 4; ADR 0018 section 7)."""

    challenge_interval: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 101
    """A round of challenges opens in every block whose height is a multiple of this. Prime by default: proposers
    take turns by (height + round) mod n, so an interval that the validator count divides would give the block
    before every round (whose id seeds it) to the same proposer (docs/spec/custody.md, security)."""
    challenges_per_round: Annotated[int, msgspec.Meta(ge=1, le=256)] = 4
    """Challenges a round opens (fewer when fewer files are registered)."""
    response_window_blocks: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 50
    """A challenge opened at height h may be answered up to height h + this (its deadline)."""
    keep_closed_blocks: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 1000
    """An answered or missed challenge's record stays readable for this many blocks after it closed."""


class Genesis(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The genesis document (``genesis.json``)."""

    chain_id: ChainId
    """The chain's identifier, carried by every transaction and header."""
    genesis_time_ms: U64
    """Time of the chain's start (ms since the epoch); block 1's time must be later."""
    suite: Annotated[str, msgspec.Meta(max_length=32)] = "ed25519"
    """The crypto suite, fixed for the chain's life."""
    validators: Annotated[list[GenesisValidator], msgspec.Meta(min_length=1, max_length=1000)]
    """The initial validator set."""
    mint_authority: HexAddress
    """The only address allowed to mint the settlement unit."""
    accounts: Annotated[list[GenesisAccount], msgspec.Meta(max_length=100_000)] = []
    """Accounts funded at genesis."""
    limits: GenesisLimits = GenesisLimits()
    """Size limits."""
    orgs: Annotated[list[GenesisOrg], msgspec.Meta(max_length=1000)] = []
    """Member organisations (the network's membership: who may connect)."""
    contracts: GenesisContracts = GenesisContracts()
    """Smart-contract parameters."""
    membership: GenesisMembership = GenesisMembership()
    """Membership rules (the members themselves are ``orgs``)."""
    interchain: GenesisInterchain | msgspec.UnsetType = msgspec.UNSET
    """Interchain rules; absent (the defaults, ``GenesisInterchain()``) leaves the genesis hash of older chains
    unchanged."""
    hub: GenesisHub | msgspec.UnsetType = msgspec.UNSET
    """Present only on a hub (a main chain): its sub-chains registered at genesis; absent, the genesis hash is as
    before the field existed."""
    custody: GenesisCustody | msgspec.UnsetType = msgspec.UNSET
    """Custody rounds; absent (the defaults, ``GenesisCustody()``) leaves the genesis hash of older chains
    unchanged."""
    bench_network: Literal[True] | msgspec.UnsetType = msgspec.UNSET
    """Present (``true``) only in the genesis of a throwaway network made by ``trellis bench``: the one kind of
    chain whose nodes may run with ``[bench] skip_signature_checks``. Absent on every real chain, and then it is
    absent from the encoding too, so the genesis hash of a chain without it is what it was before the field
    existed. ``false`` is refused: the field is written only as ``true`` or left out."""

    def __post_init__(self) -> None:
        if self.bench_network is not msgspec.UNSET and self.bench_network is not True:
            raise ValueError("bench_network may only be true; leave it out on a real chain")

    @property
    def interchain_rules(self) -> GenesisInterchain:
        """The interchain rules: the genesis's, or the defaults when it has none."""
        return GenesisInterchain() if isinstance(self.interchain, msgspec.UnsetType) else self.interchain

    @property
    def custody_rules(self) -> GenesisCustody:
        """The custody rounds' parameters: the genesis's, or the defaults when it has none."""
        return GenesisCustody() if isinstance(self.custody, msgspec.UnsetType) else self.custody

    @property
    def is_bench_network(self) -> bool:
        """True when this genesis carries the bench-network marker (``bench_network: true``)."""
        return self.bench_network is True


class InvalidGenesis(TrellisError):
    """A genesis document that cannot start a chain."""

    code = "invalid_genesis"


@dataclass(frozen=True)
class ChainParams:
    """Consensus parameters derived from genesis.

    Attributes:
        genesis: the parsed document.
        genesis_hash: ``tagged_hash("trellis/genesis/v1", canonical msgpack of genesis)``.
        suite: the crypto suite.
        validators: the validator set (sorted by address).
        mint_authority: the mint authority's address.
        member_cas: each genesis org's (name, CA certificate DER), in genesis order.
    """

    genesis: Genesis
    genesis_hash: bytes
    suite: Suite
    validators: ValidatorSet
    mint_authority: bytes
    member_cas: tuple[tuple[str, bytes], ...] = ()

    @property
    def chain_id(self) -> str:
        """The chain id."""
        return self.genesis.chain_id

    @property
    def limits(self) -> GenesisLimits:
        """The size limits."""
        return self.genesis.limits

    @cached_property
    def governance(self) -> bytes | None:
        """The contract governance address, if genesis names one (parsed once: every transaction's context
        carries it)."""
        gov = self.genesis.contracts.governance
        return None if gov is None else bytes.fromhex(gov)


def params_from_genesis(genesis: Genesis) -> ChainParams:
    """Validate ``genesis`` and derive the chain parameters.

    Raises:
        InvalidGenesis: unknown suite, a key of the wrong size, duplicate validators or accounts.
    """
    try:
        suite = suite_by_name(genesis.suite)
    except TrellisError as exc:
        raise InvalidGenesis(exc.reason) from exc
    member_cas = _member_cas(genesis)
    vals = []
    for gv in genesis.validators:
        pk = bytes.fromhex(gv.public_key)
        if len(pk) != suite.public_key_size:
            raise InvalidGenesis(f"validator {gv.name!r}: public key is not a {suite.name} key")
        if gv.org is not msgspec.UNSET and gv.org not in {o.name for o in genesis.orgs}:
            raise InvalidGenesis(f"validator {gv.name!r}: org {gv.org!r} is not a genesis organisation")
        vals.append(Validator(public_key=pk, power=gv.power, name=gv.name))
    if len({v.public_key for v in vals}) != len(vals):
        raise InvalidGenesis("a validator key appears twice")
    if len({a.address for a in genesis.accounts}) != len(genesis.accounts):
        raise InvalidGenesis("an account appears twice")
    _check_hub(genesis)
    valset = make_validator_set(suite, vals)
    ghash = suite.tagged_hash(b"trellis/genesis/v1", encode(genesis))
    return ChainParams(
        genesis=genesis,
        genesis_hash=ghash,
        suite=suite,
        validators=valset,
        mint_authority=bytes.fromhex(genesis.mint_authority),
        member_cas=member_cas,
    )


def _check_hub(genesis: Genesis) -> None:
    """A hub genesis: governed client policy, each sub-chain once, run by a genesis organisation, not the hub
    itself; a sub-chain's hub is another chain."""
    rules = genesis.interchain_rules
    if not isinstance(rules.hub, msgspec.UnsetType) and rules.hub.chain_id == genesis.chain_id:
        raise InvalidGenesis("interchain.hub names this chain itself")
    if isinstance(genesis.hub, msgspec.UnsetType):
        return
    if rules.client_policy != "governed":
        raise InvalidGenesis(
            "a hub's interchain.client_policy must be governed: only registered sub-chains get clients"
        )
    orgs = {o.name for o in genesis.orgs}
    seen: set[str] = set()
    for sc in genesis.hub.subchains:
        if sc.chain_id in seen:
            raise InvalidGenesis(f"hub sub-chain {sc.chain_id!r} appears twice")
        if sc.chain_id == genesis.chain_id:
            raise InvalidGenesis("a hub cannot register itself as a sub-chain")
        if sc.operator_org not in orgs:
            raise InvalidGenesis(
                f"hub sub-chain {sc.chain_id!r}: operator {sc.operator_org!r} is not a genesis organisation"
            )
        seen.add(sc.chain_id)


def _member_cas(genesis: Genesis) -> tuple[tuple[str, bytes], ...]:
    """Each org's CA certificate as DER; refuses duplicates, unreadable certificates and more than 64 orgs."""
    if len({o.name for o in genesis.orgs}) != len(genesis.orgs):
        raise InvalidGenesis("an organisation appears twice")
    if len(genesis.orgs) > 64:
        raise InvalidGenesis("at most 64 organisations can be members")
    if genesis.membership.enforce and not genesis.orgs:
        raise InvalidGenesis("membership.enforce needs at least one organisation")
    if genesis.membership.enforce and genesis.suite != "ed25519":
        raise InvalidGenesis("membership.enforce needs the ed25519 suite: identity certificates bind Ed25519 keys")
    out = []
    for org in genesis.orgs:
        try:
            der = x509.load_pem_x509_certificate(org.ca_cert.encode()).public_bytes(serialization.Encoding.DER)
        except ValueError as exc:
            raise InvalidGenesis(f"organisation {org.name!r}: cannot read its CA certificate: {exc}") from exc
        out.append((org.name, der))
    return tuple(out)


def load_genesis(data: bytes) -> ChainParams:
    """Parse a genesis JSON document and derive the chain parameters.

    Raises:
        DecodeError: not JSON, or not a valid genesis document (msgspec names the bad field).
        InvalidGenesis: well-formed but unusable (see ``params_from_genesis``).
    """
    try:
        genesis = msgspec.json.decode(data, type=Genesis)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise DecodeError(f"invalid genesis document: {exc}") from exc
    return params_from_genesis(genesis)


def validator_addresses(params: ChainParams) -> list[bytes]:
    """Return the validators' addresses in set order."""
    return [address_of(params.suite, v.public_key) for v in params.validators.validators]
