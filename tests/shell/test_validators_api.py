"""The validator-set read side and routes (ADR 0014 sections 4 and 6, docs/spec/api-json.md).

The set change is made by governance (WP 2): genesis has one validator, ``v0`` (power 3), owned by ``org1``, whose
admin ``alice`` registers her certificate in block 1 and proposes ``validators.add`` of a newcomer (power 1, the
most a step may change: 3 * 1 <= 3) in block 2; with an admin threshold of 1 it applies in block 2, so the new set
signs from height 4. Headers 3 and 4 are built by the application from that state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.fixtures.governance import fixed_ca
from trellis.abci import UnknownHeight
from trellis.api.openapi import openapi_document
from trellis.api.server import problem_middleware
from trellis.api.validators import routes
from trellis.app.application import TrellisApp
from trellis.core.codec import decode
from trellis.core.crypto.suite import ED25519, address_of
from trellis.core.errors import InvalidTransaction
from trellis.core.execution.block import ExecutedBlock
from trellis.core.ledger.block import (
    Commit,
    Header,
    Validator,
    ValidatorSet,
    make_validator_set,
    validators_hash,
    verify_commit,
)
from trellis.core.ledger.votes import DuplicateVoteEvidence, SignedVote, Vote
from trellis.core.lightclient import LightClientError, SetChange, verify_from_genesis
from trellis.core.modules.evidence.messages import SubmitEvidence
from trellis.core.modules.membership.messages import ProposeMembership, RegisterCert
from trellis.core.modules.validators.messages import AddValidator
from trellis.core.modules.validators.state import ValidatorUpdate
from trellis.core.params import (
    ChainParams,
    Genesis,
    GenesisAccount,
    GenesisMembership,
    GenesisOrg,
    GenesisValidator,
    params_from_genesis,
)

from .conftest import (
    CHAIN_ID,
    GENESIS_TIME_MS,
    Actors,
    ApiHarness,
    AppChain,
    addr,
    make_app_chain,
    make_signer,
    raw_tx,
    run,
)

NEWCOMER = make_signer("validators-api-newcomer")
ORG = "org1"
CHANGE_BLOCK = 2
EFFECTIVE = CHANGE_BLOCK + 2


@dataclass
class FakeNode:
    """What the validator routes use of a node: its application."""

    app: TrellisApp


@pytest.fixture
def gov_params(actors: Actors) -> ChainParams:
    """One validator of power 3 owned by org1 (the only org, threshold 1); alice funded."""
    return make_gov_params(actors)


def make_gov_params(actors: Actors, *, enforce: bool = False) -> ChainParams:
    """The governance chain's parameters; ``enforce``: every sender needs a certificate."""
    genesis = Genesis(
        chain_id=CHAIN_ID,
        genesis_time_ms=GENESIS_TIME_MS,
        validators=[GenesisValidator(name="v0", public_key=actors.validator.public_key.hex(), power=3, org=ORG)],
        mint_authority=addr(actors.alice).hex(),
        accounts=[GenesisAccount(address=addr(actors.alice).hex(), balance=1000)],
        orgs=[GenesisOrg(name=ORG, ca_cert=fixed_ca(ORG).pem)],
        membership=GenesisMembership(enforce=enforce, admin_threshold=1),
    )
    return params_from_genesis(genesis)


def new_set(params: ChainParams) -> ValidatorSet:
    """The set of the change: the genesis validator, and the newcomer with power 1."""
    v0 = params.validators.validators[0]
    return make_validator_set(ED25519, [v0, Validator(public_key=NEWCOMER.public_key, power=1, name="newcomer")])


def start_with_pending_change(params: ChainParams, actors: Actors) -> tuple[AppChain, ExecutedBlock]:
    """Blocks 1 (alice registers as org1's admin) and 2 (she proposes adding the newcomer: applied at once)."""
    chain = make_app_chain(params, actors)
    cert = fixed_ca(ORG).issue(actors.alice.public_key, "admin", "alice")
    chain.commit_txs([raw_tx(actors.alice, 0, RegisterCert(cert=cert))])
    add = AddValidator(public_key=NEWCOMER.public_key, power=1, name="newcomer", org=ORG)
    executed = chain.commit_txs([raw_tx(actors.alice, 1, ProposeMembership(change=add))])
    assert [r.code for r in executed.output.receipts] == [0], executed.output.receipts
    return chain, executed


@pytest.fixture
def changed(gov_params: ChainParams, actors: Actors) -> AppChain:
    """A chain at height 4 whose block 2 applied a change effective from height 4."""
    chain, _ = start_with_pending_change(gov_params, actors)
    chain.commit_txs([])
    chain.commit_txs([])
    assert chain.app.info().height == 4
    return chain


async def _get_all(app: TrellisApp, paths: list[str]) -> list[tuple[int, Any]]:
    web_app = web.Application(middlewares=[problem_middleware])
    web_app.add_routes(routes(FakeNode(app)))  # type: ignore[arg-type]
    async with TestClient(TestServer(web_app)) as client:
        out = []
        for path in paths:
            resp = await client.get(path)
            out.append((resp.status, await resp.json(content_type=None)))
        return out


def get(app: TrellisApp, *paths: str) -> list[tuple[int, Any]]:
    """GET each path from the validator routes over ``app``: (status, JSON body) per path."""
    return run(_get_all(app, list(paths)))


# -- the application's read side --------------------------------------------------------------------------------
def test_validator_set_is_genesis_until_the_effective_height_then_the_new_set(changed: AppChain) -> None:
    app = changed.app
    genesis = app.params.validators
    vs = new_set(app.params)
    assert [app.validator_set(h) for h in (1, 2, 3)] == [genesis] * 3
    assert [app.validator_set(h) for h in (4, 5, 6)] == [vs] * 3


def test_validator_set_is_known_from_1_to_tip_plus_2_only(changed: AppChain) -> None:
    tip = changed.app.info().height
    changed.app.validator_set(tip + 2)
    for height in (0, -1, tip + 3):
        with pytest.raises(UnknownHeight):
            changed.app.validator_set(height)


def test_validator_entries_are_genesis_first_ascending(changed: AppChain) -> None:
    entries = changed.app.validator_entries()
    assert [e.effective_height for e in entries] == [1, EFFECTIVE]
    assert entries[0].validators == changed.app.params.validators
    assert entries[1].validators == new_set(changed.app.params)


def test_a_pending_change_is_known_before_it_takes_effect(gov_params: ChainParams, actors: Actors) -> None:
    chain, _ = start_with_pending_change(gov_params, actors)  # tip 2: set(4) is decided, set(3) is still genesis
    assert chain.app.validator_set(3) == gov_params.validators
    assert chain.app.validator_set(4) == new_set(gov_params)
    assert [e.effective_height for e in chain.app.validator_entries()] == [1, 4]


def test_validator_changes_prove_each_new_set_with_the_header_before_it(changed: AppChain) -> None:
    app = changed.app
    assert app.validator_changes(EFFECTIVE - 1) == []
    (change,) = app.validator_changes(EFFECTIVE)
    assert change.header == app.header(EFFECTIVE - 1)
    assert change.next_validators == new_set(app.params)
    assert change.header.next_validators_hash == validators_hash(ED25519, change.next_validators)
    verify_commit(ED25519, app.params.chain_id, app.params.validators, change.header, change.commit)
    assert app.header(EFFECTIVE).validators_hash == validators_hash(ED25519, change.next_validators)


def test_validator_changes_are_known_up_to_tip_plus_1(changed: AppChain) -> None:
    tip = changed.app.info().height
    assert len(changed.app.validator_changes(tip + 1)) == 1
    for height in (0, tip + 2):
        with pytest.raises(UnknownHeight):
            changed.app.validator_changes(height)


def test_finalize_block_hands_the_change_to_the_shell_as_data(gov_params: ChainParams, actors: Actors) -> None:
    chain, executed = start_with_pending_change(gov_params, actors)
    assert executed.output.validator_update == ValidatorUpdate(
        effective_height=EFFECTIVE, validators=new_set(gov_params)
    )
    quiet = chain.build([])
    assert chain.app.finalize_block(quiet.block).output.validator_update is None


def test_admission_exempts_evidence_reports_of_the_next_blocks_set_only(actors: Actors) -> None:
    chain, _ = start_with_pending_change(make_gov_params(actors, enforce=True), actors)
    vote = Vote(chain_id=CHAIN_ID, kind=1, height=1, round=0, block_hash=b"\x00" * 32)
    sv = SignedVote(vote=vote, validator=b"\x01" * 20, signature=b"\x02" * 64)
    report = raw_tx(NEWCOMER, 0, SubmitEvidence(evidence=DuplicateVoteEvidence(a=sv, b=sv)))
    # tip 2: the next block (3) is signed by the genesis set, which the newcomer is not in.
    with pytest.raises(InvalidTransaction) as refused:
        chain.app.check_tx(report)
    assert refused.value.code == "unknown_certificate"
    chain.commit_txs([])  # tip 3: the next block (4) is the newcomer's first
    assert chain.app.check_tx(report).sender == addr(NEWCOMER)


# -- GET /v1/validators -----------------------------------------------------------------------------------------
def test_validators_route_answers_each_set_at_its_heights(changed: AppChain) -> None:
    app = changed.app
    genesis = app.params.validators
    vs = new_set(app.params)
    (s3, b3), (s4, b4), (sd, bd) = get(app, "/v1/validators?height=3", "/v1/validators?height=4", "/v1/validators")
    assert s3 == s4 == sd == 200
    assert b3["height"] == 3 and b3["effective_height"] == 1
    assert b3["validators_hash"] == "0x" + validators_hash(ED25519, genesis).hex()
    assert b3["total_power"] == 3 and [v["org"] for v in b3["validators"]] == [ORG]
    assert b4["height"] == 4 and b4["effective_height"] == EFFECTIVE
    assert b4["validators_hash"] == "0x" + validators_hash(ED25519, vs).hex()
    assert b4["total_power"] == 4
    assert b4["validators"] == [
        {
            "address": "0x" + address_of(ED25519, v.public_key).hex(),
            "public_key": "0x" + v.public_key.hex(),
            "power": v.power,
            "name": v.name,
            "org": ORG,
        }
        for v in vs.validators
    ]
    assert bd["height"] == app.info().height + 1 and bd["validators_hash"] == b4["validators_hash"]


def test_validators_route_default_height_is_tip_plus_1_before_a_pending_change(
    gov_params: ChainParams, actors: Actors
) -> None:
    chain, _ = start_with_pending_change(gov_params, actors)  # tip 2: tip + 1 is still genesis, tip + 2 the new set
    ((sd, bd), (s4, b4)) = get(chain.app, "/v1/validators", "/v1/validators?height=4")
    assert sd == s4 == 200
    assert bd["height"] == 3 and bd["effective_height"] == 1
    assert b4["effective_height"] == 4


@pytest.mark.parametrize("query", ["height=0", "height=abc", "height=", "height=-1", "height=1.5", "height=0x4"])
def test_validators_route_refuses_a_malformed_height_400_bad_height(chain: AppChain, query: str) -> None:
    ((status, body),) = get(chain.app, f"/v1/validators?{query}")
    assert status == 400 and body["code"] == "bad_height"


def test_validators_route_answers_a_height_beyond_tip_plus_2_404_unknown_height(changed: AppChain) -> None:
    tip = changed.app.info().height
    ((s_ok, _), (status, body)) = get(
        changed.app, f"/v1/validators?height={tip + 2}", f"/v1/validators?height={tip + 3}"
    )
    assert s_ok == 200
    assert status == 404 and body["code"] == "unknown_height"
    ((status, body),) = get(changed.app, f"/v1/validators?height={'9' * 20}")
    assert status == 404 and body["code"] == "unknown_height"


# -- GET /v1/validators/changes ---------------------------------------------------------------------------------
def test_changes_route_serves_canonical_set_changes(changed: AppChain) -> None:
    app = changed.app
    (status, body), (s3, b3) = get(app, "/v1/validators/changes", "/v1/validators/changes?to_height=3")
    assert status == 200 and body["to_height"] == app.info().height
    (ch,) = body["changes"]
    assert ch["effective_height"] == EFFECTIVE
    header = decode(bytes.fromhex(ch["header"][2:]), Header)
    commit = decode(bytes.fromhex(ch["commit"][2:]), Commit)
    nxt = decode(bytes.fromhex(ch["next_validators"][2:]), ValidatorSet)
    assert header == app.header(EFFECTIVE - 1) and nxt == new_set(app.params)
    assert header.next_validators_hash == validators_hash(ED25519, nxt)
    verify_commit(ED25519, app.params.chain_id, app.params.validators, header, commit)
    tip = app.info().height
    proven = SetChange(header=header, commit=commit, next_validators=nxt)
    state = verify_from_genesis(app.params, app.header(tip), _commit(app, tip), [proven])
    assert state.validators == nxt
    with pytest.raises(LightClientError):
        verify_from_genesis(app.params, app.header(tip), _commit(app, tip), [])
    assert s3 == 200 and b3 == {"to_height": 3, "changes": []}


@pytest.mark.parametrize("query", ["to_height=0", "to_height=x", "to_height=", "to_height=+3"])
def test_changes_route_refuses_a_malformed_height_400_bad_height(chain: AppChain, query: str) -> None:
    ((status, body),) = get(chain.app, f"/v1/validators/changes?{query}")
    assert status == 400 and body["code"] == "bad_height"


def test_changes_route_answers_beyond_tip_plus_1_404_unknown_height(changed: AppChain) -> None:
    tip = changed.app.info().height
    ((s_ok, _), (status, body)) = get(
        changed.app, f"/v1/validators/changes?to_height={tip + 1}", f"/v1/validators/changes?to_height={tip + 2}"
    )
    assert s_ok == 200
    assert status == 404 and body["code"] == "unknown_height"


def test_changes_route_default_on_a_chain_without_blocks_is_height_1(chain: AppChain) -> None:
    ((status, body),) = get(chain.app, "/v1/validators/changes")
    assert status == 200 and body == {"to_height": 1, "changes": []}


# -- a running node -----------------------------------------------------------------------------------------------
def test_running_node_serves_the_genesis_set_and_documents_both_routes(api: ApiHarness) -> None:
    resp = api.get("/v1/validators")
    assert resp.status == 200
    body = resp.json()
    assert body["height"] == api.node.app.info().height + 1 and body["effective_height"] == 1
    assert body["validators_hash"] == "0x" + validators_hash(ED25519, api.node.app.params.validators).hex()
    assert api.get("/v1/validators/changes").json()["changes"] == []
    doc = openapi_document()
    for path in ("/v1/validators", "/v1/validators/changes"):
        assert set(doc["paths"][path]["get"]["responses"]) >= {"200", "400", "404"}
    for schema in ("ValidatorSetJson", "ValidatorChangesJson"):
        assert schema in doc["components"]["schemas"]
    assert msgspec.json.decode(msgspec.json.encode(doc))  # the document stays JSON


def _commit(app: TrellisApp, height: int) -> Commit:
    commit = app.store.commit(height)
    assert commit is not None
    return commit
