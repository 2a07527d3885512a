"""Both ends of a peer link run without Nagle's algorithm (TCP_NODELAY). asyncio sets it only on sockets whose
``proto`` is IPPROTO_TCP, which the accepted sockets of a ``socket.create_server`` listener are not; there, a vote
written while the previous one was unacknowledged waited for its ACK (on 50 ms links ~90 ms per consensus step:
tests/e2e/test_netns.py)."""

from __future__ import annotations

import socket

from . import Net, creds, linked, run


def test_both_ends_of_a_link_send_without_nagle() -> None:
    async def scenario() -> None:
        async with Net() as net:
            b = await net.start(creds("b"))
            a = await net.start(creds("a"), dial=[b])  # a dials, b accepts
            await linked(a, b)
            for node, peer in ((a, "b"), (b, "a")):
                link = node.transport._links[peer]
                sock = link.writer.get_extra_info("socket")
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0, (
                    f"{node.node_id}'s {'outbound' if link.outbound else 'accepted'} link to {peer} runs Nagle"
                )

    run(scenario())
