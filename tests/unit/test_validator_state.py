"""The validator set as state records (ADR 0014 section 2): the genesis entry, the walk to the entry in force at
a height, the two sets a block is built and checked with, and the update a block reports to the shell."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from tests.unit.conftest import (
    CHAIN_ID,
    GENESIS_TIME_MS,
    Actors,
    Key,
    MemoryChain,
    TxFactory,
    make_genesis,
    make_key,
    start_chain,
)
from trellis.core.codec import decode, encode
from trellis.core.crypto.suite import ED25519, address_of
from trellis.core.execution.fast_path import apply_block
from trellis.core.execution.reference import BlockEnv, genesis_writes
from trellis.core.execution.results import ResultCode
from trellis.core.ledger.block import Validator, ValidatorSet, make_validator_set
from trellis.core.ledger.votes import DuplicateVoteEvidence, SignedVote, Vote
from trellis.core.modules.evidence.messages import SubmitEvidence
from trellis.core.modules.membership.view import MembershipRefusal
from trellis.core.modules.validators.state import (
    META_KEY,
    SET_PREFIX,
    ValidatorSetEntry,
    ValidatorsMeta,
    ValidatorUpdate,
    entry_in_force,
    genesis_entry,
    genesis_validator_writes,
    read_entry,
    read_meta,
    set_key,
    sets_for_block,
    update_of,
)
from trellis.core.params import ChainParams, GenesisMembership, GenesisOrg, InvalidGenesis, params_from_genesis
from trellis.keys.certs import create_org_ca


def _set_with_power(base: ValidatorSet, index: int, power: int) -> ValidatorSet:
    vals = list(base.validators)
    vals[index] = msgspec.structs.replace(vals[index], power=power)
    return ValidatorSet(validators=vals)


def _entry(effective: int, previous: int, valset: ValidatorSet) -> ValidatorSetEntry:
    return ValidatorSetEntry(
        effective_height=effective, previous=previous, validators=valset, orgs=[""] * len(valset.validators)
    )


def _state_with_entries(params: ChainParams, *entries: ValidatorSetEntry) -> dict[bytes, bytes]:
    """The genesis state plus ``entries`` (each after the one before), meta pointing at the last."""
    state = {k: v for k, v in genesis_writes(params).items() if v is not None}
    for e in entries:
        state[set_key(e.effective_height)] = encode(e)
    latest = entries[-1].effective_height if entries else 1
    state[META_KEY] = encode(ValidatorsMeta(version=len(entries), latest=latest))
    return state


def test_set_key_is_the_prefix_and_the_height_as_eight_big_endian_bytes() -> None:
    assert set_key(1) == b"validators/set/\x00\x00\x00\x00\x00\x00\x00\x01"
    assert set_key(0x0102) == SET_PREFIX + bytes(6) + b"\x01\x02"
    assert set_key(3) < set_key(256) < set_key(2**64 - 1)  # key order is height order


@pytest.mark.parametrize("height", [0, -1, 2**64])
def test_set_key_refuses_a_height_out_of_range(height: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        set_key(height)


def test_genesis_writes_entry_one_and_meta_zero_one(params: ChainParams) -> None:
    writes = genesis_writes(params)
    assert decode(writes[META_KEY] or b"", ValidatorsMeta) == ValidatorsMeta(version=0, latest=1)
    entry = decode(writes[set_key(1)] or b"", ValidatorSetEntry)
    assert entry == ValidatorSetEntry(
        effective_height=1, previous=0, validators=params.validators, orgs=[""] * len(params.validators.validators)
    )
    assert {k: v for k, v in writes.items() if k in (META_KEY, set_key(1))} == genesis_validator_writes(params)


def test_genesis_entry_names_each_validators_org_in_set_order(actors: Actors) -> None:
    cas = {o: create_org_ca(o, now=datetime.fromtimestamp(GENESIS_TIME_MS // 1000, UTC))[1] for o in ("o1", "o2")}
    base = make_genesis(actors)
    gvals = [msgspec.structs.replace(v, org="o1" if i % 2 else "o2") for i, v in enumerate(base.validators)]
    genesis = msgspec.structs.replace(
        base, validators=gvals, orgs=[GenesisOrg(name=o, ca_cert=c.decode()) for o, c in cas.items()]
    )
    params = params_from_genesis(genesis)
    org_of_key = {bytes.fromhex(v.public_key): v.org for v in gvals}
    entry = genesis_entry(params)
    assert entry.orgs == [org_of_key[v.public_key] for v in params.validators.validators]
    assert sorted(entry.orgs) == ["o1", "o1", "o2", "o2"]


def test_a_genesis_validator_org_must_name_a_genesis_org(actors: Actors) -> None:
    base = make_genesis(actors)
    gvals = [msgspec.structs.replace(base.validators[0], org="nobody"), *base.validators[1:]]
    with pytest.raises(InvalidGenesis, match="not a genesis organisation"):
        params_from_genesis(msgspec.structs.replace(base, validators=gvals))


def test_genesis_org_is_encoded_only_when_present(actors: Actors) -> None:
    plain = make_genesis(actors).validators[0]
    assert set(msgspec.msgpack.decode(encode(plain))) == {"name", "public_key", "power"}
    with_org = msgspec.msgpack.decode(encode(msgspec.structs.replace(plain, org="o1")))
    assert list(with_org) == ["name", "public_key", "power", "org"] and with_org["org"] == "o1"


@pytest.mark.parametrize("height", [1, 2])
def test_at_genesis_both_sets_of_a_block_are_the_genesis_set(params: ChainParams, height: int) -> None:
    state = _state_with_entries(params)
    assert sets_for_block(state, height) == (params.validators, params.validators)


def test_read_meta_and_read_entry_decode_the_records(params: ChainParams) -> None:
    state = _state_with_entries(params)
    assert read_meta(state) == ValidatorsMeta(version=0, latest=1)
    assert read_entry(state, 1).validators == params.validators


def test_entry_in_force_walks_back_to_the_greatest_effective_height_not_above(params: ChainParams) -> None:
    g = params.validators
    s3, s7 = _set_with_power(g, 0, 2), _set_with_power(g, 1, 3)
    state = _state_with_entries(params, _entry(3, 1, s3), _entry(7, 3, s7))
    expected = {1: 1, 2: 1, 3: 3, 4: 3, 6: 3, 7: 7, 8: 7, 1000: 7}
    assert {h: entry_in_force(state, h).effective_height for h in expected} == expected
    assert entry_in_force(state, 5).validators == s3


def test_sets_for_block_are_this_heights_and_the_next_heights(params: ChainParams) -> None:
    g = params.validators
    s3, s7 = _set_with_power(g, 0, 2), _set_with_power(g, 1, 3)
    state = _state_with_entries(params, _entry(3, 1, s3), _entry(7, 3, s7))
    assert sets_for_block(state, 2) == (g, s3)
    assert sets_for_block(state, 3) == (s3, s3)
    assert sets_for_block(state, 6) == (s3, s7)
    assert sets_for_block(state, 7) == (s7, s7)


def test_entry_in_force_refuses_height_zero(params: ChainParams) -> None:
    with pytest.raises(ValueError, match="no validator set"):
        entry_in_force(_state_with_entries(params).get, 0)


def test_update_of_reports_the_entry_two_heights_ahead(params: ChainParams) -> None:
    new = make_validator_set(
        ED25519, [*params.validators.validators, Validator(public_key=b"\x09" * 32, power=1, name="new")]
    )
    writes: dict[bytes, bytes | None] = {set_key(7): encode(_entry(7, 1, new)), META_KEY: b"meta"}
    assert update_of(writes, 5) == ValidatorUpdate(effective_height=7, validators=new)
    assert address_of(ED25519, b"\x09" * 32) in {address_of(ED25519, v.public_key) for v in new.validators}


@pytest.mark.parametrize("height", [4, 6, 7])
def test_update_of_is_none_without_an_entry_at_height_plus_two(params: ChainParams, height: int) -> None:
    writes: dict[bytes, bytes | None] = {set_key(7): encode(_entry(7, 1, params.validators))}
    assert update_of(writes, height) is None


def test_update_of_ignores_a_deleted_entry(params: ChainParams) -> None:
    assert update_of({set_key(7): None}, 5) is None


def test_a_block_that_changes_no_validator_reports_no_update(chain) -> None:
    assert chain.build([]).output.validator_update is None


def _enforcing_chain(actors: Actors) -> MemoryChain:
    ca = create_org_ca("o1", now=datetime.fromtimestamp(GENESIS_TIME_MS // 1000, UTC))[1]
    genesis = msgspec.structs.replace(
        make_genesis(actors),
        orgs=[GenesisOrg(name="o1", ca_cert=ca.decode())],
        membership=GenesisMembership(enforce=True),
    )
    return start_chain(params_from_genesis(genesis))


def _bogus_evidence() -> SubmitEvidence:
    vote = Vote(chain_id=CHAIN_ID, kind=1, height=1, round=0, block_hash=b"\x00" * 32)
    sv = SignedVote(vote=vote, validator=b"\x01" * 20, signature=b"\x02" * 64)
    return SubmitEvidence(evidence=DuplicateVoteEvidence(a=sv, b=sv))


def _evidence_refusal(chain: MemoryChain, key: Key, env: BlockEnv, make_tx: TxFactory) -> str | None:
    """Run a block of one (bogus) evidence report by ``key``: the membership refusal's code, or None when the
    block is valid (the report then fails in its receipt, the evidence being bogus)."""
    tx = make_tx(key, 0, _bogus_evidence())
    try:
        out = apply_block(chain, [tx], [encode(tx)], env)
    except MembershipRefusal as exc:
        return exc.code
    assert out.receipts[0].code == ResultCode.INVALID_EVIDENCE
    return None


def test_a_member_of_the_blocks_set_reports_evidence_without_a_certificate(actors: Actors, make_tx) -> None:
    """The ``evidence.submit`` exemption is for ``set(H)`` of the executing block, read from the state (or given
    as ``BlockEnv.validators``), not for the genesis set."""
    chain = _enforcing_chain(actors)
    joiner, leaver = make_key("joiner"), chain.params.validators.validators[0]
    new = make_validator_set(
        ED25519, [*chain.params.validators.validators[1:], Validator(public_key=joiner.public, power=1, name="j")]
    )
    chain.state[set_key(2)] = encode(_entry(2, 1, new))
    chain.state[META_KEY] = encode(ValidatorsMeta(version=1, latest=2))
    t = chain.tip.time_ms + 1000
    assert _evidence_refusal(chain, joiner, BlockEnv(chain.params, 1, t), make_tx) == "unknown_certificate"
    assert _evidence_refusal(chain, joiner, BlockEnv(chain.params, 2, t), make_tx) is None
    given = BlockEnv(chain.params, 1, t, validators=new)
    assert _evidence_refusal(chain, joiner, given, make_tx) is None
    leaving = next(k for k in actors.validators if k.public == leaver.public_key)
    assert _evidence_refusal(chain, leaving, BlockEnv(chain.params, 1, t), make_tx) is None
    assert _evidence_refusal(chain, leaving, BlockEnv(chain.params, 2, t), make_tx) == "unknown_certificate"
