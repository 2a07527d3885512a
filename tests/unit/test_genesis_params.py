"""Genesis parsing and the chain parameters derived from it (trellis/core/params.py)."""

from __future__ import annotations

import json

import pytest

from trellis.core.crypto.suite import ED25519, address_of
from trellis.core.errors import DecodeError
from trellis.core.params import InvalidGenesis, load_genesis


@pytest.fixture
def genesis_doc(actors) -> dict:
    return {
        "chain_id": "genesis-test",
        "genesis_time_ms": 1_000,
        "validators": [{"name": v.name, "public_key": v.public.hex(), "power": 1} for v in actors.validators],
        "mint_authority": actors.mint.address.hex(),
        "accounts": [{"address": actors.alice.address.hex(), "balance": 5}],
    }


def _load(doc: dict):
    return load_genesis(json.dumps(doc).encode())


def test_genesis_validators_are_sorted_by_address(genesis_doc) -> None:
    params = _load(genesis_doc)
    addresses = [address_of(ED25519, v.public_key) for v in params.validators.validators]
    assert addresses == sorted(addresses)


def test_genesis_hash_changes_with_any_field(genesis_doc) -> None:
    other = dict(genesis_doc, genesis_time_ms=1_001)
    assert _load(genesis_doc).genesis_hash != _load(other).genesis_hash


def test_genesis_with_a_duplicate_validator_key_is_refused(genesis_doc) -> None:
    genesis_doc["validators"].append(dict(genesis_doc["validators"][0], name="copy"))
    with pytest.raises(InvalidGenesis):
        _load(genesis_doc)


def test_genesis_with_a_duplicate_account_is_refused(genesis_doc) -> None:
    genesis_doc["accounts"].append(dict(genesis_doc["accounts"][0]))
    with pytest.raises(InvalidGenesis):
        _load(genesis_doc)


def test_genesis_with_an_unknown_suite_is_refused(genesis_doc) -> None:
    with pytest.raises(InvalidGenesis):
        _load(dict(genesis_doc, suite="rot13"))


def test_genesis_with_an_unknown_field_is_refused(genesis_doc) -> None:
    with pytest.raises(DecodeError):
        _load(dict(genesis_doc, surprise=1))


def test_genesis_address_with_a_trailing_newline_is_refused(genesis_doc) -> None:
    with pytest.raises(DecodeError):
        _load(dict(genesis_doc, mint_authority=genesis_doc["mint_authority"] + "\n"))


def test_genesis_chain_id_with_a_trailing_newline_is_refused(genesis_doc) -> None:
    with pytest.raises(DecodeError):
        _load(dict(genesis_doc, chain_id="genesis-test\n"))


def test_genesis_that_is_not_utf8_is_refused_as_a_decode_error() -> None:
    with pytest.raises(DecodeError):
        load_genesis(b'{"chain_id": "\xc3\x28"}')
