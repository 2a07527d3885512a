"""``verify_commit``: a certificate needs distinct, sorted, valid signatures of more than 2/3 of the power."""

from __future__ import annotations

import msgspec
import pytest

from trellis.core.crypto.suite import ED25519, address_of
from trellis.core.errors import InvalidBlock
from trellis.core.ledger.block import (
    Commit,
    CommitSig,
    Header,
    Validator,
    block_hash,
    make_validator_set,
    validators_hash,
    verify_commit,
)
from trellis.core.ledger.votes import PRECOMMIT, PREVOTE, Vote, vote_signing_bytes

CHAIN = "commit-test"


@pytest.fixture
def valset(actors):
    return make_validator_set(
        ED25519, [Validator(public_key=k.public, power=1, name=k.name) for k in actors.validators]
    )


@pytest.fixture
def keys_in_set_order(actors, valset):
    by_pk = {k.public: k for k in actors.validators}
    return [by_pk[v.public_key] for v in valset.validators]


@pytest.fixture
def header(valset) -> Header:
    return Header(
        chain_id=CHAIN,
        height=7,
        time_ms=1_000,
        parent_hash=b"\x01" * 32,
        tx_root=b"\x02" * 32,
        results_root=b"\x03" * 32,
        state_root=b"\x04" * 32,
        tx_count=0,
        proposer=address_of(ED25519, valset.validators[0].public_key),
        validators_hash=validators_hash(ED25519, valset),
        next_validators_hash=validators_hash(ED25519, valset),
    )


def _sign(key, header: Header, round_: int = 0, chain_id: str = CHAIN, kind: int = PRECOMMIT) -> CommitSig:
    vote = Vote(
        chain_id=chain_id, kind=kind, height=header.height, round=round_, block_hash=block_hash(ED25519, header)
    )
    return CommitSig(validator=key.address, signature=key.sign(vote_signing_bytes(vote)))


def _commit(header: Header, sigs: list[CommitSig], round_: int = 0) -> Commit:
    return Commit(height=header.height, round=round_, block_hash=block_hash(ED25519, header), signatures=sigs)


def _verify(valset, header, commit) -> None:
    verify_commit(ED25519, CHAIN, valset, header, commit)


def _bad_commit_reason(valset, header, commit) -> str:
    with pytest.raises(InvalidBlock) as err:
        _verify(valset, header, commit)
    assert err.value.code == "bad_commit"
    return err.value.reason


def test_validator_set_is_sorted_by_address(valset) -> None:
    addresses = [address_of(ED25519, v.public_key) for v in valset.validators]
    assert addresses == sorted(addresses)


def test_commit_signed_by_every_validator_verifies(valset, keys_in_set_order, header) -> None:
    _verify(valset, header, _commit(header, [_sign(k, header) for k in keys_in_set_order]))


def test_commit_with_three_of_four_equal_validators_verifies(valset, keys_in_set_order, header) -> None:
    _verify(valset, header, _commit(header, [_sign(k, header) for k in keys_in_set_order[1:]]))


def test_commit_signed_in_a_later_round_verifies(valset, keys_in_set_order, header) -> None:
    _verify(valset, header, _commit(header, [_sign(k, header, round_=3) for k in keys_in_set_order], round_=3))


def test_commit_with_half_of_the_power_is_refused(valset, keys_in_set_order, header) -> None:
    reason = _bad_commit_reason(valset, header, _commit(header, [_sign(k, header) for k in keys_in_set_order[:2]]))
    assert "2/3" in reason


def test_commit_with_exactly_two_thirds_of_the_power_is_refused(actors, header) -> None:
    keys = actors.validators[:3]
    valset = make_validator_set(ED25519, [Validator(public_key=k.public, power=1, name=k.name) for k in keys])
    header = msgspec.structs.replace(header, validators_hash=validators_hash(ED25519, valset))
    signers = sorted(keys, key=lambda k: k.address)[:2]
    reason = _bad_commit_reason(valset, header, _commit(header, [_sign(k, header) for k in signers]))
    assert "2/3" in reason


def test_commit_power_is_weighted_by_validator_power(actors, header) -> None:
    keys = sorted(actors.validators, key=lambda k: k.address)
    powers = {keys[0].public: 10, keys[1].public: 1, keys[2].public: 1, keys[3].public: 1}
    valset = make_validator_set(ED25519, [Validator(public_key=pk, power=p, name="v") for pk, p in powers.items()])
    header = msgspec.structs.replace(header, validators_hash=validators_hash(ED25519, valset))
    _verify(valset, header, _commit(header, [_sign(keys[0], header)]))


def test_commit_with_no_signatures_is_refused(valset, header) -> None:
    _bad_commit_reason(valset, header, _commit(header, []))


def test_commit_signed_by_a_key_outside_the_set_is_refused(valset, keys_in_set_order, actors, header) -> None:
    sigs = [_sign(k, header) for k in [*keys_in_set_order, actors.alice]]
    sigs.sort(key=lambda s: s.validator)
    reason = _bad_commit_reason(valset, header, _commit(header, sigs))
    assert "not in the validator set" in reason


def test_commit_with_an_invalid_signature_is_refused(valset, keys_in_set_order, header) -> None:
    sigs = [_sign(k, header) for k in keys_in_set_order]
    sigs[1] = CommitSig(
        validator=sigs[1].validator, signature=bytes([sigs[1].signature[0] ^ 1]) + sigs[1].signature[1:]
    )
    reason = _bad_commit_reason(valset, header, _commit(header, sigs))
    assert "does not verify" in reason


def test_commit_with_signatures_over_another_round_is_refused(valset, keys_in_set_order, header) -> None:
    sigs = [_sign(k, header, round_=1) for k in keys_in_set_order]
    _bad_commit_reason(valset, header, _commit(header, sigs, round_=0))


def test_commit_with_signatures_for_another_chain_is_refused(valset, keys_in_set_order, header) -> None:
    sigs = [_sign(k, header, chain_id="other-chain") for k in keys_in_set_order]
    _bad_commit_reason(valset, header, _commit(header, sigs))


def test_commit_made_of_prevotes_is_refused(valset, keys_in_set_order, header) -> None:
    sigs = [_sign(k, header, kind=PREVOTE) for k in keys_in_set_order]
    _bad_commit_reason(valset, header, _commit(header, sigs))


def test_commit_with_a_duplicate_signer_is_refused(valset, keys_in_set_order, header) -> None:
    sigs = [_sign(k, header) for k in keys_in_set_order[2:]]
    sigs = [sigs[0], sigs[0], sigs[1]]
    reason = _bad_commit_reason(valset, header, _commit(header, sigs))
    assert "ascending" in reason


def test_commit_with_unsorted_signers_is_refused(valset, keys_in_set_order, header) -> None:
    sigs = [_sign(k, header) for k in keys_in_set_order]
    sigs[0], sigs[1] = sigs[1], sigs[0]
    reason = _bad_commit_reason(valset, header, _commit(header, sigs))
    assert "ascending" in reason


def test_commit_for_another_block_id_is_refused(valset, keys_in_set_order, header) -> None:
    commit = msgspec.structs.replace(
        _commit(header, [_sign(k, header) for k in keys_in_set_order]), block_hash=b"\x99" * 32
    )
    reason = _bad_commit_reason(valset, header, commit)
    assert "different block" in reason


def test_commit_for_another_height_is_refused(valset, keys_in_set_order, header) -> None:
    commit = msgspec.structs.replace(_commit(header, [_sign(k, header) for k in keys_in_set_order]), height=8)
    reason = _bad_commit_reason(valset, header, commit)
    assert "different block" in reason


def test_commit_against_a_header_naming_another_validator_set_is_refused(valset, keys_in_set_order, header) -> None:
    other = msgspec.structs.replace(header, validators_hash=b"\x42" * 32)
    commit = _commit(other, [_sign(k, other) for k in keys_in_set_order])
    reason = _bad_commit_reason(valset, other, commit)
    assert "validator set" in reason


# --- a bad signature anywhere is refused, whatever its signer's power -----------------------------------------

UNEQUAL_POWERS = {
    "lowest_first": [1, 5, 9, 40],
    "highest_first": [40, 9, 5, 1],
    "extremes_inside": [9, 1, 40, 5],
}
"""Voting powers by position in the certificate (ascending address). Each layout puts the lowest (1) and the
highest (40) power at a different position, so a rule that skips one position, or the lowest or highest power,
is seen at some position of some layout. Without its lowest-power signer a certificate still carries 54 of 55."""


def _unequal_set(actors, powers: list[int]):
    keys = sorted(actors.validators, key=lambda k: k.address)
    valset = make_validator_set(
        ED25519, [Validator(public_key=k.public, power=p, name=k.name) for k, p in zip(keys, powers, strict=True)]
    )
    assert [v.power for v in valset.validators] == powers  # positions are address order
    return valset, keys


def _with_bad_signature(sigs: list[CommitSig], position: int) -> list[CommitSig]:
    bad = sigs[position]
    flipped = bytes([bad.signature[-1] ^ 0x40])
    return [
        *sigs[:position],
        CommitSig(validator=bad.validator, signature=bad.signature[:-1] + flipped),
        *sigs[position + 1 :],
    ]


@pytest.mark.parametrize("layout", sorted(UNEQUAL_POWERS))
def test_commit_signed_by_every_unequal_validator_verifies(actors, header, layout) -> None:
    valset, keys = _unequal_set(actors, UNEQUAL_POWERS[layout])
    header = msgspec.structs.replace(header, validators_hash=validators_hash(ED25519, valset))
    _verify(valset, header, _commit(header, [_sign(k, header) for k in keys]))


@pytest.mark.parametrize("position", range(4))
@pytest.mark.parametrize("layout", sorted(UNEQUAL_POWERS))
def test_a_bad_signature_at_any_position_and_power_refuses_the_commit(actors, header, layout, position) -> None:
    valset, keys = _unequal_set(actors, UNEQUAL_POWERS[layout])
    header = msgspec.structs.replace(header, validators_hash=validators_hash(ED25519, valset))
    sigs = _with_bad_signature([_sign(k, header) for k in keys], position)
    reason = _bad_commit_reason(valset, header, _commit(header, sigs))
    assert reason == f"signature of validator {keys[position].address.hex()} does not verify"
