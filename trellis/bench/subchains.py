"""A fast in-process simulator of many sub-chains for ``trellis bench --workload hub`` (ADR 0016 section 3).

Each simulated sub-chain is real where the hub looks and nothing more:

- four Ed25519 validators of power 1, keys derived from the bench seed and the chain's index (derived once per
  process and kept);
- a real genesis document (canonical msgpack; its hash is ``params_from_genesis``'s, the hash the hub genesis
  registers in ``hub.subchains``);
- a tiny state tree of its own (``core/ledger/state_tree``: ``apply_updates`` / ``prove``), whose root each header
  carries; a chain that only sends headers keeps one key (its chain id), a chain that handshakes and sends packets
  writes the records the hub's interchain handlers prove (client state, connection and channel ends, packet
  commitments) into it;
- a real header per block (parent hash, empty transaction and result roots, the tree's root, the validator-set
  hashes) and a real commit: PRECOMMIT votes of three of the four validators (more than 2/3 of the power).

No transaction runs on a simulated chain and no block is stored beyond what a proof needs; a header costs three
signatures and a few hashes, so 10,000 chains produce a round of headers in seconds. ``updates_job`` builds the
hub's ``interchain.create_client`` and ``interchain.update_client`` transactions for a range of chains in a worker
process (it derives the same chains again from the seed).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from trellis.core.codec import encode
from trellis.core.crypto.merkle import merkle_root
from trellis.core.crypto.suite import ED25519, address_of, ed25519_keypair_from_seed, ed25519_sign
from trellis.core.ledger.block import Commit, CommitSig, Header, block_hash, validators_hash
from trellis.core.ledger.state_tree import apply_updates, prove
from trellis.core.ledger.tx import TxBody, sign_tx, tx_hash
from trellis.core.ledger.votes import PRECOMMIT, Vote, vote_signing_bytes
from trellis.core.modules.interchain.messages import CreateClient, HeaderUpdate, UpdateClient
from trellis.core.params import ChainParams, Genesis, GenesisInterchain, GenesisValidator, params_from_genesis
from trellis.core.types import ZERO_HASH

VALIDATORS = 4
"""Validators per simulated chain."""
SIGNERS = 3
"""Validators that sign each commit (more than 2/3 of four equal powers)."""
BLOCK_STEP_MS = 100
"""Time between two simulated blocks of one chain. Every header of a run is made before the hub starts, so the
genesis time lies far enough in the past that the last header is not beyond the hub's clock (``genesis_time_for``).
"""
TRUSTING_PERIOD_MS = 7 * 86_400_000
"""The trusting period of the hub's clients of simulated chains."""
MAX_CLOCK_DRIFT_MS = 600_000
"""Their allowed clock drift."""
DEFAULT_SEED = b"trellis-hub-bench"


def genesis_time_for(now_ms: int, blocks: int) -> int:
    """A genesis time for simulated chains that will make ``blocks`` blocks: at least half an hour, and at least
    ``blocks + 1000`` block steps, before ``now_ms`` (every header in the past, well within the trusting period)."""
    return now_ms - max(1_800_000, (blocks + 1000) * BLOCK_STEP_MS)


def chain_id_of(index: int) -> str:
    """The chain id of simulated chain ``index``."""
    return f"sub-{index:05d}"


def _seed(seed: bytes, index: int, validator: int) -> bytes:
    return hashlib.sha256(seed + b"/" + chain_id_of(index).encode() + b"/validator-" + bytes([validator])).digest()


class _Nodes:
    """A ``NodeReader`` over a dict (the tree nodes a simulated chain ever made)."""

    def __init__(self) -> None:
        self.nodes: dict[bytes, bytes] = {}

    def get_node(self, node_hash: bytes) -> bytes | None:
        return self.nodes.get(node_hash)


@dataclass
class SimSubChain:
    """One simulated sub-chain: keys, genesis, its tiny state tree and its tip."""

    index: int
    genesis_time_ms: int
    seed: bytes = DEFAULT_SEED
    chain_id: str = field(init=False)
    params: ChainParams = field(init=False)
    genesis_bytes: bytes = field(init=False)
    validators_bytes: bytes = field(init=False)
    height: int = field(init=False, default=0)
    time_ms: int = field(init=False)
    block_id: bytes = field(init=False, default=ZERO_HASH)
    state: dict[bytes, bytes] = field(init=False, default_factory=dict)
    roots: dict[int, bytes] = field(init=False, default_factory=dict)
    """Height -> state root of that block (every height a proof may be asked at)."""

    def __post_init__(self) -> None:
        self.chain_id = chain_id_of(self.index)
        keys = [ed25519_keypair_from_seed(_seed(self.seed, self.index, v)) for v in range(VALIDATORS)]
        self._secret = {pk: sk for sk, pk in keys}
        genesis = Genesis(
            chain_id=self.chain_id,
            genesis_time_ms=self.genesis_time_ms,
            validators=[
                GenesisValidator(name=f"validator-{v}", public_key=pk.hex(), power=1) for v, (_, pk) in enumerate(keys)
            ],
            mint_authority=address_of(ED25519, keys[0][1]).hex(),
            interchain=GenesisInterchain(client_policy="open"),
        )
        self.params = params_from_genesis(genesis)
        self.genesis_bytes = encode(genesis)
        vset = self.params.validators
        self.validators_bytes = encode(vset)
        self._vhash = validators_hash(ED25519, vset)
        self._signers = [(address_of(ED25519, v.public_key), self._secret[v.public_key]) for v in vset.validators][
            :SIGNERS
        ]
        self._signers.sort(key=lambda s: s[0])
        self._proposer = address_of(ED25519, vset.validators[0].public_key)
        self._empty_root = merkle_root(ED25519, [])
        self._tree = _Nodes()
        self.time_ms = self.genesis_time_ms
        self.state_root = ZERO_HASH
        self.write({b"sim/chain_id": self.chain_id.encode()})

    @property
    def genesis_hash(self) -> bytes:
        """The genesis hash (``params_from_genesis``'s)."""
        return self.params.genesis_hash

    def write(self, updates: dict[bytes, bytes | None]) -> None:
        """Apply ``updates`` to the chain's state tree (the next block's root)."""
        tree = apply_updates(ED25519, self._tree, self.state_root, updates)
        self._tree.nodes.update(tree.nodes)
        self.state_root = tree.root
        for k, v in updates.items():
            if v is None:
                self.state.pop(k, None)
            else:
                self.state[k] = v

    def next_block(self) -> tuple[bytes, bytes]:
        """Commit the next block (no transactions; the current state root): canonical (header, commit)."""
        self.height += 1
        self.time_ms += BLOCK_STEP_MS
        header = Header(
            chain_id=self.chain_id,
            height=self.height,
            time_ms=self.time_ms,
            parent_hash=self.block_id,
            tx_root=self._empty_root,
            results_root=self._empty_root,
            state_root=self.state_root,
            tx_count=0,
            proposer=self._proposer,
            validators_hash=self._vhash,
            next_validators_hash=self._vhash,
        )
        bid = block_hash(ED25519, header)
        msg = vote_signing_bytes(
            Vote(chain_id=self.chain_id, kind=PRECOMMIT, height=self.height, round=0, block_hash=bid)
        )
        sigs = [CommitSig(validator=addr, signature=ed25519_sign(sk, msg)) for addr, sk in self._signers]
        commit = Commit(height=self.height, round=0, block_hash=bid, signatures=sigs)
        self.block_id = bid
        self.roots[self.height] = self.state_root
        return encode(header), encode(commit)

    def prove(self, key: bytes, height: int) -> bytes:
        """Canonical ``StateProof`` of ``key`` against the state root of block ``height``."""
        return encode(prove(ED25519, self._tree, self.roots[height], key, height))

    def create_client(self, header: bytes, commit: bytes) -> CreateClient:
        """The hub's ``interchain.create_client`` of this chain from its genesis and the header ``header``."""
        return CreateClient(
            chain_id=self.chain_id,
            genesis=self.genesis_bytes,
            set_changes=[],
            header=header,
            commit=commit,
            trusting_period_ms=TRUSTING_PERIOD_MS,
            max_clock_drift_ms=MAX_CLOCK_DRIFT_MS,
        )

    def update(self, client_id: str, trusted_height: int, header: bytes, commit: bytes) -> UpdateClient:
        """``interchain.update_client`` of the hub's client ``client_id`` to ``header``, from ``trusted_height``."""
        return UpdateClient(
            client_id=client_id,
            update=HeaderUpdate(
                trusted_height=trusted_height,
                header=header,
                commit=commit,
                validators=self.validators_bytes,
                trusted_validators=self.validators_bytes,
            ),
        )


# -- transactions for the hub, built in worker processes -------------------------------------------------------------
@dataclass(frozen=True)
class UpdatesJob:
    """What one worker builds: for chains ``first .. first + count - 1`` of ``chains`` (all numbered from 0), their
    ``create_client`` (sender account 0, nonce = chain index: client ``client-<index>`` once every create committed
    in order) and ``rounds`` rounds of ``update_client`` (chains ``>= update_from`` only; chain ``i`` updated by
    account ``1 + (i - update_from) % update_senders``, nonces in round order)."""

    seed: bytes
    chains: int
    first: int
    count: int
    rounds: int
    genesis_time_ms: int
    hub_chain_id: str
    update_from: int
    update_senders: int


def update_sender(index: int, update_from: int, senders: int) -> tuple[int, int]:
    """(account, rank among that account's chains) of chain ``index``'s updates: see ``UpdatesJob``."""
    k = index - update_from
    return 1 + k % senders, k // senders


def _chains_of_sender(chains: int, update_from: int, senders: int, account: int) -> int:
    k = account - 1
    span = chains - update_from
    return 0 if k >= span else (span - 1 - k) // senders + 1


def build_hub_txs(job: UpdatesJob) -> tuple[list[tuple[bytes, bytes]], list[list[tuple[bytes, bytes]]], list[bytes]]:
    """Build ``job``'s transactions: (creates, per round the updates, each chain's genesis hash), each transaction
    as (canonical signed bytes, hash), in chain order."""
    from trellis.bench.runner import _account

    creates: list[tuple[bytes, bytes]] = []
    rounds: list[list[tuple[bytes, bytes]]] = [[] for _ in range(job.rounds)]
    hashes: list[bytes] = []

    def signed(account: int, nonce: int, payload: CreateClient | UpdateClient) -> tuple[bytes, bytes]:
        s = _account(ED25519, account)
        body = TxBody(chain_id=job.hub_chain_id, sender=s.public_key, nonce=nonce, payload=payload)
        raw = encode(sign_tx(body, s.sign))
        return raw, tx_hash(ED25519, raw)

    for i in range(job.first, job.first + job.count):
        chain = SimSubChain(i, job.genesis_time_ms, job.seed)
        hashes.append(chain.genesis_hash)
        h, c = chain.next_block()
        creates.append(signed(0, i, chain.create_client(h, c)))
        if i < job.update_from:
            continue
        account, rank = update_sender(i, job.update_from, job.update_senders)
        per_round = _chains_of_sender(job.chains, job.update_from, job.update_senders, account)
        for r in range(job.rounds):
            trusted = chain.height
            h, c = chain.next_block()
            rounds[r].append(signed(account, r * per_round + rank, chain.update(f"client-{i}", trusted, h, c)))
    return creates, rounds, hashes


__all__ = [
    "BLOCK_STEP_MS",
    "DEFAULT_SEED",
    "SimSubChain",
    "UpdatesJob",
    "build_hub_txs",
    "chain_id_of",
    "genesis_time_for",
]
