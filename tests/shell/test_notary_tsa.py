"""The RFC 3161 endpoint against a real node: ``openssl ts -query`` builds the request, the token's time is the
anchoring block's, and ``openssl ts -verify`` accepts it under the organisation's CA; bad requests are refused
with the RFC 3161 failure bit, and nothing is anchored for them."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from asn1crypto import core, tsp

from trellis.api.notary_tsa import QUERY_MEDIA_TYPE, REPLY_MEDIA_TYPE, tsa_routes
from trellis.app.modules.notary import record_of
from trellis.keys.certs import create_org_ca, issue_tsa_cert
from trellis.node.config import NotarySection
from trellis.notary.tsa import TRELLIS_RECEIPT_OID, TsaIdentity

from .conftest import ApiHarness, Response, node_config

# In CI (`make test` installs the openssl command first) these tests never skip: a missing install step fails them.
pytestmark = pytest.mark.skipif(
    shutil.which("openssl") is None and not os.environ.get("CI"), reason="needs the openssl command"
)


class Tsa:
    def __init__(self, api: ApiHarness, work: Path) -> None:
        ca_key, ca_cert = create_org_ca("Hospital")
        key, cert = issue_tsa_cert(ca_key, ca_cert, org="Hospital")
        (work / "orgCA.pem").write_bytes(ca_cert)
        (work / "tsa.pem").write_bytes(cert)
        self.api, self.work = api, work
        app = web.Application()
        app.add_routes(tsa_routes(api.node, TsaIdentity.from_pem(key, cert), api.alice))

        async def start() -> TestClient[Any, Any]:
            client: TestClient[Any, Any] = TestClient(TestServer(app))
            await client.start_server()
            return client

        self.client = api.runner.run(start())

    def post(self, body: bytes, ctype: str = QUERY_MEDIA_TYPE) -> Response:
        async def go() -> Response:
            async with self.client.post("/v1/notary/tsa", data=body, headers={"Content-Type": ctype}) as r:
                return Response(r.status, r.content_type, await r.read())

        return self.api.runner.run(go())

    def close(self) -> None:
        self.api.runner.run(self.client.close())


@pytest.fixture(scope="module")
def tsa(api: ApiHarness, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tsa]:
    t = Tsa(api, tmp_path_factory.mktemp("tsa"))
    try:
        yield t
    finally:
        t.close()


def openssl(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=30)


def query(work: Path, data: bytes, name: str, *extra: str) -> bytes:
    (work / name).write_bytes(data)
    res = openssl("ts", "-query", "-data", name, "-sha256", "-cert", *extra, "-out", name + ".tsq", cwd=work)
    assert res.returncode == 0, res.stderr
    return (work / (name + ".tsq")).read_bytes()


def test_openssl_verifies_a_token_whose_time_is_the_anchoring_block_time(tsa: Tsa) -> None:
    work = tsa.work
    req = query(work, b"discharge letter\n", "letter.txt")
    resp = tsa.post(req)
    assert resp.status == 200 and resp.content_type == REPLY_MEDIA_TYPE
    (work / "reply.tsr").write_bytes(resp.body)
    res = openssl(
        "ts", "-verify", "-data", "letter.txt", "-in", "reply.tsr", "-CAfile", "orgCA.pem", "-untrusted", "tsa.pem",
        cwd=work,
    )  # fmt: skip
    assert res.returncode == 0 and "Verification: OK" in res.stdout, res.stdout + res.stderr

    digest = hashlib.sha256(b"discharge letter\n").digest()
    view = record_of(tsa.api.node.app.reader(), digest)
    assert view is not None and view.batch.record_type == "rfc3161"
    tst = tsp.TimeStampResp.load(resp.body)["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed
    assert int(tst["gen_time"].native.timestamp() * 1000) == view.record.time_ms
    (ext,) = [e for e in tst["extensions"] if e["extn_id"].dotted == TRELLIS_RECEIPT_OID]
    ref = json.loads(core.UTF8String.load(ext["extn_value"].native).native)
    assert ref["height"] == view.record.height and ref["receipt"] == f"/v1/notary/receipts/0x{digest.hex()}"


def test_a_digest_already_anchored_gets_its_first_anchoring_time(tsa: Tsa) -> None:
    data = b"anchored before\n"
    tsa.api.commit(
        tsa.api.bob,
        __import__("trellis.core.modules.notary.messages", fromlist=["NotaryAnchor"]).NotaryAnchor(
            digests=[hashlib.sha256(data).digest()]
        ),
    )
    view = record_of(tsa.api.node.app.reader(), hashlib.sha256(data).digest())
    assert view is not None
    resp = tsa.post(query(tsa.work, data, "before.txt"))
    tst = tsp.TimeStampResp.load(resp.body)["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed
    assert int(tst["gen_time"].native.timestamp() * 1000) == view.record.time_ms
    assert view.batch.record_type == ""  # not re-anchored by the TSA


def rejected(resp: Response) -> str:
    status = tsp.PKIStatusInfo.load(core.load(resp.body)[0].dump())  # a rejection has no token
    assert status["status"].native == "rejection"
    return next(iter(status["fail_info"].native))


def test_an_unknown_digest_algorithm_is_refused_with_bad_alg(tsa: Tsa) -> None:
    (tsa.work / "x.txt").write_bytes(b"x")
    res = openssl("ts", "-query", "-data", "x.txt", "-sha512", "-out", "x.tsq", cwd=tsa.work)
    assert res.returncode == 0, res.stderr
    resp = tsa.post((tsa.work / "x.tsq").read_bytes())
    assert resp.status == 400 and rejected(resp) == "bad_alg"


def test_truncated_and_garbage_requests_are_refused_with_bad_data_format(tsa: Tsa) -> None:
    req = query(tsa.work, b"y", "y.txt")
    for body in (req[:-3], b"", b"\x30\x03\x02\x01\x01", req + b"\x00"):
        resp = tsa.post(body)
        assert resp.status == 400 and rejected(resp) == "bad_data_format"
    assert record_of(tsa.api.node.app.reader(), hashlib.sha256(b"y").digest()) is None


def test_oversized_requests_and_wrong_media_types_are_refused(tsa: Tsa) -> None:
    assert tsa.post(b"\x30" * 20_000).status == 413
    assert tsa.post(query(tsa.work, b"z", "z.txt"), ctype="application/json").status == 415


def test_a_node_with_a_notary_section_serves_the_tsa_from_build_app(tmp_path: Path) -> None:
    ca_key, ca_cert = create_org_ca("Clinic")
    key, cert = issue_tsa_cert(ca_key, ca_cert, org="Clinic")
    (tmp_path / "tsa.key").write_bytes(key)
    (tmp_path / "tsa.pem").write_bytes(cert)
    (tmp_path / "orgCA.pem").write_bytes(ca_cert)
    cfg = msgspec.structs.replace(
        node_config(),
        notary=NotarySection(tsa_key=str(tmp_path / "tsa.key"), tsa_cert=str(tmp_path / "tsa.pem"), tsa_account="bob"),
    )
    harness = ApiHarness(tmp_path / "home", cfg)
    try:
        req = query(tmp_path, b"configured node\n", "doc.txt")
        resp = harness.post("/v1/notary/tsa", data=req, headers={"Content-Type": QUERY_MEDIA_TYPE})
        assert resp.status == 200, resp.body
        (tmp_path / "reply.tsr").write_bytes(resp.body)
        res = openssl(
            "ts", "-verify", "-data", "doc.txt", "-in", "reply.tsr", "-CAfile", "orgCA.pem", "-untrusted", "tsa.pem",
            cwd=tmp_path,
        )  # fmt: skip
        assert res.returncode == 0 and "Verification: OK" in res.stdout, res.stdout + res.stderr
    finally:
        harness.close()
