"""The API's JSON form of every payload (ADR 0013 section 3) stays byte-identical.

* every payload of ``tests/vectors/payloads.json`` and every transaction of ``tests/vectors/transactions.json``
  converts to the JSON recorded in ``golden_payload_json.json`` (the vectors carry the canonical form, not the
  API's JSON, so the API's JSON of those same payloads was recorded once from the hand-written classes), and
  converts back to the same core object;
* ``from_json(to_json(p)) == p`` for generated payloads of every type, also through JSON text;
* the OpenAPI document equals ``tests/shell/golden/openapi.json``;
* bad payload JSON is refused with the same texts as before (recorded in the golden file's ``errors``).

To re-record both golden files on purpose (a new module, a new route): ``python -m tests.unit.test_payload_json``
and review the diff: it may only add.
"""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import trellis
from trellis.api.openapi import openapi_document
from trellis.api.payload_json import PayloadJson, from_json, to_json
from trellis.api.types import SubmitJson, tx_from_json, tx_json
from trellis.core.codec import decode, encode
from trellis.core.errors import DecodeError
from trellis.core.ledger.tx import SignedTx
from trellis.core.modules.payload import Payload

HERE = Path(__file__).resolve().parent
VECTORS = HERE.parent / "vectors"
GOLDEN = HERE / "golden_payload_json.json"
GOLDEN_OPENAPI = HERE.parent / "shell" / "golden" / "openapi.json"

PAYLOAD_TYPES: tuple[type, ...] = typing.get_args(Payload)


def _vector_payloads() -> dict[str, Any]:
    cases = json.loads((VECTORS / "payloads.json").read_text())["cases"]
    return {c["name"]: decode(bytes.fromhex(c["payload_bytes"]), Payload) for c in cases}  # type: ignore[arg-type]


def _vector_txs() -> dict[str, SignedTx]:
    cases = json.loads((VECTORS / "transactions.json").read_text())["cases"]
    return {c["name"]: decode(bytes.fromhex(c["tx_bytes"]), SignedTx) for c in cases}


def _payload_text(p: Any) -> str:
    return msgspec.json.encode(to_json(p)).decode()


def _tx_text(tx: SignedTx) -> str:
    return msgspec.json.encode(tx_json(tx)).decode()


# -- bad payload JSON: what a client may send, and how it is refused --------------------------------------------
_TO = "0x" + "11" * 20


def _bad_payloads() -> dict[str, Any]:
    doc = "0x" + encode(_vector_payloads()["identity.did_update"].document).hex()
    return {
        "unknown type": {"type": "accounts.nope", "to": _TO, "amount": 1},
        "no type": {"to": _TO, "amount": 1},
        "type not a string": {"type": 7, "to": _TO, "amount": 1},
        "unknown field": {"type": "accounts.transfer", "to": _TO, "amount": 1, "memo": "x"},
        "missing field": {"type": "accounts.transfer", "to": _TO},
        "amount as text": {"type": "accounts.transfer", "to": _TO, "amount": "1"},
        "amount negative": {"type": "accounts.mint", "to": _TO, "amount": -1},
        "amount too large": {"type": "accounts.mint", "to": _TO, "amount": 2**64},
        "to without 0x": {"type": "accounts.transfer", "to": "11" * 20, "amount": 1},
        "to not hex": {"type": "accounts.transfer", "to": "0x" + "zz" * 20, "amount": 1},
        "to odd length": {"type": "accounts.transfer", "to": "0x123", "amount": 1},
        "to too short": {"type": "accounts.transfer", "to": "0x1122", "amount": 1},
        "to null": {"type": "accounts.transfer", "to": None, "amount": 1},
        "kv namespace bad": {"type": "kv.put", "namespace": "a b", "key": "0x01", "value": "0x"},
        "kv key empty": {"type": "kv.delete", "namespace": "ns", "key": "0x"},
        "kv value not hex": {"type": "kv.put", "namespace": "ns", "key": "0x01", "value": 5},
        "evidence not evidence": {"type": "evidence.submit", "evidence": "0x00"},
        "evidence empty": {"type": "evidence.submit", "evidence": "0x"},
        "deploy code short": {"type": "contracts.deploy", "code": "0x00"},
        "deploy admin null": {"type": "contracts.deploy", "code": "0x" + "00" * 8, "admin": None},
        "deploy admin short": {"type": "contracts.deploy", "code": "0x" + "00" * 8, "admin": "0x01"},
        "deploy gas over": {"type": "contracts.deploy", "code": "0x" + "00" * 8, "gas_limit": 2**53 + 1},
        "call method bad": {"type": "contracts.call", "contract": _TO, "method": "1x"},
        "call method missing": {"type": "contracts.call", "contract": _TO},
        "upgrade code missing": {"type": "contracts.upgrade", "contract": _TO},
        "register cert empty": {"type": "membership.register_cert", "cert": "0x"},
        "propose change garbage": {"type": "membership.propose", "change": "0xc0"},
        "propose change unknown tag": {"type": "membership.propose", "change": "0x91a3666f6f"},
        "approve id negative": {"type": "membership.approve", "proposal_id": -1},
        "approve id text": {"type": "membership.approve", "proposal_id": "1"},
        "revoke serial long": {"type": "membership.revoke", "serial": "0x" + "01" * 21},
        "did create document garbage": {"type": "identity.did_create", "document": "0x01"},
        "did create id short": {"type": "identity.did_create", "document": doc, "id": "0x01"},
        "did update did long": {"type": "identity.did_update", "did": "d" * 161, "document": doc},
        "did deactivate did int": {"type": "identity.did_deactivate", "did": 1},
        "set issuer did bad": {"type": "credentials.set_issuer", "did": "nope", "types": [], "controller": _TO},
        "set issuer types not list": {
            "type": "credentials.set_issuer",
            "did": "did:x:y",
            "types": "a",
            "controller": _TO,
        },
        "status create size": {
            "type": "credentials.status_create",
            "list_id": "l",
            "size": 131073,
            "purpose": "revocation",
            "issuer": "did:x:abc",
        },
        "status create purpose": {
            "type": "credentials.status_create",
            "list_id": "l",
            "size": 131072,
            "purpose": "other",
            "issuer": "did:x:abc",
        },
        "status set index negative": {"type": "credentials.status_set", "list_id": "l", "set_indexes": [-1]},
        "status set index text": {"type": "credentials.status_set", "list_id": "l", "clear_indexes": ["1"]},
        "anchor digest short": {"type": "notary.anchor", "digests": ["0x01"]},
        "anchor digest not hex": {"type": "notary.anchor", "digests": ["0xgg"]},
        "anchor owner long": {"type": "notary.anchor", "digests": [], "owner": "o" * 161},
        "payload not an object": ["accounts.transfer", _TO, 1],
    }


def _refusal(payload: Any) -> str:
    """How ``POST /v1/txs`` refuses a transaction with this payload JSON (the problem's detail, or "accepted")."""
    tx = msgspec.to_builtins(tx_json(next(iter(_vector_txs().values()))))
    tx["body"]["payload"] = payload
    try:
        sub = msgspec.json.decode(json.dumps({"tx": tx}).encode(), type=SubmitJson)
    except msgspec.DecodeError as exc:
        return f"malformed_json: invalid request body: {exc}"
    assert sub.tx is not None
    try:
        tx_from_json(sub.tx)
    except DecodeError as exc:
        return f"{exc.code}: {exc}"
    return "accepted"


def _record() -> dict[str, Any]:
    return {
        "payloads": {name: _payload_text(p) for name, p in _vector_payloads().items()},
        "transactions": {name: _tx_text(tx) for name, tx in _vector_txs().items()},
        "errors": {name: _refusal(p) for name, p in _bad_payloads().items()},
    }


def _golden() -> dict[str, Any]:
    result: dict[str, Any] = json.loads(GOLDEN.read_text())
    return result


# -- (a) the vectors' payloads and transactions --------------------------------------------------------------
def test_the_recorded_json_covers_the_vectors_and_every_payload_type_of_the_vectors() -> None:
    covered = {type(p) for p in _vector_payloads().values()}
    assert covered <= set(PAYLOAD_TYPES)
    recorded_tags = {json.loads(text)["type"] for text in _golden()["payloads"].values()}
    assert recorded_tags == {t.__struct_config__.tag for t in covered}  # type: ignore[attr-defined]
    assert set(_golden()["payloads"]) == set(_vector_payloads())
    assert set(_golden()["transactions"]) == set(_vector_txs())


@pytest.mark.parametrize("name", sorted(_vector_payloads()))
def test_a_vector_payload_converts_to_its_recorded_json_and_back(name: str) -> None:
    p = _vector_payloads()[name]
    text = _payload_text(p)
    assert text == _golden()["payloads"][name]
    back = msgspec.json.decode(text.encode(), type=PayloadJson)
    assert type(back) is type(to_json(p))
    assert from_json(back) == p


@pytest.mark.parametrize("name", sorted(_vector_txs()))
def test_a_vector_transaction_converts_to_its_recorded_json_and_back(name: str) -> None:
    tx = _vector_txs()[name]
    text = _tx_text(tx)
    assert text == _golden()["transactions"][name]
    sub = msgspec.json.decode(b'{"tx": ' + text.encode() + b"}", type=SubmitJson)
    assert sub.tx is not None
    assert encode(tx_from_json(sub.tx)) == encode(tx)


# -- (b) generated payloads round-trip ----------------------------------------------------------------------
def _meta(tp: Any) -> tuple[Any, dict[str, Any]]:
    """``tp`` without its ``Annotated`` layers, and the merged ``msgspec.Meta`` constraints."""
    bounds: dict[str, Any] = {}
    while typing.get_origin(tp) is typing.Annotated:
        tp, *extras = typing.get_args(tp)
        for m in extras:
            if isinstance(m, msgspec.Meta):
                for k in ("ge", "le", "min_length", "max_length", "pattern", "multiple_of"):
                    v = getattr(m, k)
                    if v is not None:
                        bounds[k] = v
    return tp, bounds


def strategy_for(tp: Any) -> st.SearchStrategy[Any]:
    """Values of a core type, within its ``msgspec.Meta`` bounds (lists and byte strings kept short)."""
    base, b = _meta(tp)
    lo, hi = b.get("min_length", 0), b.get("max_length")
    origin = typing.get_origin(base)
    if base is bytes:
        return st.binary(min_size=lo, max_size=min(hi if hi is not None else lo + 48, lo + 48))
    if base is str:
        if "pattern" in b:
            text = st.from_regex(b["pattern"], fullmatch=True)
            return text.filter(lambda s: lo <= len(s) <= (hi if hi is not None else len(s)))
        return st.text(min_size=lo, max_size=min(hi if hi is not None else lo + 24, lo + 24))
    if base is bool:
        return st.booleans()
    if base is int:
        ints = st.integers(min_value=b.get("ge", -(2**63)), max_value=b.get("le", 2**64 - 1))
        step = b.get("multiple_of")
        return ints if step is None else ints.map(lambda i: i - i % step).filter(lambda i: i >= b.get("ge", i))
    if origin is list:
        (item,) = typing.get_args(base)
        return st.lists(strategy_for(item), min_size=lo, max_size=min(hi if hi is not None else lo + 3, lo + 3))
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(st.none() if a is type(None) else strategy_for(a) for a in typing.get_args(base)))
    if isinstance(base, type) and issubclass(base, msgspec.Struct):
        hints = typing.get_type_hints(base, include_extras=True)
        return st.builds(base, **{f: strategy_for(hints[f]) for f in base.__struct_fields__})
    raise AssertionError(f"no strategy for {base!r}")


def _canonical(p: Any) -> bool:
    try:
        return bool(decode(encode(p), Payload) == p)  # type: ignore[arg-type]
    except DecodeError:
        return False


@pytest.mark.parametrize("payload_type", PAYLOAD_TYPES, ids=lambda t: t.__struct_config__.tag)
def test_a_generated_payload_round_trips_through_its_json(payload_type: type) -> None:
    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(p=strategy_for(payload_type))
    def check(p: Any) -> None:
        assume(_canonical(p))
        j = to_json(p)
        assert type(j).__struct_config__.tag == payload_type.__struct_config__.tag  # type: ignore[attr-defined]
        assert from_json(j) == p
        assert from_json(msgspec.json.decode(msgspec.json.encode(j), type=PayloadJson)) == p

    check()


# -- (c) the OpenAPI document --------------------------------------------------------------------------------
def test_the_openapi_document_is_the_recorded_one() -> None:
    golden = json.loads(GOLDEN_OPENAPI.read_text())
    golden["info"]["version"] = trellis.__version__  # a release changes only this
    assert json.loads(json.dumps(openapi_document())) == golden


# -- (d) refusals ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(_bad_payloads()))
def test_bad_payload_json_is_refused_with_the_recorded_text(name: str) -> None:
    assert _refusal(_bad_payloads()[name]) == _golden()["errors"][name]


def test_every_bad_payload_case_is_recorded() -> None:
    assert set(_golden()["errors"]) == set(_bad_payloads())


def _write_goldens() -> None:
    """Re-record both golden files (a new module adds its payloads and routes to the OpenAPI document)."""
    GOLDEN.write_text(json.dumps(_record(), indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    document = json.dumps(openapi_document(), indent=1, sort_keys=True, ensure_ascii=False)
    GOLDEN_OPENAPI.write_text(document + "\n")


if __name__ == "__main__":
    _write_goldens()
