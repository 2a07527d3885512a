"""TlsTransport and a changing membership: certificate rotation, revocation and CA rollover."""

from __future__ import annotations

from cryptography import x509

from trellis.keys.certs import create_org_ca, issue_node_cert
from trellis.p2p import TlsTransport

from . import Creds, Net, creds, linked, members, org, run, wait_until


def _serial(cert_pem: bytes) -> int:
    return x509.load_pem_x509_certificate(cert_pem).serial_number


def _peer_serial(transport: TlsTransport, peer_id: str) -> int | None:
    link = transport._links.get(peer_id)
    return None if link is None or link.peer_cert is None else link.peer_cert.serial_number


def test_a_rotated_node_certificate_keeps_the_node_connected_and_is_used_from_the_next_connection() -> None:
    acme = org("acme")
    new_key, new_cert = issue_node_cert(acme.key_pem, acme.cert_pem, org="acme", node_id="r1", role="validator")

    async def scenario() -> None:
        async with Net() as net:
            r2 = await net.start(creds("r2"))
            r1 = await net.start(creds("r1"), dial=[r2])
            await linked(r1, r2)
            old = _peer_serial(r2.transport, "r1")
            assert old == _serial(creds("r1").cert_pem)

            r1.transport.reload_identity(new_cert, new_key)
            # The open link is untouched by the rotation.
            assert r1.transport.send("r2", b"after rotation")
            await wait_until(lambda: r2.frames_from("r1") == [b"after rotation"], "r2 hearing r1 after the rotation")
            assert r2.peers() == ["r1"] and r2.disconnects == []

            # The next connection presents the new certificate.
            r1.transport.disconnect("r2", "test: reconnect")
            await wait_until(lambda: _peer_serial(r2.transport, "r1") == _serial(new_cert), "r1 back with its new cert")

    run(scenario())


def test_a_revoked_peer_is_disconnected_and_refused_from_then_on() -> None:
    async def scenario() -> None:
        async with Net() as net:
            v2 = await net.start(creds("v2"))
            v1 = await net.start(creds("v1"), dial=[v2])
            await linked(v1, v2)

            v2.transport.update_membership(members(), revoked_serials=[_serial(creds("v1").cert_pem)])
            await wait_until(lambda: "v1" not in v2.peers(), "v2 dropping the revoked v1")
            await wait_until(lambda: v2.transport.stats()["refused"].get("revoked", 0) >= 2, "v1 refused again")
            assert v2.peers() == []

    run(scenario())


def test_a_ca_rollover_admits_certificates_of_the_new_ca_while_the_old_ones_keep_working() -> None:
    new_ca_key, new_ca_cert = create_org_ca("acme")
    key, cert = issue_node_cert(new_ca_key, new_ca_cert, org="acme", node_id="b3", role="validator")
    rolled_bundle = members() + new_ca_cert
    newcomer = Creds("b3", key, cert, rolled_bundle)  # "b3" sorts first, so it dials the others

    async def scenario() -> None:
        async with Net() as net:
            c2 = await net.start(creds("c2"))
            c1 = await net.start(creds("c1"), dial=[c2])
            await linked(c1, c2)
            b3 = await net.start(newcomer, dial=[c1, c2])
            await wait_until(lambda: c1.transport.stats()["handshake_failures"] >= 1, "c1 refusing the unknown CA")
            assert b3.peers() == []
            for node in (c1, c2):
                node.transport.update_membership(rolled_bundle)
            await linked(c1, c2, b3)  # the old CA's certificates still connect; the new CA's are admitted

    run(scenario())


def test_dropping_an_organisations_ca_disconnects_its_nodes() -> None:
    async def scenario() -> None:
        async with Net() as net:
            g2 = await net.start(creds("g2", "globex"))
            a1 = await net.start(creds("a1"), dial=[g2])
            await linked(a1, g2)
            a1.transport.update_membership(org("acme").cert_pem)
            await wait_until(lambda: a1.peers() == [], "a1 dropping globex's node")
            assert a1.transport.stats()["refused"].get("unknown_ca", 0) >= 1

    run(scenario())
