"""Fuzzing the REST API: whatever arrives, the answer is never a 5xx, and every 4xx is problem JSON."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlencode

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from trellis.api.types import tx_json
from trellis.core.ledger.tx import decode_tx
from trellis.core.modules.accounts.messages import Transfer
from trellis.core.modules.kv.messages import KvPut

from .conftest import ApiHarness, Response, addr

FUZZ = settings(max_examples=150, deadline=None, database=None)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(
        ["0x", "0x00", "0x" + "ab" * 20, "0x" + "ab" * 32, "0x" + "ab" * 64, "accounts.transfer", "kv.put"]
    ),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(
            st.one_of(st.text(max_size=10), st.sampled_from(["tx", "tx_hex", "body", "signature", "payload", "type"])),
            children,
            max_size=5,
        ),
    ),
    max_leaves=20,
)


def assert_well_formed(resp: Response) -> None:
    """No server error; refusals are problem details with a code."""
    assert resp.status < 500, (resp.status, resp.body)
    if resp.status >= 400:
        assert resp.content_type == "application/problem+json", (resp.status, resp.body)
        problem = resp.json()
        assert problem["status"] == resp.status
        assert isinstance(problem["code"], str) and problem["code"]
    else:
        assert resp.content_type == "application/json"
        resp.json()


def _template(api: ApiHarness) -> dict[str, Any]:
    raw = api.tx(api.alice, Transfer(to=addr(api.bob), amount=1))
    return msgspec.to_builtins(tx_json(decode_tx(raw)))  # type: ignore[no-any-return]


def _mutate(doc: Any, path: list[int], value: Any) -> Any:
    """Replace the node that ``path`` (indices into sorted keys / list items) leads to with ``value``."""
    if not path or not isinstance(doc, dict | list) or not doc:
        return value
    if isinstance(doc, dict):
        keys = sorted(doc)
        k = keys[path[0] % len(keys)]
        return {**doc, k: _mutate(doc[k], path[1:], value)}
    i = path[0] % len(doc)
    return [*doc[:i], _mutate(doc[i], path[1:], value), *doc[i + 1 :]]


@FUZZ
@given(body=st.binary(max_size=2048))
def test_random_bytes_posted_as_a_transaction_never_give_a_server_error(api: ApiHarness, body: bytes) -> None:
    resp = api.post("/v1/txs", data=body, headers={"Content-Type": "application/octet-stream"})
    assert_well_formed(resp)
    assert resp.status >= 400


@FUZZ
@given(doc=json_values)
def test_random_json_posted_as_a_transaction_never_gives_a_server_error(api: ApiHarness, doc: Any) -> None:
    resp = api.post("/v1/txs", data=json.dumps(doc).encode(), headers={"Content-Type": "application/json"})
    assert_well_formed(resp)
    assert resp.status >= 400


@FUZZ
@given(path=st.lists(st.integers(0, 20), max_size=5), value=json_values, as_hex=st.booleans())
def test_a_transaction_with_one_json_field_mutated_never_gives_a_server_error(
    api: ApiHarness, path: list[int], value: Any, as_hex: bool
) -> None:
    tx = _mutate(_template(api), path, value)
    resp = api.post("/v1/txs", data=json.dumps({"tx": tx}).encode(), headers={"Content-Type": "application/json"})
    assert_well_formed(resp)
    if as_hex and isinstance(value, str):
        resp = api.post("/v1/txs", json={"tx_hex": value})
        assert_well_formed(resp)


@FUZZ
@given(
    value=st.binary(max_size=64),
    namespace=st.text(max_size=70),
    key=st.binary(max_size=300),
    memo=st.text(max_size=300),
)
def test_signed_transactions_with_arbitrary_field_values_never_give_a_server_error(
    api: ApiHarness, value: bytes, namespace: str, key: bytes, memo: str
) -> None:
    # Build the JSON by hand: the core constructors would refuse these values before the API saw them.
    tx = _template(api)
    tx["body"]["payload"] = {
        "type": "kv.put",
        "namespace": namespace,
        "key": "0x" + key.hex(),
        "value": "0x" + value.hex(),
    }
    tx["body"]["memo"] = memo
    resp = api.post("/v1/txs", json={"tx": tx})
    assert_well_formed(resp)
    assert resp.status >= 400  # the signature no longer matches, if nothing else


ROUTES = [
    "/v1/txs/{}",
    "/v1/blocks/{}",
    "/v1/accounts/{}",
    "/v1/accounts/{}/txs",
    "/v1/state/{}",
    "/v1/kv/{}/k",
    "/v1/kv/ns/{}",
    "/v1/{}",
]
QUERY_KEYS = ["wait", "timeout", "limit", "after", "height", "prove", "key_encoding", "x"]
segments = st.one_of(
    st.text(min_size=1, max_size=80),
    st.sampled_from(["latest", "0", "1", "-1", "00" * 20, "ab" * 32, "0x" + "ab" * 32, "²", "%", "..", "ﬀ"]),
    st.from_regex(r"(0x)?[0-9a-fA-F]{0,130}", fullmatch=True),
    st.from_regex(r"[0-9]{1,30}", fullmatch=True),
)
queries = st.dictionaries(
    st.sampled_from(QUERY_KEYS),
    st.one_of(
        st.text(max_size=20),
        st.from_regex(r"-?[0-9]{1,25}(:[0-9]{1,25})?", fullmatch=True),
        st.sampled_from(["true", "false", "hex", "utf8", "commit"]),
    ),
    max_size=3,
)


@FUZZ
@given(route=st.sampled_from(ROUTES), segment=segments, query=queries)
def test_random_path_segments_and_queries_on_get_routes_never_give_a_server_error(
    api: ApiHarness, route: str, segment: str, query: dict[str, str]
) -> None:
    query.pop("wait", None) if route.startswith("/v1/txs") else None  # a long wait is allowed to take long
    path = route.format(quote(segment, safe=""))
    if query:
        path += "?" + urlencode(query)
    assert_well_formed(api.get(path))


def test_fuzzing_left_the_committed_chain_as_its_transactions_made_it(api: ApiHarness) -> None:
    # No fuzzed request was admitted: alice's next nonce is her committed nonce and the mempool is empty.
    alice = api.get(f"/v1/accounts/0x{addr(api.alice).hex()}").json()
    assert alice["next_nonce"] == alice["nonce"]
    assert api.get("/v1/status").json()["mempool_txs"] == 0
    # and the node still commits a good transaction
    committed = api.commit(api.alice, KvPut(namespace="fuzz", key=b"k", value=b"still alive"))
    assert committed["receipt"]["code"] == 0
