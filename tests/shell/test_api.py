"""The REST API, in-process against a real node (LMDB store, single validator) on an initialised home."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from trellis.api.server import build_app
from trellis.api.types import (
    BlockJson,
    KvRecordJson,
    StateValueJson,
    header_from_json,
    proof_from_json,
    tx_json,
    unhex,
)
from trellis.core.codec import decode, encode
from trellis.core.ledger.block import Header, block_hash
from trellis.core.ledger.state_tree import StateProof, verify_state_proof
from trellis.core.ledger.tx import SignedTx, decode_tx, tx_hash
from trellis.core.modules.accounts.messages import Transfer
from trellis.core.modules.accounts.state import Account, account_key
from trellis.core.modules.contracts.messages import ContractDeploy
from trellis.core.modules.kv.messages import KvPut
from trellis.core.modules.kv.state import KvRecord, kv_key
from trellis.keys.signer import MemorySigner
from trellis.node.assembly import assemble_node
from trellis.node.home import Home, init_home

from .conftest import ApiHarness, Response, addr, make_signer, node_config, raw_tx, run

PROBLEM = "application/problem+json"


def hx(b: bytes) -> str:
    return "0x" + b.hex()


def assert_problem(resp: Response, status: int, code: str) -> dict[str, Any]:
    assert resp.status == status, (resp.status, resp.body)
    assert resp.content_type == PROBLEM
    body: dict[str, Any] = resp.json()
    assert body["code"] == code, body
    assert body["status"] == status
    assert body["detail"]
    return body


def fresh(name: str) -> MemorySigner:
    """A key that no other test uses."""
    return make_signer(f"api-test-{name}")


def transfer_to(signer: MemorySigner, amount: int = 1) -> Transfer:
    return Transfer(to=addr(signer), amount=amount)


# -- status and submission --------------------------------------------------------------------------------------------
def test_status_reports_the_chain_tip_and_validator(api: ApiHarness) -> None:
    resp = api.get("/v1/status")
    assert resp.status == 200 and resp.content_type == "application/json"
    s = resp.json()
    tip = api.node.app.info()
    assert s["chain_id"] == api.chain_id
    assert s["genesis_hash"] == hx(api.node.params.genesis_hash)
    assert s["height"] == tip.height
    assert s["state_root"] == hx(tip.state_root)
    assert s["validator_address"] == hx(api.node.validator_address)
    assert s["mempool_txs"] == 0


def test_submit_binary_with_wait_commit_returns_the_committed_receipt(api: ApiHarness) -> None:
    raw = api.tx(api.alice, transfer_to(fresh("bin"), 5))
    resp = api.submit(raw)
    assert resp.status == 200
    body = resp.json()
    assert body["status"] == "committed"
    assert body["hash"] == hx(tx_hash(api.node.params.suite, raw))
    assert body["receipt"]["code"] == 0
    assert body["receipt"]["tx_hash"] == body["hash"]
    assert body["height"] >= 1 and body["index"] == 0
    assert body["tx"] == msgspec.to_builtins(tx_json(decode_tx(raw)))


def test_submit_json_tx_with_wait_commit_returns_the_committed_receipt(api: ApiHarness) -> None:
    raw = api.tx(api.alice, transfer_to(fresh("json"), 6))
    body = msgspec.to_builtins(tx_json(decode_tx(raw)))
    resp = api.post("/v1/txs?wait=commit", json={"tx": body})
    assert resp.status == 200, resp.body
    assert resp.json()["status"] == "committed"
    assert resp.json()["hash"] == hx(tx_hash(api.node.params.suite, raw))
    assert api.node.app.account(addr(fresh("json"))).balance == 6


def test_submit_json_tx_hex_with_wait_commit_returns_the_committed_receipt(api: ApiHarness) -> None:
    raw = api.tx(api.alice, transfer_to(fresh("hex"), 7))
    resp = api.post("/v1/txs?wait=commit", json={"tx_hex": hx(raw)})
    assert resp.status == 200, resp.body
    assert resp.json()["receipt"]["code"] == 0
    assert api.node.app.account(addr(fresh("hex"))).balance == 7


def test_submit_without_wait_returns_202_pending(api: ApiHarness) -> None:
    raw = api.tx(api.alice, transfer_to(fresh("nowait")))
    resp = api.submit(raw, wait=False)
    assert resp.status == 202
    assert resp.json() == {
        "hash": hx(tx_hash(api.node.params.suite, raw)),
        "status": "pending",
        "height": None,
        "index": None,
        "receipt": None,
        "tx": None,
    }
    # a later lookup that waits sees it committed
    done = api.get(f"/v1/txs/{resp.json()['hash']}?wait=20").json()
    assert done["status"] == "committed"


def test_submit_of_a_failing_transaction_commits_with_its_failure_code(api: ApiHarness) -> None:
    poor = fresh("poor")
    resp = api.submit(api.tx(poor, transfer_to(api.alice, 10)))
    assert resp.status == 200
    assert resp.json()["receipt"]["code"] == 1
    assert "balance" in resp.json()["receipt"]["message"]


# -- transactions --------------------------------------------------------------------------------------------------------
def test_get_tx_of_a_committed_transaction_returns_receipt_events_and_content(api: ApiHarness) -> None:
    to = fresh("gettx")
    committed = api.commit(api.alice, transfer_to(to, 3))
    resp = api.get(f"/v1/txs/{committed['hash']}")
    assert resp.status == 200
    body = resp.json()
    assert body == committed
    (event,) = body["receipt"]["events"]
    assert event["type"] == "transfer" and event["attributes"]["amount"] == "3"
    assert body["tx"]["body"]["payload"] == {"type": "accounts.transfer", "to": hx(addr(to)), "amount": 3}


def test_get_tx_accepts_a_hash_without_the_0x_prefix(api: ApiHarness) -> None:
    committed = api.commit(api.alice, transfer_to(fresh("noprefix")))
    assert api.get(f"/v1/txs/{committed['hash'][2:]}").json()["status"] == "committed"


def test_get_tx_of_an_unknown_hash_is_404(api: ApiHarness) -> None:
    assert_problem(api.get(f"/v1/txs/{'ab' * 32}"), 404, "not_found")


@pytest.mark.parametrize("bad", ["xyz", "ab" * 31, "ab" * 33, "0x" + "zz" * 32, "ab" * 32 + "%0A"])
def test_get_tx_with_a_malformed_hash_is_400(api: ApiHarness, bad: str) -> None:
    assert_problem(api.get(f"/v1/txs/{bad}"), 400, "bad_hash")


def test_get_tx_with_a_bad_wait_is_400(api: ApiHarness) -> None:
    assert_problem(api.get(f"/v1/txs/{'ab' * 32}?wait=forever"), 400, "bad_parameter")
    assert_problem(api.get(f"/v1/txs/{'ab' * 32}?wait=61"), 400, "bad_parameter")


# -- blocks -----------------------------------------------------------------------------------------------------------------
def test_get_block_by_height_returns_its_transactions_and_commit(api: ApiHarness) -> None:
    committed = api.commit(api.alice, transfer_to(fresh("blk")))
    resp = api.get(f"/v1/blocks/{committed['height']}")
    assert resp.status == 200
    b = msgspec.convert(resp.json(), BlockJson)
    assert b.header.height == committed["height"]
    assert [t.hash for t in b.txs] == [committed["hash"]]
    header = decode(unhex(b.header_hex), Header)
    assert b.block_id == hx(block_hash(api.node.params.suite, header))
    assert header_from_json(b.header) == header
    assert b.commit is not None and b.commit.block_hash == b.block_id and len(b.commit.signatures) == 1


def test_get_block_by_id_returns_the_same_block_as_by_height(api: ApiHarness) -> None:
    committed = api.commit(api.alice, transfer_to(fresh("blkid")))
    by_height = api.get(f"/v1/blocks/{committed['height']}").json()
    assert api.get(f"/v1/blocks/{by_height['block_id']}").json() == by_height
    assert api.get(f"/v1/blocks/{by_height['block_id'][2:]}").json() == by_height


def test_get_block_latest_is_the_tip(api: ApiHarness) -> None:
    api.commit(api.alice, transfer_to(fresh("latest")))
    latest = api.get("/v1/blocks/latest").json()
    tip = api.node.app.info()
    assert latest["header"]["height"] == tip.height
    assert latest["block_id"] == hx(tip.block_id)


@pytest.mark.parametrize("ref", ["0", "999999", str(2**64 - 1), "ab" * 32])
def test_get_block_that_does_not_exist_is_404(api: ApiHarness, ref: str) -> None:
    assert_problem(api.get(f"/v1/blocks/{ref}"), 404, "not_found")


@pytest.mark.parametrize("ref", ["-1", "1.5", "head", "ab" * 31, "²", "\u0661", "1e3", "9" * 21, "9" * 5000])
def test_get_block_with_a_malformed_reference_is_400(api: ApiHarness, ref: str) -> None:
    assert_problem(api.get(f"/v1/blocks/{ref}"), 400, "bad_block_ref")


# -- accounts ----------------------------------------------------------------------------------------------------------------
def test_get_account_returns_balance_and_nonces(api: ApiHarness) -> None:
    payer = fresh("acct-payer")
    api.commit(api.alice, transfer_to(payer, 100))
    api.commit(payer, transfer_to(fresh("acct-payee"), 40))
    body = api.get(f"/v1/accounts/{hx(addr(payer))}").json()
    assert body["address"] == hx(addr(payer))
    assert body["balance"] == 60
    assert body["nonce"] == 1 and body["next_nonce"] == 1
    assert body["height"] == api.node.app.info().height


def test_get_account_of_a_never_used_address_is_an_empty_account(api: ApiHarness) -> None:
    body = api.get(f"/v1/accounts/{'00' * 20}").json()
    assert (body["balance"], body["nonce"], body["next_nonce"]) == (0, 0, 0)


@pytest.mark.parametrize("bad", ["xyz", "00" * 19, "00" * 21, "0x" + "gg" * 20, "00" * 20 + "%0A"])
def test_get_account_with_a_malformed_address_is_400(api: ApiHarness, bad: str) -> None:
    assert_problem(api.get(f"/v1/accounts/{bad}"), 400, "bad_address")
    assert_problem(api.get(f"/v1/accounts/{bad}/txs"), 400, "bad_address")


def test_account_history_lists_every_transaction_in_chain_order_in_pages(api: ApiHarness) -> None:
    who = fresh("history")
    hashes = [api.commit(api.alice, transfer_to(who, n + 1))["hash"] for n in range(3)]
    hashes.append(api.commit(who, transfer_to(api.bob, 1))["hash"])
    path = f"/v1/accounts/{hx(addr(who))}/txs"
    assert [t["hash"] for t in api.get(path).json()["txs"]] == hashes
    first = api.get(path + "?limit=3").json()
    assert [t["hash"] for t in first["txs"]] == hashes[:3]
    assert first["next"] == f"{first['txs'][-1]['height']}:{first['txs'][-1]['index']}"
    second = api.get(path + f"?limit=3&after={first['next']}").json()
    assert [t["hash"] for t in second["txs"]] == hashes[3:]
    assert second["next"] is None
    assert all(t["code"] == 0 for t in first["txs"] + second["txs"])


def test_account_history_of_an_unused_address_is_empty(api: ApiHarness) -> None:
    assert api.get(f"/v1/accounts/{'00' * 20}/txs").json() == {"address": "0x" + "00" * 20, "txs": [], "next": None}


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=1001",
        "limit=ten",
        "after=5",
        "after=a:b",
        "after=1:2:3",
        "after=99999999999999999999999:0",
        "after=1:99999999999",
        "after=" + "9" * 5000 + ":0",
    ],
)
def test_account_history_with_a_bad_page_parameter_is_400(api: ApiHarness, query: str) -> None:
    assert_problem(api.get(f"/v1/accounts/{'00' * 20}/txs?{query}"), 400, "bad_parameter")


# -- state and kv ------------------------------------------------------------------------------------------------------------
def _verify(api: ApiHarness, key: bytes, body: dict[str, Any]) -> tuple[bytes | None, Header]:
    parsed = msgspec.convert(body, StateValueJson)
    assert parsed.proof is not None and parsed.header is not None
    proof = proof_from_json(parsed.proof)
    header = header_from_json(parsed.header)
    assert parsed.proof_hex is not None and decode(unhex(parsed.proof_hex), StateProof) == proof
    assert parsed.header_hex is not None and decode(unhex(parsed.header_hex), Header) == header
    value = None if parsed.value is None else unhex(parsed.value)
    verify_state_proof(api.node.params.suite, key, value, proof, header)
    return value, header


def test_get_state_returns_the_raw_value(api: ApiHarness) -> None:
    who = fresh("state")
    api.commit(api.alice, transfer_to(who, 11))
    key = account_key(addr(who))
    body = api.get(f"/v1/state/{hx(key)}").json()
    assert body["key"] == hx(key)
    assert decode(unhex(body["value"]), Account) == Account(balance=11, nonce=0)
    assert body["proof"] is None and body["header"] is None


def test_get_state_with_prove_verifies_with_the_core_verifier(api: ApiHarness) -> None:
    who = fresh("prove")
    api.commit(api.alice, transfer_to(who, 12))
    key = account_key(addr(who))
    value, header = _verify(api, key, api.get(f"/v1/state/{hx(key)}?prove=true").json())
    assert value is not None and decode(value, Account).balance == 12
    assert header.height == api.node.app.info().height


def test_get_state_at_an_older_height_returns_and_proves_the_older_value(api: ApiHarness) -> None:
    who = fresh("older")
    first = api.commit(api.alice, transfer_to(who, 1))
    api.commit(api.alice, transfer_to(who, 1))
    key = account_key(addr(who))
    old = api.get(f"/v1/state/{hx(key)}?height={first['height']}").json()
    assert old["height"] == first["height"]
    assert decode(unhex(old["value"]), Account).balance == 1
    value, header = _verify(api, key, api.get(f"/v1/state/{hx(key)}?prove=1&height={first['height']}").json())
    assert header.height == first["height"]
    assert value is not None and decode(value, Account).balance == 1
    assert decode(unhex(api.get(f"/v1/state/{hx(key)}").json()["value"]), Account).balance == 2


def test_get_state_of_an_absent_key_proves_non_inclusion(api: ApiHarness) -> None:
    api.commit(api.alice, transfer_to(fresh("absent-anchor")))
    key = b"no/such/key"
    value, _ = _verify(api, key, api.get(f"/v1/state/{hx(key)}?prove=true").json())
    assert value is None


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("height=999999", 404, "not_found"),
        ("height=-1", 400, "bad_parameter"),
        ("prove=maybe", 400, "bad_parameter"),
        ("prove=true&height=0", 404, "not_found"),
        ("height=x", 400, "bad_parameter"),
    ],
)
def test_get_state_with_a_bad_query_is_refused(api: ApiHarness, query: str, status: int, code: str) -> None:
    assert_problem(api.get(f"/v1/state/{hx(b'acct/x')}?{query}"), status, code)


@pytest.mark.parametrize("key", ["0xzz", "abc", "0x", "0x" + "00" * 1025])
def test_get_state_with_a_bad_key_is_400(api: ApiHarness, key: str) -> None:
    assert_problem(api.get(f"/v1/state/{key}"), 400, "bad_key")


def test_get_state_of_the_longest_key_is_answered(api: ApiHarness) -> None:
    body = api.get(f"/v1/state/0x{'00' * 1024}").json()
    assert body["value"] is None


def test_get_kv_returns_the_record_owner_and_value(api: ApiHarness) -> None:
    api.commit(api.alice, KvPut(namespace="api-ns", key=b"greeting", value=b"hello"))
    body = api.get("/v1/kv/api-ns/greeting").json()
    assert body["owner"] == hx(addr(api.alice))
    assert body["value"] == hx(b"hello")
    assert body["key"] == hx(b"greeting")


def test_get_kv_with_a_hex_key(api: ApiHarness) -> None:
    api.commit(api.alice, KvPut(namespace="api-ns", key=b"\x00\xff", value=b"bin"))
    assert api.get("/v1/kv/api-ns/0x00ff?key_encoding=hex").json()["value"] == hx(b"bin")


def test_get_kv_with_prove_verifies_against_the_header(api: ApiHarness) -> None:
    api.commit(api.alice, KvPut(namespace="api-ns", key=b"proved", value=b"v"))
    parsed = msgspec.convert(api.get("/v1/kv/api-ns/proved?prove=true").json(), KvRecordJson)
    assert parsed.proof is not None and parsed.header is not None
    proof, header = proof_from_json(parsed.proof), header_from_json(parsed.header)
    assert parsed.height == header.height
    state_key = kv_key("api-ns", b"proved")
    raw = api.node.app.reader(header.height).get(state_key)
    assert raw is not None and decode(raw, KvRecord).value == b"v"
    verify_state_proof(api.node.params.suite, state_key, raw, proof, header)


def test_get_kv_of_an_absent_record_has_no_owner_or_value(api: ApiHarness) -> None:
    body = api.get("/v1/kv/api-ns/never-written").json()
    assert body["owner"] is None and body["value"] is None


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/v1/kv/bad%20ns/k", "bad_namespace"),
        ("/v1/kv/" + "n" * 65 + "/k", "bad_namespace"),
        ("/v1/kv/ns/" + "k" * 257, "bad_key"),
        ("/v1/kv/ns/0xzz?key_encoding=hex", "bad_key"),
        ("/v1/kv/ns/0x?key_encoding=hex", "bad_key"),
        ("/v1/kv/ns/k?key_encoding=base64", "bad_parameter"),
    ],
)
def test_get_kv_with_a_bad_namespace_or_key_is_400(api: ApiHarness, path: str, code: str) -> None:
    assert_problem(api.get(path), 400, code)


# -- refused submissions ---------------------------------------------------------------------------------------------------
def _snapshot(api: ApiHarness) -> tuple[Any, ...]:
    status = api.get("/v1/status").json()
    return (
        status["state_root"],
        status["mempool_txs"],
        api.get(f"/v1/accounts/{hx(addr(api.alice))}").json()["nonce"],
        api.get(f"/v1/accounts/{hx(addr(api.alice))}").json()["balance"],
        api.get(f"/v1/accounts/{hx(addr(api.bob))}").json()["balance"],
    )


def _octets(raw: bytes) -> dict[str, Any]:
    return {"data": raw, "headers": {"Content-Type": "application/octet-stream"}}


def _forged(api: ApiHarness) -> bytes:
    tx = decode(api.tx(api.alice, transfer_to(api.bob)), SignedTx)
    return encode(msgspec.structs.replace(tx, signature=bytes(64)))


REFUSALS: dict[str, tuple[Callable[[ApiHarness], dict[str, Any]], int, str]] = {
    "malformed JSON": (
        lambda a: {"data": b"{not json", "headers": {"Content-Type": "application/json"}},
        400,
        "malformed_json",
    ),
    "JSON of the wrong shape": (lambda a: {"json": ["tx"]}, 400, "malformed_json"),
    "unknown JSON field": (
        lambda a: {"json": {"tx_hex": hx(a.tx(a.alice, transfer_to(a.bob))), "fee": 1}},
        400,
        "malformed_json",
    ),
    "unknown field inside tx": (
        lambda a: {
            "json": {"tx": {**msgspec.to_builtins(tx_json(decode_tx(a.tx(a.alice, transfer_to(a.bob))))), "x": 1}}
        },
        400,
        "malformed_json",
    ),
    "both tx and tx_hex": (
        lambda a: {
            "json": {
                "tx": msgspec.to_builtins(tx_json(decode_tx(a.tx(a.alice, transfer_to(a.bob))))),
                "tx_hex": hx(a.tx(a.alice, transfer_to(a.bob))),
            }
        },
        400,
        "malformed_json",
    ),
    "neither tx nor tx_hex": (lambda a: {"json": {}}, 400, "malformed_json"),
    "tx_hex not hex": (lambda a: {"json": {"tx_hex": "0xnothex"}}, 400, "malformed_json"),
    "tx with a bad field": (
        lambda a: {
            "json": {
                "tx": {
                    **msgspec.to_builtins(tx_json(decode_tx(a.tx(a.alice, transfer_to(a.bob))))),
                    "signature": "0x00",
                }
            }
        },
        400,
        "malformed",
    ),
    "garbage bytes": (lambda a: _octets(b"\x93garbage"), 400, "malformed"),
    "empty body": (lambda a: _octets(b""), 400, "malformed"),
    "wrong chain id": (
        lambda a: _octets(a.tx(a.alice, transfer_to(a.bob), chain_id="other-chain")),
        400,
        "wrong_chain_id",
    ),
    "bad signature": (lambda a: _octets(_forged(a)), 400, "bad_signature"),
    "replayed nonce": (
        lambda a: _octets(a.tx(a.alice, transfer_to(a.bob), nonce=a.next_nonce(a.alice) - 1)),
        400,
        "nonce_replayed",
    ),
    "gapped nonce": (
        lambda a: _octets(a.tx(a.alice, transfer_to(a.bob), nonce=a.next_nonce(a.alice) + 1)),
        400,
        "nonce_gap",
    ),
    "oversized tx": (
        lambda a: _octets(a.tx(a.alice, ContractDeploy(code=b"\x00asm" + b"x" * 60_000, args=b"y" * 10_000))),
        413,
        "too_large",
    ),
    "body over max_body_bytes": (
        lambda a: _octets(b"\x00" * (a.node.config.api.max_body_bytes + 1)),
        413,
        "body_too_large",
    ),
    "unsupported content type": (
        lambda a: {"data": a.tx(a.alice, transfer_to(a.bob)), "headers": {"Content-Type": "text/plain"}},
        415,
        "unsupported_media_type",
    ),
    "bad wait parameter": (
        lambda a: {**_octets(a.tx(a.alice, transfer_to(a.bob))), "params": {"wait": "soon"}},
        400,
        "bad_parameter",
    ),
    "bad timeout parameter": (
        lambda a: {**_octets(a.tx(a.alice, transfer_to(a.bob))), "params": {"wait": "commit", "timeout": "0"}},
        400,
        "bad_parameter",
    ),
}


@pytest.fixture
def anchored(api: ApiHarness) -> Iterator[ApiHarness]:
    """The node after at least one committed alice transaction (so a replayed nonce exists)."""
    if api.next_nonce(api.alice) == 0:
        api.commit(api.alice, transfer_to(fresh("anchor")))
    yield api


@pytest.mark.parametrize("case", list(REFUSALS))
def test_a_refused_submission_is_problem_json_and_changes_nothing(anchored: ApiHarness, case: str) -> None:
    api = anchored
    make, status, code = REFUSALS[case]
    before = _snapshot(api)
    assert_problem(api.post("/v1/txs", **make(api)), status, code)
    assert _snapshot(api) == before


def test_resubmitting_a_committed_transaction_is_409_duplicate_and_changes_nothing(api: ApiHarness) -> None:
    raw = api.tx(api.alice, transfer_to(fresh("dup")))
    assert api.submit(raw).status == 200
    before = _snapshot(api)
    assert_problem(api.submit(raw), 409, "duplicate")
    assert _snapshot(api) == before


def test_a_refused_field_is_named_in_the_problem_detail(api: ApiHarness) -> None:
    body = assert_problem(api.post("/v1/txs", json={"tx_hex": "0x00", "fee": 1}), 400, "malformed_json")
    assert "fee" in body["detail"]


# -- routing and the OpenAPI document -------------------------------------------------------------------------------------------
def test_an_unknown_route_is_a_404_problem(api: ApiHarness) -> None:
    assert_problem(api.get("/v1/nothing-here"), 404, "not_found")
    assert_problem(api.get("/"), 404, "not_found")


def test_a_wrong_method_is_a_405_problem(api: ApiHarness) -> None:
    assert_problem(api.request("DELETE", "/v1/status"), 405, "method_not_allowed")
    assert_problem(api.get("/v1/txs"), 405, "method_not_allowed")


def test_openapi_document_is_openapi_3_1_and_lists_every_route(api: ApiHarness) -> None:
    resp = api.get("/openapi.json")
    assert resp.status == 200
    doc = resp.json()
    assert doc["openapi"] == "3.1.0"
    assert doc["info"]["title"] and doc["info"]["version"]
    routes = {
        (r.resource.canonical, r.method.lower())
        for r in build_app(api.node).router.routes()
        if r.resource is not None and r.method != "HEAD"
    }
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert routes <= documented
    assert documented <= routes


def test_openapi_document_references_only_defined_schemas(api: ApiHarness) -> None:
    doc = api.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "$ref":
                    refs.append(v)
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    assert refs
    for ref in refs:
        assert ref.startswith("#/components/schemas/")
        assert ref.rsplit("/", 1)[1] in schemas


def test_openapi_path_parameters_match_the_route_templates(api: ApiHarness) -> None:
    doc = api.get("/openapi.json").json()
    for path, ops in doc["paths"].items():
        names = {seg[1:-1] for seg in path.split("/") if seg.startswith("{")}
        for op in ops.values():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == names, path


# -- a node that holds transactions pending ---------------------------------------------------------------------------------
@pytest.fixture
def slow_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiHarness]:
    """A node whose next block is a minute away: submitted transactions stay pending."""
    harness = ApiHarness(tmp_path_factory.mktemp("slow-home"), node_config(block_interval_ms=60_000))
    try:
        yield harness
    finally:
        harness.close()


def test_a_pending_transaction_is_reported_pending_and_counted_in_next_nonce(slow_api: ApiHarness) -> None:
    api = slow_api
    resp = api.submit(api.tx(api.alice, transfer_to(fresh("pending"))), wait=False)
    assert resp.status == 202
    h = resp.json()["hash"]
    assert api.get(f"/v1/txs/{h}").json() == {
        "hash": h,
        "status": "pending",
        "height": None,
        "index": None,
        "receipt": None,
        "tx": None,
    }
    acct = api.get(f"/v1/accounts/{hx(addr(api.alice))}").json()
    assert (acct["nonce"], acct["next_nonce"]) == (0, 1)
    assert api.get("/v1/status").json()["mempool_txs"] == 1
    # the next transaction of the same sender takes the next nonce after the pending one
    assert api.submit(api.tx(api.alice, transfer_to(fresh("pending")), nonce=1), wait=False).status == 202
    replay = api.tx(api.alice, transfer_to(fresh("pending"), 2), nonce=1)
    assert_problem(api.submit(replay, wait=False), 400, "nonce_replayed")


def test_submit_waiting_past_its_timeout_returns_202_pending(slow_api: ApiHarness) -> None:
    api = slow_api
    raw = api.tx(api.alice, transfer_to(fresh("timeout")))
    resp = api.post("/v1/txs?wait=commit&timeout=1", data=raw, headers={"Content-Type": "application/octet-stream"})
    assert resp.status == 202
    assert resp.json()["status"] == "pending"


def test_a_node_waiting_out_its_block_interval_stops_promptly(slow_api: ApiHarness) -> None:
    api = slow_api
    assert api.submit(api.tx(api.alice, transfer_to(fresh("stop"))), wait=False).status == 202
    api.runner.run(api.node.stop(), timeout=5)


# -- the node service behind the API ---------------------------------------------------------------------------------------
def test_node_notifies_block_subscribers_and_waiters_of_a_commit(tmp_path: Path) -> None:
    init_home(tmp_path)
    node = assemble_node(tmp_path, node_config())
    alice = Home(tmp_path).keys.signer("alice")

    async def scenario() -> None:
        await node.start()
        try:
            q = node.subscribe_blocks()
            checked = node.submit(raw_tx(alice, 0, transfer_to(fresh("sub")), chain_id=node.params.chain_id))
            status = await node.wait_committed(checked.hash, 20)
            assert status.state == "committed" and status.receipt is not None and status.receipt.code == 0
            executed = await asyncio.wait_for(q.get(), 20)
            while checked.hash not in executed.output.tx_hashes:
                executed = await asyncio.wait_for(q.get(), 20)
            assert executed.block.header.height == status.height
            node.unsubscribe(q)
        finally:
            await node.stop()

    try:
        run(scenario())
    finally:
        node.close()


def test_node_wait_committed_of_an_unknown_transaction_returns_unknown_at_once(tmp_path: Path) -> None:
    init_home(tmp_path)
    node = assemble_node(tmp_path, node_config())
    try:
        assert run(node.wait_committed(b"\x00" * 32, 60), timeout=5).state == "unknown"
    finally:
        node.close()


def test_a_restarted_node_resumes_from_its_committed_tip(tmp_path: Path) -> None:
    harness = ApiHarness(tmp_path, node_config())
    try:
        committed = harness.commit(harness.alice, transfer_to(fresh("restart"), 4))
        tip = harness.node.app.info()
    finally:
        harness.close()
    node = assemble_node(tmp_path, node_config())
    try:
        assert node.app.info() == tip
        assert node.tx_status(unhex(committed["hash"])).state == "committed"
        assert node.app.account(addr(fresh("restart"))).balance == 4
        assert node.mempool.next_nonce(addr(harness.alice)) == 1
    finally:
        node.close()


def test_the_batch_store_bounds_come_from_the_p2p_config(tmp_path: Path) -> None:
    cfg = node_config()
    cfg = msgspec.structs.replace(
        cfg, p2p=msgspec.structs.replace(cfg.p2p, batch_store_max_batches=64, batch_store_max_bytes=2 * 1024 * 1024)
    )
    harness = ApiHarness(tmp_path, cfg)
    try:
        assert harness.node.driver is not None
        store = harness.node.driver.batches
        assert (store.max_batches, store.max_bytes) == (64, 2 * 1024 * 1024)
    finally:
        harness.close()
