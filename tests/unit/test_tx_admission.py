"""Stateless transaction checks at the boundary: decoding, chain id, key size, signature."""

from __future__ import annotations

import msgspec
import pytest

from trellis.core import codec
from trellis.core.crypto.suite import ED25519
from trellis.core.errors import DecodeError, InvalidTransaction
from trellis.core.ledger.tx import (
    SignedTx,
    TxBody,
    check_tx_stateless,
    decode_tx,
    signing_bytes,
    tx_hash,
    verify_tx_signature,
)
from trellis.core.modules.accounts.messages import Transfer

CHAIN = "unit-test-chain"


@pytest.fixture
def tx(actors, make_tx) -> SignedTx:
    return make_tx(actors.alice, 0, Transfer(to=actors.bob.address, amount=5), chain_id=CHAIN)


def _generic(tx: SignedTx) -> list:
    return msgspec.msgpack.decode(codec.encode(tx))


def _code(data: bytes) -> str:
    with pytest.raises(InvalidTransaction) as err:
        decode_tx(data)
    return err.value.code


def test_decode_tx_returns_the_transaction_of_its_canonical_bytes(tx) -> None:
    assert decode_tx(codec.encode(tx)) == tx


def test_decode_tx_reports_an_unknown_payload_tag_as_unknown_module(tx) -> None:
    tree = _generic(tx)
    tree[0][3][0] = "accounts.burn"
    assert _code(msgspec.msgpack.encode(tree)) == "unknown_module"


def test_decode_tx_reports_a_payload_with_missing_fields_as_malformed(tx) -> None:
    tree = _generic(tx)
    tree[0][3] = tree[0][3][:2]
    assert _code(msgspec.msgpack.encode(tree)) == "malformed"


def test_decode_tx_reports_non_canonical_bytes_as_malformed(tx) -> None:
    tree = _generic(tx)
    body = msgspec.msgpack.encode(tree[0]).replace(b"\x00\x93", b"\xcc\x00\x93", 1)  # nonce 0 as uint8
    data = b"\x92" + body + msgspec.msgpack.encode(tree[1])
    assert msgspec.msgpack.decode(data, type=SignedTx) == tx
    assert _code(data) == "malformed"


def test_decode_tx_reports_invalid_utf8_as_malformed(tx) -> None:
    data = codec.encode(tx).replace(b"\xafunit-test-chain", b"\xafunit-test-cha\xc3\x28", 1)
    assert _code(data) == "malformed"


def test_decode_tx_refuses_bytes_over_the_limit_as_too_large(tx) -> None:
    data = codec.encode(tx)
    with pytest.raises(InvalidTransaction) as err:
        decode_tx(data, max_size=len(data) - 1)
    assert err.value.code == "too_large"


def test_codec_decode_reports_invalid_utf8_as_decode_error() -> None:
    with pytest.raises(DecodeError):
        codec.decode(b"\xa2\xc3\x28", str)


def test_transaction_for_another_chain_fails_the_stateless_check(tx) -> None:
    with pytest.raises(InvalidTransaction) as err:
        check_tx_stateless(ED25519, tx, "another-chain")
    assert err.value.code == "wrong_chain_id"


def test_sender_key_of_the_wrong_size_for_the_suite_fails_the_stateless_check(tx) -> None:
    body = msgspec.structs.replace(tx.body, sender=b"\x01" * 33)
    with pytest.raises(InvalidTransaction) as err:
        check_tx_stateless(ED25519, SignedTx(body=body, signature=tx.signature), CHAIN)
    assert err.value.code == "malformed"


def test_signature_by_the_sender_verifies(tx) -> None:
    check_tx_stateless(ED25519, tx, CHAIN)
    verify_tx_signature(ED25519, tx)


def test_signature_over_a_changed_body_fails_with_bad_signature(tx) -> None:
    body = msgspec.structs.replace(tx.body, nonce=1)
    with pytest.raises(InvalidTransaction) as err:
        verify_tx_signature(ED25519, SignedTx(body=body, signature=tx.signature))
    assert err.value.code == "bad_signature"


def test_signature_by_another_key_fails_with_bad_signature(tx, actors) -> None:
    forged = SignedTx(body=tx.body, signature=actors.bob.sign(signing_bytes(tx.body)))
    with pytest.raises(InvalidTransaction) as err:
        verify_tx_signature(ED25519, forged)
    assert err.value.code == "bad_signature"


def test_signing_bytes_are_the_domain_prefix_and_the_canonical_body(tx) -> None:
    assert signing_bytes(tx.body) == b"\x12trellis/tx-sign/v1" + codec.encode(tx.body)


def test_tx_hash_differs_from_the_hash_of_the_same_bytes_under_another_domain(tx) -> None:
    raw = codec.encode(tx)
    assert tx_hash(ED25519, raw) != ED25519.tagged_hash(b"trellis/header/v1", raw)


def test_body_encoding_always_carries_the_default_memo(tx) -> None:
    assert isinstance(tx.body, TxBody)
    assert codec.encode(tx.body).endswith(b"\xa0")
