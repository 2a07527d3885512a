"""``GET /v1/status`` lists the peers the node's transport has banned (node id, reason, seconds left)."""

from __future__ import annotations

import time

import pytest

from trellis.keys.certs import create_org_ca, issue_node_cert
from trellis.p2p import TlsTransport

from .conftest import ApiHarness


def _transport() -> TlsTransport:
    ca_key, ca_cert = create_org_ca("acme")
    key, cert = issue_node_cert(ca_key, ca_cert, org="acme", node_id="n1")
    return TlsTransport("n1", "127.0.0.1", 0, [], ca_cert, cert, key)


def test_status_lists_no_banned_peers_without_a_transport(api: ApiHarness) -> None:
    assert api.node.transport is None
    assert api.get("/v1/status").json()["banned_peers"] == []


def test_status_lists_the_banned_peers_with_reason_and_seconds_left(
    api: ApiHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    transport = _transport()
    monkeypatch.setattr(api.node, "transport", transport)
    transport.ban("n9", 60, "sent a bad chunk 3 of snapshot 40: wrong_item_hash")
    transport.ban("n2", 0.05, "sent a bad manifest")
    transport.ban("n5", 30, "x" * 1000)  # the reason is bounded
    time.sleep(0.1)  # n2's ban has ended: it is no longer listed
    resp = api.get("/v1/status")
    assert resp.status == 200
    assert resp.json()["banned_peers"] == [
        {"node_id": "n5", "reason": "x" * 200, "seconds_left": 30},
        {"node_id": "n9", "reason": "sent a bad chunk 3 of snapshot 40: wrong_item_hash", "seconds_left": 60},
    ]
