"""TlsTransport: who is refused at the door, and what a connected peer may not send."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from trellis.keys.certs import issue_node_cert
from trellis.p2p import ACCEPT_PREAMBLE, PeerAddress

from . import HOST, Creds, Net, Node, client_context, closed_by_server, creds, linked, members, org, run, wait_until


def refused(node: Node, code: str) -> int:
    return node.transport.stats()["refused"].get(code, 0)


def expired(node_id: str) -> Creds:
    acme = org("acme")
    now = datetime.now(UTC)
    key, cert = issue_node_cert(
        acme.key_pem,
        acme.cert_pem,
        org="acme",
        node_id=node_id,
        not_before=now - timedelta(days=10),
        not_after=now - timedelta(days=1),
    )
    return Creds(node_id, key, cert, members())


def foreign(node_id: str) -> Creds:
    """A certificate from a CA outside the membership; its own bundle trusts the members too, so only the
    members' judgement keeps it out."""
    return creds(node_id, "initech", members() + org("initech").cert_pem)


@pytest.mark.parametrize("outsider_dials", [True, False], ids=["outsider-dials", "member-dials"])
@pytest.mark.parametrize("make_bad", [foreign, expired], ids=["foreign-ca", "expired"])
def test_a_peer_whose_certificate_does_not_verify_is_refused_in_the_handshake(
    make_bad: Callable[[str], Creds], outsider_dials: bool, caplog: pytest.LogCaptureFixture
) -> None:
    # Ids sort so that the lower one dials: "0x" dials "m1"; "m1" dials "zz".
    bad_id = "0x" if outsider_dials else "zz"

    async def scenario() -> None:
        async with Net() as net:
            m2 = await net.start(creds("m2"))
            if outsider_dials:
                m1 = await net.start(creds("m1"), dial=[m2])
                outsider = await net.start(make_bad(bad_id), dial=[m1])
            else:
                outsider = await net.start(make_bad(bad_id))
                m1 = await net.start(creds("m1"), dial=[m2, outsider])
            await linked(m1, m2)
            await wait_until(lambda: m1.transport.stats()["handshake_failures"] >= 2, "m1 refusing the outsider twice")

            assert m1.peers() == ["m2"] and m2.peers() == ["m1"] and outsider.peers() == []
            assert bad_id not in m1.connects and outsider.connects == []
            assert refused(m1, "tls_handshake") >= 2
            assert m1.transport.send("m2", b"still fine")
            await wait_until(lambda: m2.frames == [("m1", b"still fine")], "m1 and m2 still talking")

    with caplog.at_level(logging.WARNING, logger="trellis.p2p"):
        run(scenario())
    assert "[m1] refused" in caplog.text and "TLS handshake failed" in caplog.text


def test_a_member_not_in_allowed_node_ids_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        async with Net() as net:
            m2 = await net.start(creds("m2"), allowed_node_ids={"m1", "m2"})
            m1 = await net.start(creds("m1"), dial=[m2], allowed_node_ids={"m1", "m2"})
            intruder = await net.start(creds("m0"), dial=[m1, m2])
            await linked(m1, m2)
            await wait_until(
                lambda: refused(m1, "not_allowed") >= 1 and refused(m2, "not_allowed") >= 1, "both refusing m0"
            )
            await wait_until(lambda: refused(intruder, "refused_by_peer") >= 2, "m0 learning it was refused")
            assert m1.peers() == ["m2"] and m2.peers() == ["m1"] and intruder.peers() == []

    with caplog.at_level(logging.WARNING, logger="trellis.p2p"):
        run(scenario())
    assert "node id 'm0' is not in allowed_node_ids" in caplog.text


def test_a_peer_whose_certificate_names_another_node_than_the_one_dialed_is_refused() -> None:
    async def scenario() -> None:
        async with Net() as net:
            c = await net.start(creds("c"))
            # a believes b listens where c does.
            a = await net.start(creds("a"), extra_peers=[PeerAddress("b", HOST, c.port)])
            await wait_until(lambda: refused(a, "wrong_id") >= 1, "a refusing c posing as b")
            assert a.peers() == [] and a.connects == []
            # c saw a legitimate member dial it, so it may have admitted a for a moment; a hangs up at once.
            await wait_until(lambda: c.peers() == [], "c seeing a hang up")

    run(scenario())


async def tls_client(node: Creds, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(HOST, port, ssl=client_context(node))


async def admitted_client(node: Creds, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await tls_client(node, port)
    assert await reader.readexactly(len(ACCEPT_PREAMBLE)) == ACCEPT_PREAMBLE
    return reader, writer


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"\xff\xff\xff\xff", "frame_too_large"),
        ((1024 * 1024 + 1).to_bytes(4, "big"), "frame_too_large"),
        (b"\x00\x00\x00\x00", "zero_length_frame"),
        (b"\x00\x00\x00\x05ok!!!" + b"\x00\x00\x00\x00", "zero_length_frame"),
    ],
    ids=["max-length", "limit-plus-one", "zero", "zero-after-a-good-frame"],
)
def test_a_bad_length_prefix_disconnects_that_peer_only(
    payload: bytes, code: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with Net() as net:
            b = await net.start(creds("b"), max_frame_bytes=1024 * 1024)
            a = await net.start(creds("a"), dial=[b])
            await linked(a, b)

            reader, writer = await admitted_client(creds("rogue"), b.port)
            await wait_until(lambda: "rogue" in b.peers(), "b admitting rogue")
            writer.write(payload)
            assert await closed_by_server(reader)
            writer.close()

            await wait_until(lambda: "rogue" not in b.peers(), "b dropping rogue")
            assert b.transport.stats()["disconnects"] == {code: 1}
            assert b.peers() == ["a"]
            assert a.transport.send("b", b"unaffected")
            await wait_until(lambda: ("a", b"unaffected") in b.frames, "b still serving a")

    with caplog.at_level(logging.WARNING, logger="trellis.p2p"):
        run(scenario())
    assert "disconnected rogue at 127.0.0.1" in caplog.text and f"({code})" in caplog.text


def test_a_frame_cut_off_by_the_connection_closing_only_disconnects() -> None:
    async def scenario() -> None:
        async with Net() as net:
            b = await net.start(creds("b"))
            _, writer = await admitted_client(creds("rogue"), b.port)
            await wait_until(lambda: b.peers() == ["rogue"], "b admitting rogue")
            writer.write(b"\x00\x00\x00\x64" + b"only ten b")
            await writer.drain()
            writer.transport.abort()
            await wait_until(lambda: b.peers() == [], "b dropping rogue")
            codes = b.transport.stats()["disconnects"]
            assert set(codes) <= {"truncated_frame", "connection_error"} and sum(codes.values()) == 1
            assert b.frames == []

    run(scenario())


def test_bytes_that_are_not_tls_are_refused_and_others_still_served() -> None:
    async def scenario() -> None:
        async with Net() as net:
            b = await net.start(creds("b"))
            a = await net.start(creds("a"), dial=[b])
            await linked(a, b)

            reader, writer = await asyncio.open_connection(HOST, b.port)
            writer.write(b"GET / HTTP/1.1\r\nHost: trellis\r\n\r\n" + bytes(range(256)) * 8)
            assert await closed_by_server(reader)
            writer.close()

            await wait_until(lambda: refused(b, "tls_handshake") == 1, "b refusing the plaintext client")
            assert b.peers() == ["a"]
            assert a.transport.send("b", b"unaffected")
            await wait_until(lambda: b.frames == [("a", b"unaffected")], "b still serving a")

    run(scenario())


def test_a_second_link_from_a_connected_peer_is_refused_and_the_first_kept() -> None:
    async def scenario() -> None:
        async with Net() as net:
            b = await net.start(creds("b"))
            _, writer1 = await admitted_client(creds("rogue"), b.port)
            await wait_until(lambda: b.peers() == ["rogue"], "b admitting the first link")

            reader2, writer2 = await tls_client(creds("rogue"), b.port)
            assert await closed_by_server(reader2)
            writer2.close()
            assert refused(b, "duplicate") == 1

            writer1.write(b"\x00\x00\x00\x05first")
            await wait_until(lambda: b.frames == [("rogue", b"first")], "the first link still working")
            writer1.close()

    run(scenario())


def test_a_peer_we_dial_may_not_dial_us_and_our_own_id_is_refused() -> None:
    async def scenario() -> None:
        async with Net() as net:
            a = await net.start(creds("a"), extra_peers=[PeerAddress("b", HOST, 9)])
            for node_id, code in (("b", "wrong_direction"), ("a", "own_id")):
                reader, writer = await tls_client(creds(node_id), a.port)
                assert await closed_by_server(reader)
                writer.close()
                assert refused(a, code) == 1
            assert a.peers() == [] and a.connects == []

    run(scenario())
