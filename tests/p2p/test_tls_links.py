"""TlsTransport: forming a mesh, moving frames, reconnecting and stopping cleanly."""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path

import pytest

from trellis.keys.certs import CertError
from trellis.p2p import PeerAddress, TlsTransport, Transport

from . import HOST, Net, creds, linked, run, wait_until


def test_tls_transport_satisfies_the_transport_port() -> None:
    node = creds("a")
    transport: Transport = TlsTransport("a", HOST, 0, [], node.ca_bundle, node.cert_pem, node.key_pem)
    assert transport.node_id == "a"


def test_three_nodes_form_a_full_mesh_with_one_link_per_pair() -> None:
    async def scenario() -> None:
        async with Net() as net:
            c = await net.start(creds("c"))
            b = await net.start(creds("b", "globex"), dial=[c])
            a = await net.start(creds("a"), dial=[b, c])
            await linked(a, b, c)

            assert (a.peers(), b.peers(), c.peers()) == (["b", "c"], ["a", "c"], ["a", "b"])
            # Only the lower id dials: a dials b and c, b dials c.
            links = {n.node_id: (n.transport.stats()["links_out"], n.transport.stats()["links_in"]) for n in (a, b, c)}
            assert links == {"a": (2, 0), "b": (1, 1), "c": (0, 2)}
            assert sorted(a.connects) == ["b", "c"] and sorted(c.connects) == ["a", "b"]

    run(scenario())


def test_a_node_that_the_lower_id_does_not_list_dials_it_itself() -> None:
    # A node added to a running network lists the old nodes, whose ids sort below its own, but they do not list
    # it: it must dial them itself (before, it waited for dials that never came and stayed alone at height 0).
    async def scenario() -> None:
        async with Net() as net:
            a = await net.start(creds("a"))  # knows nobody
            z = await net.start(creds("z"), dial=[a])  # knows a, whose id sorts below
            await linked(a, z)
            assert z.transport.stats()["links_out"] == 1 and a.transport.stats()["links_in"] == 1
            assert z.transport.send("a", b"hello from the newcomer")
            await wait_until(lambda: a.frames == [("z", b"hello from the newcomer")], "a frame over the link")

    run(scenario())


def test_a_lower_id_that_dials_us_gets_exactly_one_link() -> None:
    # Both know each other: the lower id dials, and the higher one's fallback adds no second link.
    async def scenario() -> None:
        with socket.socket() as probe:  # a free port for a, so that z can list a before a starts
            probe.bind((HOST, 0))
            a_port = probe.getsockname()[1]
        async with Net() as net:
            z = await net.start(creds("z"), extra_peers=[PeerAddress("a", HOST, a_port)])
            a = await net.start(creds("a"), dial=[z], port=a_port)
            await linked(a, z)
            await asyncio.sleep(0.6)  # past z's fallback grace (backoff_max_s 0.2 plus jitter, twice)
            assert z.transport.stats()["links_out"] == 0 and a.transport.stats()["links_out"] == 1
            assert a.connects == ["z"] and z.connects == ["a"]

    run(scenario())


def test_frames_flow_both_ways_between_every_pair_in_order() -> None:
    async def scenario() -> None:
        async with Net() as net:
            c = await net.start(creds("c"))
            b = await net.start(creds("b"), dial=[c])
            a = await net.start(creds("a"), dial=[b, c])
            nodes = [a, b, c]
            await linked(*nodes)

            for sender in nodes:
                for receiver in nodes:
                    if sender is not receiver:
                        for i in range(100):
                            assert sender.transport.send(
                                receiver.node_id, f"{sender.node_id}>{receiver.node_id}:{i}".encode()
                            )

            def all_arrived() -> bool:
                return all(len(n.frames) == 200 for n in nodes)

            await wait_until(all_arrived, "200 frames at every node")
            for receiver in nodes:
                for sender in nodes:
                    if sender is not receiver:
                        expected = [f"{sender.node_id}>{receiver.node_id}:{i}".encode() for i in range(100)]
                        assert receiver.frames_from(sender.node_id) == expected

    run(scenario())


def test_broadcast_reaches_every_connected_peer_once() -> None:
    async def scenario() -> None:
        async with Net() as net:
            c = await net.start(creds("c"))
            b = await net.start(creds("b"), dial=[c])
            a = await net.start(creds("a"), dial=[b, c])
            await linked(a, b, c)

            b.transport.broadcast(b"block 7")
            await wait_until(lambda: bool(a.frames and c.frames), "the broadcast at a and c")
            assert a.frames == [("b", b"block 7")] and c.frames == [("b", b"block 7")] and b.frames == []

    run(scenario())


def test_a_five_megabyte_frame_arrives_whole_between_small_ones() -> None:
    big = bytes(range(256)) * (5 * 1024 * 1024 // 256)

    async def scenario() -> None:
        async with Net() as net:
            b = await net.start(creds("b"))
            a = await net.start(creds("a"), dial=[b])
            await linked(a, b)

            for frame in (b"before", big, b"after"):
                assert b.transport.send("a", frame)
                assert a.transport.send("b", frame)
            await wait_until(lambda: len(a.frames) == 3 and len(b.frames) == 3, "three frames each way")
            assert a.frames_from("b") == [b"before", big, b"after"]
            assert b.frames_from("a") == [b"before", big, b"after"]
            assert a.transport.stats()["bytes_in"] == len(big) + len(b"before") + len(b"after")

    run(scenario())


def test_send_to_an_unknown_peer_returns_false() -> None:
    async def scenario() -> None:
        async with Net() as net:
            a = await net.start(creds("a"))
            assert a.transport.send("nobody", b"hello") is False
            a.transport.broadcast(b"to no one")  # nothing to do, nothing raised
            assert a.transport.stats()["frames_out"] == 0

    run(scenario())


def test_send_refuses_empty_and_oversized_frames() -> None:
    async def scenario() -> None:
        async with Net() as net:
            b = await net.start(creds("b"), max_frame_bytes=1000)
            a = await net.start(creds("a"), dial=[b], max_frame_bytes=1000)
            await linked(a, b)
            assert a.transport.send("b", b"") is False
            assert a.transport.send("b", b"x" * 1001) is False
            assert a.transport.send("b", b"x" * 1000) is True

    run(scenario())


def test_send_returns_false_when_the_peer_queue_is_full() -> None:
    async def scenario() -> None:
        async with Net() as net:
            b = await net.start(creds("b"))
            a = await net.start(creds("a"), dial=[b], send_queue_frames=2)
            await linked(a, b)
            # No await between the sends, so the writer task cannot drain the queue meanwhile.
            results = [a.transport.send("b", f"f{i}".encode()) for i in range(3)]
            assert results == [True, True, False]
            assert a.transport.stats()["frames_dropped"] == 1
            await wait_until(lambda: len(b.frames) == 2, "the two queued frames")
            assert a.transport.send("b", b"room again") is True

    run(scenario())


def test_send_returns_false_when_the_peer_queue_would_exceed_its_byte_bound() -> None:
    async def scenario() -> None:
        async with Net() as net:
            b = await net.start(creds("b"))
            a = await net.start(creds("a"), dial=[b], send_queue_bytes=10_000)
            await linked(a, b)
            # No await between the sends, so the writer task cannot drain the queue meanwhile.
            results = [a.transport.send("b", bytes([i]) * 4_000) for i in range(3)]
            assert results == [True, True, False]
            assert a.transport.stats()["frames_dropped"] == 1
            await wait_until(lambda: len(b.frames) == 2, "the two queued frames")
            assert a.transport.send("b", b"x" * 4_000) is True

    run(scenario())


def test_a_failing_frame_handler_does_not_break_the_link(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        async with Net() as net:
            b = await net.start(creds("b"))
            a = await net.start(creds("a"), dial=[b])
            await linked(a, b)
            seen: list[bytes] = []

            def handler(peer_id: str, frame: bytes) -> None:
                seen.append(frame)
                if frame == b"boom":
                    raise RuntimeError("handler bug")

            b.transport.on_frame = handler
            a.transport.send("b", b"boom")
            a.transport.send("b", b"still here")
            await wait_until(lambda: len(seen) == 2, "both frames at the handler")
            assert b.peers() == ["a"]

    with caplog.at_level(logging.ERROR, logger="trellis.p2p"):
        run(scenario())
    assert "on_frame handler failed" in caplog.text


def test_a_stopped_peer_that_comes_back_is_reconnected() -> None:
    async def scenario() -> None:
        async with Net() as net:
            b = await net.start(creds("b"))
            a = await net.start(creds("a"), dial=[b])
            await linked(a, b)
            port = b.port

            await b.transport.stop()
            await wait_until(lambda: a.peers() == [], "a notices b is gone")
            assert a.disconnects == ["b"]
            await wait_until(lambda: a.transport.stats()["dial_failures"] >= 2, "a retrying while b is down")

            b2 = await net.start(creds("b"), port=port)
            await linked(a, b2)
            assert a.connects == ["b", "b"]
            assert a.transport.send("b", b"welcome back")
            await wait_until(lambda: b2.frames == [("a", b"welcome back")], "a frame over the new link")

    run(scenario())


def test_disconnect_drops_the_peer_with_its_reason_and_backoff_reconnects(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        async with Net() as net:
            b = await net.start(creds("b"))
            a = await net.start(creds("a"), dial=[b])
            await linked(a, b)

            b.transport.disconnect("a", "sent an invalid vote")
            assert b.peers() == [] and b.disconnects == ["a"]
            assert b.transport.stats()["disconnects"] == {"disconnected": 1}
            await wait_until(lambda: a.disconnects == ["b"], "a sees the link drop")
            await wait_until(lambda: len(a.connects) == 2 and len(b.connects) == 2, "a redials b after backoff")
            await linked(a, b)

    with caplog.at_level(logging.WARNING, logger="trellis.p2p"):
        run(scenario())
    assert "sent an invalid vote" in caplog.text


def test_stop_closes_every_link_and_leaves_no_running_tasks() -> None:
    async def scenario() -> None:
        ours = asyncio.all_tasks()  # this test's own task and run()'s wrapper around it
        net = Net()
        c = await net.start(creds("c"))
        b = await net.start(creds("b"), dial=[c])
        # a also dials a peer that is down, so a dial loop is sleeping in backoff when we stop.
        a = await net.start(creds("a"), dial=[b, c], extra_peers=[PeerAddress("z", HOST, 9)])
        await linked(a, b, c)
        # A TCP client that never starts its TLS handshake keeps an inbound task waiting.
        _, silent = await asyncio.open_connection(HOST, c.port)
        a.transport.broadcast(b"x" * 100_000)

        await asyncio.gather(a.transport.stop(), b.transport.stop(), c.transport.stop())
        silent.close()

        assert [n.peers() for n in (a, b, c)] == [[], [], []]
        assert asyncio.all_tasks() == ours
        assert a.transport.send("b", b"after stop") is False
        await a.transport.stop()  # idempotent

    run(scenario())


def test_constructor_refuses_a_certificate_for_another_node() -> None:
    other = creds("b")
    with pytest.raises(CertError, match="names node 'b'"):
        TlsTransport("a", HOST, 0, [], other.ca_bundle, other.cert_pem, other.key_pem)


def test_constructor_refuses_a_certificate_no_member_ca_issued() -> None:
    outsider = creds("a", "initech")
    with pytest.raises(CertError, match="no CA in the bundle issued"):
        TlsTransport("a", HOST, 0, [], creds("b").ca_bundle, outsider.cert_pem, outsider.key_pem)


def test_constructor_refuses_a_dialed_peer_outside_the_allowed_ids() -> None:
    node = creds("a")
    with pytest.raises(ValueError, match="not in allowed_node_ids"):
        TlsTransport(
            "a",
            HOST,
            0,
            [PeerAddress("b", HOST, 1)],
            node.ca_bundle,
            node.cert_pem,
            node.key_pem,
            allowed_node_ids={"a"},
        )


def test_constructor_reads_pem_files(tmp_path: Path) -> None:
    node = creds("a")
    (tmp_path / "ca.pem").write_bytes(node.ca_bundle)
    (tmp_path / "cert.pem").write_bytes(node.cert_pem)
    (tmp_path / "key.pem").write_bytes(node.key_pem)
    transport = TlsTransport("a", HOST, 0, [], tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem")
    assert transport.node_id == "a"
