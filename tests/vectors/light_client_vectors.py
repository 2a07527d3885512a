"""The light-client chain and test vectors (docs/spec/light-client.md section 11).

The chain is made in-process from fixed seeds: genesis ``v0..v3`` power 10, then set changes effective at 4
(add ``v4`` 10), 6 (``v1`` power 5), 8 (remove ``v0``), 9 (add ``v5`` 10) and 11 (remove ``v2``); blocks 1..12.
Headers are built directly (their roots are fixed hashes, not executed state: a light client never reads them)
with ``validators_hash = hash(set(n))`` and ``next_validators_hash = hash(set(n+1))``, and every commit is a real
Ed25519 certificate signed by every member of ``set(n)``, except commit 6 (``v0, v2, v3, v4``: 40 of 45) and
commit 12 (``v3, v4, v5``: 30 of 35). So from height 1, block 12 lacks trust (``v3``: 10 of 40), block 6 has it
(30 of 40), and from 6 block 12 has it (``v3, v4``: 20 of 45): bisection fetches 12, 6, 12.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import msgspec

from trellis.core.codec import encode
from trellis.core.crypto.suite import ED25519, address_of, ed25519_keypair_from_seed, ed25519_sign
from trellis.core.ledger.block import (
    Commit,
    CommitSig,
    Header,
    Validator,
    ValidatorSet,
    block_hash,
    make_validator_set,
    validators_hash,
)
from trellis.core.ledger.votes import PRECOMMIT, Vote, vote_signing_bytes
from trellis.core.lightclient import LightBlock, SetChange, TrustedState
from trellis.core.params import ChainParams, Genesis, GenesisValidator, params_from_genesis

CHAIN_ID = "light-client-vectors"
GENESIS_TIME_MS = 1_700_000_000_000
BLOCK_INTERVAL_MS = 1_000
TIP = 12

_SEEDS = {f"v{i}": hashlib.sha256(f"light-client v{i}".encode()).digest() for i in range(6)}


def key(name: str) -> tuple[bytes, bytes]:
    """(secret key, public key) of ``v0..v5``."""
    return ed25519_keypair_from_seed(_SEEDS[name])


def pk(name: str) -> bytes:
    """Public key of ``v0..v5``."""
    return key(name)[1]


def addr(name: str) -> bytes:
    """Address of ``v0..v5``."""
    return address_of(ED25519, pk(name))


def valset(powers: dict[str, int]) -> ValidatorSet:
    """The set of the named validators with these powers, in address order."""
    return make_validator_set(ED25519, [Validator(public_key=pk(n), power=p, name=n) for n, p in powers.items()])


GENESIS_POWERS = {"v0": 10, "v1": 10, "v2": 10, "v3": 10}
CHANGES: list[tuple[int, dict[str, int]]] = [
    (4, {**GENESIS_POWERS, "v4": 10}),
    (6, {"v0": 10, "v1": 5, "v2": 10, "v3": 10, "v4": 10}),
    (8, {"v1": 5, "v2": 10, "v3": 10, "v4": 10}),
    (9, {"v1": 5, "v2": 10, "v3": 10, "v4": 10, "v5": 10}),
    (11, {"v1": 5, "v3": 10, "v4": 10, "v5": 10}),
]
"""(effective height, the set in force from it)."""
SIGNERS = {6: ["v0", "v2", "v3", "v4"], 12: ["v3", "v4", "v5"]}
"""Commits not signed by every member of their set."""


def genesis() -> Genesis:
    """The chain's genesis document."""
    return Genesis(
        chain_id=CHAIN_ID,
        genesis_time_ms=GENESIS_TIME_MS,
        validators=[GenesisValidator(name=n, public_key=pk(n).hex(), power=p) for n, p in GENESIS_POWERS.items()],
        mint_authority=addr("v0").hex(),
    )


def sign_commit(header: Header, signers: list[str], round_: int = 0, chain_id: str = CHAIN_ID) -> Commit:
    """A commit certificate for ``header`` signed by ``signers`` (sorted by address)."""
    bid = block_hash(ED25519, header)
    msg = vote_signing_bytes(
        Vote(chain_id=chain_id, kind=PRECOMMIT, height=header.height, round=round_, block_hash=bid)
    )
    sigs = sorted(
        (CommitSig(validator=addr(n), signature=ed25519_sign(key(n)[0], msg)) for n in signers),
        key=lambda s: s.validator,
    )
    return Commit(height=header.height, round=round_, block_hash=bid, signatures=sigs)


def names_of(s: ValidatorSet) -> list[str]:
    """The names of a set's members."""
    return [v.name for v in s.validators]


@dataclass
class Chain:
    """Headers, commits and sets of heights 1..tip, and the set changes."""

    params: ChainParams
    headers: dict[int, Header] = field(default_factory=dict)
    commits: dict[int, Commit] = field(default_factory=dict)
    sets: dict[int, ValidatorSet] = field(default_factory=dict)
    """``set(n)`` for ``1 <= n <= tip + 1``."""
    changes: list[SetChange] = field(default_factory=list)
    fetched: list[int] = field(default_factory=list)
    """Heights asked of ``light_block``, in order."""

    def light_block(self, height: int) -> LightBlock:
        """The light block of ``height`` (a ``HeaderProvider``)."""
        self.fetched.append(height)
        if height not in self.headers:
            raise LookupError(f"no block {height}")
        return LightBlock(header=self.headers[height], commit=self.commits[height], validators=self.sets[height])

    def latest_height(self) -> int:
        """The tip."""
        return max(self.headers)

    def changes_to(self, height: int) -> list[SetChange]:
        """The set changes with effective height ``<= height``."""
        return [c for c in self.changes if c.header.height + 1 <= height]

    def trusted_at(self, height: int) -> TrustedState:
        """The trusted state of block ``height`` (0: genesis)."""
        g = TrustedState.from_genesis(self.params)
        return g if height == 0 else g.after(self.light_block(height))


def set_schedule(
    genesis_set: ValidatorSet, changes: list[tuple[int, ValidatorSet]], until: int
) -> dict[int, ValidatorSet]:
    """``set(n)`` for ``1 <= n <= until`` from the genesis set and (effective height, set) changes."""
    out: dict[int, ValidatorSet] = {}
    current = genesis_set
    by_height = dict(changes)
    for n in range(1, until + 1):
        current = by_height.get(n, current)
        out[n] = current
    return out


def build_chain(
    tip: int = TIP,
    changes: list[tuple[int, dict[str, int]]] | None = None,
    signers: dict[int, list[str]] | None = None,
) -> Chain:
    """Build the chain (defaults: the vector chain of the module docstring)."""
    params = params_from_genesis(genesis())
    chg = CHANGES if changes is None else changes
    sgn = SIGNERS if signers is None else signers
    sets = set_schedule(params.validators, [(e, valset(p)) for e, p in chg], tip + 1)
    chain = Chain(params=params, sets=sets)
    parent = bytes(32)
    for n in range(1, tip + 1):
        filler = hashlib.sha256(b"light-client block %d" % n).digest()
        header = Header(
            chain_id=CHAIN_ID,
            height=n,
            time_ms=GENESIS_TIME_MS + n * BLOCK_INTERVAL_MS,
            parent_hash=parent,
            tx_root=filler,
            results_root=filler,
            state_root=filler,
            tx_count=0,
            proposer=address_of(ED25519, sets[n].validators[(n - 1) % len(sets[n].validators)].public_key),
            validators_hash=validators_hash(ED25519, sets[n]),
            next_validators_hash=validators_hash(ED25519, sets[n + 1]),
        )
        chain.headers[n] = header
        chain.commits[n] = sign_commit(header, sgn.get(n, names_of(sets[n])))
        parent = block_hash(ED25519, header)
        if sets[n + 1] != sets[n]:
            chain.changes.append(SetChange(header=header, commit=chain.commits[n], next_validators=sets[n + 1]))
    return chain


# -- vectors -------------------------------------------------------------------------------------------------
def _hex(b: bytes) -> str:
    return b.hex()


def _lb_json(lb: LightBlock) -> dict[str, str]:
    return {
        "header_bytes": _hex(encode(lb.header)),
        "commit_bytes": _hex(encode(lb.commit)),
        "validators_bytes": _hex(encode(lb.validators)),
    }


def _change_json(c: SetChange) -> dict[str, Any]:
    return {
        "effective_height": c.header.height + 1,
        "header_bytes": _hex(encode(c.header)),
        "commit_bytes": _hex(encode(c.commit)),
        "next_validators_bytes": _hex(encode(c.next_validators)),
    }


def _flip_sig(commit: Commit, index: int) -> Commit:
    sigs = list(commit.signatures)
    s = sigs[index]
    sigs[index] = msgspec.structs.replace(s, signature=bytes([s.signature[0] ^ 1]) + s.signature[1:])
    return msgspec.structs.replace(commit, signatures=sigs)


def _case(
    name: str,
    trusted: int | str,
    lb: LightBlock,
    expect: str,
    now_ms: int | None = None,
    trusting_period_ms: int | None = None,
    trust_level: tuple[int, int] = (1, 3),
    max_clock_drift_ms: int = 10_000,
) -> dict[str, Any]:
    return {
        "name": name,
        "trusted": trusted,
        "light_block": _lb_json(lb),
        "now_ms": now_ms,
        "trusting_period_ms": trusting_period_ms,
        "max_clock_drift_ms": max_clock_drift_ms,
        "trust_level": list(trust_level),
        "expect": expect,
    }


def cases(chain: Chain) -> list[dict[str, Any]]:
    """The single-step cases of ``light_client.json`` (section 11)."""
    lb = chain.light_block
    day = 24 * 3600 * 1000
    t12 = chain.headers[12].time_ms
    b3 = lb(3)
    # Block 3 re-signed by only v0 and v1 and v2 (30 of 40: exactly... more than 2/3) and by v0, v1 (20 of 40).
    three_of_four = msgspec.structs.replace(b3, commit=sign_commit(b3.header, ["v0", "v1", "v2"]))
    # Exactly 2/3 of set(5) = 50: not possible with powers of 10; use set(7) (45): v0 v2 v4 = 30 = 2/3 exactly.
    b7 = lb(7)
    exactly_two_thirds = msgspec.structs.replace(b7, commit=sign_commit(b7.header, ["v0", "v2", "v4"]))
    b2 = lb(2)
    outsider = msgspec.structs.replace(b2, commit=sign_commit(b2.header, ["v0", "v1", "v2", "v3", "v5"]))
    other_set = msgspec.structs.replace(b3, validators=chain.sets[4])
    return [
        _case("adjacent_ok", 2, b3, "ok"),
        _case("adjacent_from_genesis_ok", "genesis", lb(1), "ok"),
        _case("adjacent_across_change_ok", 3, lb(4), "ok"),
        _case("adjacent_three_of_four_ok", 2, three_of_four, "ok"),
        _case("skipping_ok", 1, lb(6), "ok"),
        _case("skipping_from_6_to_12_ok", 6, lb(12), "ok"),
        _case("skipping_1_to_12_not_enough_trust", 1, lb(12), "not_enough_trust"),
        _case("bad_signature_first", 2, msgspec.structs.replace(b3, commit=_flip_sig(b3.commit, 0)), "invalid_commit"),
        _case("bad_signature_last", 2, msgspec.structs.replace(b3, commit=_flip_sig(b3.commit, -1)), "invalid_commit"),
        _case(
            "skipping_bad_trusted_signature",
            1,
            msgspec.structs.replace(lb(6), commit=_flip_sig(lb(6).commit, 0)),
            "invalid_commit",
        ),
        _case("signer_outside_the_set", 1, outsider, "invalid_commit"),
        _case("exactly_two_thirds", 6, exactly_two_thirds, "invalid_commit"),
        _case("validators_mismatch", 2, other_set, "validators_mismatch"),
        _case("expired", 1, lb(6), "expired", now_ms=chain.headers[1].time_ms + 14 * day, trusting_period_ms=14 * day),
        _case("within_trusting_period_ok", 1, lb(6), "ok", now_ms=t12, trusting_period_ms=14 * day),
        _case("from_future", 1, lb(6), "from_future", now_ms=chain.headers[6].time_ms - 10_000),
        _case("bad_trust_level", 1, lb(6), "bad_trust_level", trust_level=(1, 4)),
        _case("not_after", 6, lb(6), "not_after"),
    ]


def vectors() -> dict[str, Any]:
    """The contents of ``tests/vectors/light_client.json``."""
    chain = build_chain()
    g = genesis()
    blocks = []
    for n in range(1, TIP + 1):
        h = chain.headers[n]
        blocks.append(
            {
                "height": n,
                "header": _header_fields(h),
                "header_bytes": _hex(encode(h)),
                "block_id": _hex(block_hash(ED25519, h)),
                "commit_bytes": _hex(encode(chain.commits[n])),
                "validators_bytes": _hex(encode(chain.sets[n])),
                "validators_hash": _hex(h.validators_hash),
                "next_validators_hash": _hex(h.next_validators_hash),
            }
        )
    changes = chain.changes_to(TIP)
    dropped = changes[:1] + changes[2:]
    swapped = [changes[1], changes[0], *changes[2:]]
    altered = list(changes)
    altered[2] = msgspec.structs.replace(altered[2], next_validators=chain.sets[4])
    last_dropped = changes[:-1]
    t = build_chain_bisection_order()
    return {
        "description": (
            "Light-client vectors (docs/spec/light-client.md section 11): a chain with five validator-set "
            "changes, single-step cases, the bisection order and genesis-rooted verification."
        ),
        "genesis_json": msgspec.json.encode(g).decode(),
        "genesis_hash": _hex(chain.params.genesis_hash),
        "chain_id": CHAIN_ID,
        "keys": [
            {"name": n, "seed": _hex(_SEEDS[n]), "public_key": _hex(pk(n)), "address": _hex(addr(n))}
            for n in sorted(_SEEDS)
        ],
        "blocks": blocks,
        "set_changes": [_change_json(c) for c in changes],
        "cases": cases(chain),
        "bisection": {"trusted_height": 1, "target": TIP, "fetch_order": t},
        "from_genesis": [
            {"name": "all_changes", "target": TIP, "set_changes": [_change_json(c) for c in changes], "expect": "ok"},
            {
                "name": "one_dropped",
                "target": TIP,
                "set_changes": [_change_json(c) for c in dropped],
                "expect": "validator_changes",
            },
            {
                "name": "two_swapped",
                "target": TIP,
                "set_changes": [_change_json(c) for c in swapped],
                "expect": "validator_changes",
            },
            {
                "name": "next_validators_altered",
                "target": TIP,
                "set_changes": [_change_json(c) for c in altered],
                "expect": "validator_changes",
            },
            {
                "name": "last_dropped",
                "target": TIP,
                "set_changes": [_change_json(c) for c in last_dropped],
                "expect": "invalid_commit",
            },
            {"name": "none", "target": 3, "set_changes": [], "expect": "ok"},
            {
                "name": "change_after_target",
                "target": 5,
                "set_changes": [_change_json(c) for c in changes[:2]],
                "expect": "validator_changes",
            },
        ],
    }


def _header_fields(h: Header) -> dict[str, Any]:
    return {f: (_hex(v) if isinstance(v, bytes) else v) for f in h.__struct_fields__ for v in [getattr(h, f)]}


def build_chain_bisection_order() -> list[int]:
    """The heights the bisection asks for from trusted height 1 to the tip."""
    from trellis.core.lightclient import verify_to_height

    chain = build_chain()
    trusted = chain.trusted_at(1)
    chain.fetched.clear()
    verify_to_height(trusted, TIP, chain)
    return list(chain.fetched)


FILES = {"light_client.json": vectors}
