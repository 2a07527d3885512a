"""DIDs on an ``sm`` chain: SM2 keys (65 bytes, uncompressed) authenticate; the id is derived with SM3."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

import pytest

from trellis.core.crypto.sm import Sm2PrivateKey, sm2_keypair_from_secret
from trellis.core.crypto.suite import SM, address_of
from trellis.core.execution import ResultCode
from trellis.core.ledger.tx import TxBody, sign_tx
from trellis.core.modules.identity.did import derived_did_id, format_did
from trellis.core.modules.identity.messages import DidCreate, DidDocument, DidUpdate, DidVerificationMethod
from trellis.core.modules.identity.state import current_document
from trellis.core.params import Genesis, GenesisValidator, params_from_genesis

_spec = importlib.util.spec_from_file_location("_unit_conftest_for_did_sm", Path(__file__).with_name("conftest.py"))
assert _spec is not None and _spec.loader is not None
_unit = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _unit
_spec.loader.exec_module(_unit)
CHAIN_ID, GENESIS_TIME_MS, start_chain = _unit.CHAIN_ID, _unit.GENESIS_TIME_MS, _unit.start_chain


def _key(name: str) -> tuple[Sm2PrivateKey, bytes]:
    secret, public = sm2_keypair_from_secret(hashlib.sha256(name.encode()).digest())
    return Sm2PrivateKey(secret), public


VALIDATORS = [_key(f"did-sm-validator-{i}") for i in range(4)]
ALICE = _key("did-sm-alice")
BOB = _key("did-sm-bob")


@pytest.fixture
def sm_chain():  # type: ignore[no-untyped-def]
    genesis = Genesis(
        chain_id=CHAIN_ID,
        genesis_time_ms=GENESIS_TIME_MS,
        suite="sm",
        validators=[GenesisValidator(name=f"v{i}", public_key=v[1].hex(), power=1) for i, v in enumerate(VALIDATORS)],
        mint_authority=address_of(SM, ALICE[1]).hex(),
    )
    return start_chain(params_from_genesis(genesis))


def _tx(key: tuple[Sm2PrivateKey, bytes], nonce: int, payload):  # type: ignore[no-untyped-def]
    return sign_tx(TxBody(chain_id=CHAIN_ID, sender=key[1], nonce=nonce, payload=payload), key[0].sign)


def _doc(public: bytes, vm_type: str = "SM2VerificationKey2022") -> DidDocument:
    return DidDocument(
        verification_methods=[DidVerificationMethod(id="key-1", type=vm_type, public_key=public)],
        authentication=["key-1"],
    )


def test_an_sm2_key_creates_and_controls_a_did_on_an_sm_chain(sm_chain) -> None:  # type: ignore[no-untyped-def]
    out = sm_chain.execute_and_commit([_tx(ALICE, 0, DidCreate(document=_doc(ALICE[1])))]).output
    assert out.receipts[0].code == ResultCode.OK
    did_id = derived_did_id(SM, address_of(SM, ALICE[1]), 0)
    assert out.receipts[0].data == did_id
    did = format_did(CHAIN_ID, did_id)
    rotated = sm_chain.execute_and_commit([_tx(ALICE, 1, DidUpdate(did=did, document=_doc(BOB[1], "Multikey")))])
    assert rotated.output.receipts[0].code == ResultCode.OK
    assert current_document(sm_chain, did_id)[0].version_id == 2
    refused = sm_chain.execute([_tx(ALICE, 2, DidUpdate(did=did, document=_doc(ALICE[1])))])
    assert refused.receipts[0].code == ResultCode.UNAUTHORIZED


def test_an_sm2_key_with_a_wrong_length_is_an_invalid_document(sm_chain) -> None:  # type: ignore[no-untyped-def]
    out = sm_chain.execute([_tx(ALICE, 0, DidCreate(document=_doc(ALICE[1][:33])))])
    assert out.receipts[0].code == ResultCode.INVALID_DID_DOCUMENT
