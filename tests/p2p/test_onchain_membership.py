"""Peer connections follow the on-chain membership: what the chain revokes or adds by governance, the transport
applies (``TrellisApp.peer_membership`` -> ``TlsTransport.update_membership``)."""

from __future__ import annotations

import hashlib
import time

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from trellis.app.application import TrellisApp
from trellis.core.codec import encode
from trellis.core.crypto.suite import ED25519, address_of
from trellis.core.ledger.tx import TxBody, sign_tx
from trellis.core.modules.membership.messages import AddOrg, ProposeMembership, RegisterCert, RevokeCert
from trellis.core.modules.payload import Payload
from trellis.core.params import Genesis, GenesisMembership, GenesisOrg, GenesisValidator, params_from_genesis
from trellis.keys.certs import issue_identity_cert
from trellis.keys.signer import MemorySigner
from trellis.node.privval import solo_commit
from trellis.storage.chain_store import ChainStore
from trellis.storage.kv import MemoryStore

from . import Net, creds, linked, org, run, wait_until


class _Chain:
    """A one-validator chain whose members are the p2p test organisations (acme; globex by governance)."""

    def __init__(self) -> None:
        self.validator = MemorySigner(hashlib.sha256(b"p2p-validator").digest())
        self.admin = MemorySigner(hashlib.sha256(b"p2p-admin").digest())
        self.time_ms = time.time_ns() // 1_000_000
        genesis = Genesis(
            chain_id="p2p-members",
            genesis_time_ms=self.time_ms,
            validators=[GenesisValidator(name="v", public_key=self.validator.public_key.hex())],
            mint_authority=address_of(ED25519, self.admin.public_key).hex(),
            orgs=[GenesisOrg(name="acme", ca_cert=org("acme").cert_pem.decode())],
            membership=GenesisMembership(admin_threshold=1),
        )
        self.app = TrellisApp(params_from_genesis(genesis), ChainStore(MemoryStore()))
        self.nonce = 0

    def send(self, payload: Payload) -> int:
        """Commit a block with one transaction of the admin; return its receipt code."""
        p = self.app.params
        body = TxBody(chain_id=p.chain_id, sender=self.admin.public_key, nonce=self.nonce, payload=payload)
        self.nonce += 1
        self.time_ms += 1000
        raw = encode(sign_tx(body, self.admin.sign))
        ex = self.app.prepare_proposal(
            [self.app.check_tx(raw)], self.time_ms, address_of(ED25519, self.validator.public_key)
        )
        self.app.commit(ex, solo_commit(p.suite, p.chain_id, self.validator, ex))
        return ex.output.receipts[0].code


def _der(pem: bytes) -> bytes:
    return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)


def test_a_node_certificate_revoked_on_chain_is_disconnected_and_refused() -> None:
    chain = _Chain()
    acme = org("acme")
    admin_cert = issue_identity_cert(
        acme.key_pem, acme.cert_pem, org="acme", role="admin", public_key=chain.admin.public_key, name="admin"
    )
    assert chain.send(RegisterCert(cert=_der(admin_cert))) == 0
    serial = x509.load_pem_x509_certificate(creds("m1").cert_pem).serial_number

    async def scenario() -> None:
        async with Net() as net:
            m2 = await net.start(creds("m2"))
            m1 = await net.start(creds("m1"), dial=[m2])
            await linked(m1, m2)

            assert chain.send(RevokeCert(serial=serial.to_bytes((serial.bit_length() + 7) // 8, "big"))) == 0
            pm = chain.app.peer_membership()
            assert pm is not None and serial in pm.revoked_serials
            m2.transport.update_membership(pm.ca_bundle_pem, pm.revoked_serials)
            await wait_until(lambda: "m1" not in m2.peers(), "m2 dropping m1, revoked on chain")
            await wait_until(lambda: m2.transport.stats()["refused"].get("revoked", 0) >= 2, "m1 refused again")

    run(scenario())


def test_an_org_added_by_governance_is_trusted_by_the_transport() -> None:
    chain = _Chain()
    acme, globex = org("acme"), org("globex")
    admin_cert = issue_identity_cert(
        acme.key_pem, acme.cert_pem, org="acme", role="admin", public_key=chain.admin.public_key, name="admin"
    )
    assert chain.send(RegisterCert(cert=_der(admin_cert))) == 0
    assert chain.send(ProposeMembership(change=AddOrg(name="globex", ca_certs=[_der(globex.cert_pem)]))) == 0
    pm = chain.app.peer_membership()
    assert pm is not None and pm.version == 1
    bundle = x509.load_pem_x509_certificates(pm.ca_bundle_pem)
    assert [c.subject for c in bundle] == [
        x509.load_pem_x509_certificate(acme.cert_pem).subject,
        x509.load_pem_x509_certificate(globex.cert_pem).subject,
    ]
