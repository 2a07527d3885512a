"""Membership through the application and the API: admission, proposals and block checks refuse senders whose
certificate the chain does not accept at the block's time."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from trellis.cli.main import main as cli_main
from trellis.core.errors import InvalidTransaction
from trellis.core.execution.block import build_block
from trellis.core.ledger.tx import decode_tx
from trellis.core.modules.accounts.messages import Transfer
from trellis.core.modules.membership.messages import RegisterCert, RevokeCert
from trellis.core.modules.membership.view import MembershipRefusal
from trellis.core.params import (
    ChainParams,
    Genesis,
    GenesisAccount,
    GenesisMembership,
    GenesisOrg,
    GenesisValidator,
    params_from_genesis,
)
from trellis.keys.certs import create_org_ca, issue_identity_cert
from trellis.keys.signer import MemorySigner
from trellis.node.assembly import assemble_node
from trellis.node.home import init_home

from .conftest import (
    GENESIS_TIME_MS,
    Actors,
    ApiHarness,
    AppChain,
    LoopRunner,
    addr,
    checked,
    make_app_chain,
    node_config,
    raw_tx,
)

G0 = datetime.fromtimestamp(GENESIS_TIME_MS // 1000, UTC)


def _der(pem: bytes) -> bytes:
    return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)


@pytest.fixture(scope="module")
def ca() -> tuple[bytes, bytes]:
    return create_org_ca("acme", now=G0)


def _cert(ca: tuple[bytes, bytes], signer: MemorySigner, role: str, days: int = 1) -> bytes:
    return _der(
        issue_identity_cert(
            ca[0],
            ca[1],
            org="acme",
            role=role,
            public_key=signer.public_key,
            name=role,
            not_before=G0 - timedelta(minutes=1),
            not_after=G0 + timedelta(days=days),
        )
    )


def _params(actors: Actors, ca: tuple[bytes, bytes], *, enforce: bool = True) -> ChainParams:
    return params_from_genesis(
        Genesis(
            chain_id="shell-test",
            genesis_time_ms=GENESIS_TIME_MS,
            validators=[GenesisValidator(name="v0", public_key=actors.validator.public_key.hex(), power=1)],
            mint_authority=addr(actors.alice).hex(),
            accounts=[GenesisAccount(address=addr(a).hex(), balance=1000) for a in (actors.alice, actors.bob)],
            orgs=[GenesisOrg(name="acme", ca_cert=ca[1].decode())],
            membership=GenesisMembership(enforce=enforce),
        )
    )


@pytest.fixture
def members(actors: Actors, ca: tuple[bytes, bytes]) -> AppChain:
    """A permissioned chain where alice (admin) and bob (client) are registered."""
    chain = make_app_chain(_params(actors, ca), actors)
    ex = chain.commit_txs(
        [
            raw_tx(actors.alice, 0, RegisterCert(cert=_cert(ca, actors.alice, "admin"))),
            raw_tx(actors.bob, 0, RegisterCert(cert=_cert(ca, actors.bob, "client"))),
        ]
    )
    assert [r.code for r in ex.output.receipts] == [0, 0]
    return chain


def _pay(actors: Actors, nonce: int) -> bytes:
    return raw_tx(actors.bob, nonce, Transfer(to=addr(actors.carol), amount=1))


def test_admission_refuses_a_sender_without_certificate(members: AppChain, actors: Actors) -> None:
    with pytest.raises(InvalidTransaction) as info:
        members.app.check_tx(raw_tx(actors.carol, 0, Transfer(to=addr(actors.bob), amount=0)))
    assert info.value.code == "unknown_certificate"
    [res] = members.app.check_txs([raw_tx(actors.carol, 0, Transfer(to=addr(actors.bob), amount=0))])
    assert isinstance(res, InvalidTransaction) and res.code == "unknown_certificate"


def test_a_revoked_client_is_refused_from_the_next_block_on(
    members: AppChain, actors: Actors, ca: tuple[bytes, bytes]
) -> None:
    serial = members.app.certificates(addr(actors.bob))[0].entry.serial
    ex = members.commit_txs([raw_tx(actors.alice, 1, RevokeCert(serial=serial)), _pay(actors, 1)])
    assert [r.code for r in ex.output.receipts] == [0, 0]  # same block: not yet in force
    with pytest.raises(InvalidTransaction) as info:
        members.app.check_tx(_pay(actors, 2))
    assert info.value.code == "certificate_revoked"
    # A proposer leaves it out of its block...
    proposal = members.app.prepare_proposal(
        [checked(actors.bob, 2, Transfer(to=addr(actors.carol), amount=1))], members.time_ms + 1000, members.proposer
    )
    assert proposal.block.txs == []
    # ...and a block that carries it anyway is refused, naming the transaction and the reason.
    block = _lax_block(members, [_pay(actors, 2)])
    with pytest.raises(MembershipRefusal) as refused:
        members.app.process_proposal(block)
    assert (refused.value.code, refused.value.tx_index) == ("certificate_revoked", 0)
    assert members.app.certificates(addr(actors.bob))[0].status == "certificate_revoked"


def _lax_block(chain: AppChain, raws: list[bytes]) -> Any:
    """The next block built by a proposer that does not enforce membership (same state, same tip)."""
    p = chain.app.params
    lax = dataclasses.replace(p, genesis=msgspec.structs.replace(p.genesis, membership=GenesisMembership()))
    txs = [decode_tx(r) for r in raws]
    store = chain.app.store
    ex = build_block(lax, store, store, chain.app.info(), txs, raws, chain.time_ms + 1000, chain.proposer)
    return ex.block


def test_an_expired_certificate_is_refused_at_the_blocks_time(members: AppChain, actors: Actors) -> None:
    later = GENESIS_TIME_MS + 2 * 86_400_000  # past bob's certificate (one day)
    proposal = members.app.prepare_proposal(
        [checked(actors.bob, 1, Transfer(to=addr(actors.carol), amount=1))], later, members.proposer
    )
    assert proposal.block.txs == []
    members.time_ms = later - 1000
    block = _lax_block(members, [_pay(actors, 1)])
    with pytest.raises(MembershipRefusal) as refused:
        members.app.process_proposal(block)
    assert refused.value.code == "certificate_expired"


# -- through the API and the CLI ---------------------------------------------------------------------------------
class PermissionedApi(ApiHarness):
    """A node from ``trellis init --permissioned``, served in-process."""

    def __init__(self, root: Path) -> None:
        self.root = root
        home = init_home(root, permissioned=True)
        self.runner = LoopRunner()
        self.node = assemble_node(root, node_config())
        self.alice = home.keys.signer("alice")
        self.bob = home.keys.signer("bob")
        self.client = None
        try:
            self.runner.run(self._start())
        except BaseException:
            self.close()
            raise


@pytest.fixture(scope="module")
def papi(tmp_path_factory: pytest.TempPathFactory) -> Any:
    harness = PermissionedApi(tmp_path_factory.mktemp("perm-home"))
    try:
        yield harness
    finally:
        harness.close()


def _issue(root: Path, key: str, role: str, capsys: pytest.CaptureFixture[str]) -> bytes:
    assert cli_main(["certs", "issue", "--home", str(root), "--org", "org0", "--role", role, "--key", key]) == 0
    capsys.readouterr()
    return _der((root / "certs" / f"{key}.crt").read_bytes())


class _PeerRecorder:
    """Stands in for the node's TLS transport: records the memberships it is told to apply."""

    def __init__(self) -> None:
        self.updates: list[tuple[bytes, frozenset[int]]] = []

    def update_membership(self, ca_bundle_pem: bytes, revoked_serials: frozenset[int]) -> None:
        self.updates.append((ca_bundle_pem, revoked_serials))


def test_api_refuses_unregistered_then_accepts_registered_then_refuses_revoked(
    papi: PermissionedApi, capsys: pytest.CaptureFixture[str]
) -> None:
    pay = Transfer(to=addr(papi.alice), amount=1)
    resp = papi.submit(papi.tx(papi.bob, pay))
    assert resp.status == 403 and resp.content_type == "application/problem+json"
    assert resp.json()["code"] == "unknown_certificate"

    papi.commit(papi.alice, RegisterCert(cert=_issue(papi.root, "alice", "admin", capsys)))
    bob_cert = _issue(papi.root, "bob", "client", capsys)
    papi.commit(papi.bob, RegisterCert(cert=bob_cert))
    assert papi.commit(papi.bob, pay)["receipt"]["code"] == 0

    certs = papi.get(f"/v1/certs/0x{addr(papi.bob).hex()}").json()
    assert [(c["role"], c["status"]) for c in certs["certs"]] == [("client", "valid")]
    membership = papi.get("/v1/membership").json()
    assert membership["enforce"] is True and [o["name"] for o in membership["orgs"]] == ["org0"]

    serial = x509.load_der_x509_certificate(bob_cert).serial_number
    n = serial.to_bytes((serial.bit_length() + 7) // 8, "big")
    peers = _PeerRecorder()
    papi.node.transport = peers  # type: ignore[assignment]  # the node hands membership changes to its transport
    try:
        assert papi.commit(papi.alice, RevokeCert(serial=n))["receipt"]["code"] == 0
    finally:
        papi.node.transport = None
    assert peers.updates and serial in peers.updates[-1][1]  # peer links follow the revocation too
    assert b"BEGIN CERTIFICATE" in peers.updates[-1][0]
    resp = papi.submit(papi.tx(papi.bob, pay))
    assert resp.status == 403 and resp.json()["code"] == "certificate_revoked"
    assert papi.get("/v1/membership").json()["revoked"][0]["serial"] == "0x" + n.hex()


def test_a_client_may_not_revoke(papi: PermissionedApi, capsys: pytest.CaptureFixture[str]) -> None:
    resp = papi.submit(papi.tx(papi.bob, RevokeCert(serial=b"\x01")))
    assert resp.status == 403 and resp.json()["code"] in ("role_not_permitted", "certificate_revoked")


def test_certs_status_lists_the_homes_certificates_with_expiry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    init_home(tmp_path, permissioned=True)
    args = ["--home", str(tmp_path), "--node", "http://127.0.0.1:9"]
    assert cli_main(["certs", "issue", *args, "--org", "org0", "--role", "client", "--key", "bob", "--days", "3"]) == 0
    capsys.readouterr()
    assert cli_main(["certs", "status", *args, "--json", "--warn-days", "7"]) == 0
    data = msgspec.json.decode(capsys.readouterr().out)
    kinds = {c["kind"]: c for c in data["certs"]}
    assert set(kinds) == {"ca", "node", "identity"}
    assert kinds["identity"]["state"] == "EXPIRING" and kinds["ca"]["state"] == "ok"
    assert kinds["identity"]["chain"].startswith("unknown")  # no node reachable
    assert data["warnings"] == 1


def test_certs_issue_refuses_an_org_whose_ca_is_not_in_the_home(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    init_home(tmp_path)
    assert (
        cli_main(["certs", "issue", "--home", str(tmp_path), "--org", "other", "--role", "client", "--key", "bob"]) == 1
    )
    assert "no CA of organisation 'other'" in capsys.readouterr().err


def test_membership_payloads_round_trip_through_the_api_json(ca: tuple[bytes, bytes], actors: Actors) -> None:
    from trellis.api.payload_json import from_json, to_json
    from trellis.core.modules.membership.messages import AddCa, ApproveMembership, ProposeMembership

    payloads = [
        RegisterCert(cert=_cert(ca, actors.bob, "client")),
        ProposeMembership(change=AddCa(org="acme", ca_cert=_der(ca[1]))),
        ApproveMembership(proposal_id=7),
        RevokeCert(serial=b"\x01\x02"),
    ]
    for p in payloads:
        j = msgspec.json.decode(msgspec.json.encode(to_json(p)), type=type(to_json(p)))
        assert from_json(j) == p


def test_init_permissioned_refuses_the_sm_suite(tmp_path: Path) -> None:
    from trellis.node.home import HomeError

    with pytest.raises(HomeError, match="ed25519"):
        init_home(tmp_path, suite="sm", permissioned=True)
    assert not (tmp_path / "genesis.json").exists()


def test_admission_refuses_a_registration_the_chain_would_refuse(
    members: AppChain, actors: Actors, ca: tuple[bytes, bytes]
) -> None:
    stranger = create_org_ca("acme", now=G0)  # same name, another key: not the member CA
    cases = {
        "key_mismatch": _cert(ca, actors.bob, "client"),
        "unknown_ca": _cert(stranger, actors.carol, "client"),
        "malformed_certificate": b"\x30\x03\x02\x01\x01",
    }
    for code, cert in cases.items():
        with pytest.raises(InvalidTransaction) as info:
            members.app.check_tx(raw_tx(actors.carol, 0, RegisterCert(cert=cert)))
        assert info.value.code == code
    members.app.check_tx(raw_tx(actors.carol, 0, RegisterCert(cert=_cert(ca, actors.carol, "client"))))


def test_net_init_permissioned_and_issuing_with_another_orgs_ca(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from trellis.node.network import init_network

    nodes = init_network(tmp_path, 2, api_port=18680, p2p_port=36656, permissioned=True)
    params = (nodes[0].home / "genesis.json").read_bytes()
    assert msgspec.json.decode(params)["membership"]["enforce"] is True
    argv = ["certs", "issue", "--home", str(tmp_path), "--org", "org1", "--role", "admin", "--key", "alice"]
    assert cli_main(argv) == 0
    cert = x509.load_pem_x509_certificate((nodes[0].home / "certs" / "alice.crt").read_bytes())
    assert cert.issuer.rfc4514_string() == "CN=org1 CA,O=org1"
