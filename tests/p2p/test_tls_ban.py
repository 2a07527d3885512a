"""``TlsTransport.ban`` (ADR 0018 section 3): a banned peer is disconnected at once and refused, both when it dials
and when we dial it, until the ban ends; then it links again."""

from __future__ import annotations

import asyncio

from . import Net, creds, linked, run, wait_until


def test_a_banned_peer_is_dropped_refused_for_the_ban_and_linked_again_after() -> None:
    async def scenario() -> None:
        async with Net() as net:
            a = await net.start(creds("ban-a"))
            b = await net.start(creds("ban-b"), dial=[a])  # b dials a (a sorts below b: a accepts)
            c = await net.start(creds("ban-c"), dial=[a])
            await linked(a, b)
            await linked(a, c)
            a.transport.ban("ban-b", 1.5, "sent a bad chunk")
            assert "ban-b" not in a.peers() and "ban-b" in a.transport.bans()
            await asyncio.sleep(0.8)  # b redials every <= 0.2 s meanwhile: each attempt is refused
            assert "ban-b" not in a.peers() and "ban-a" not in b.peers()
            assert "ban-c" in a.peers()  # only the banned peer is affected
            refused = a.transport.stats()["refused"]
            assert refused.get("banned", 0) >= 1, refused
            await wait_until(lambda: "ban-b" in a.peers(), "b linked again after its ban", timeout=5.0)
            assert a.transport.bans() == {}

    run(scenario())


def test_bans_are_bounded_and_a_longer_ban_is_kept() -> None:
    async def scenario() -> None:
        async with Net() as net:
            a = await net.start(creds("ban-x"))
            a.transport.ban("p", 100.0, "first")
            a.transport.ban("p", 1.0, "shorter: the longer ban stands")
            assert a.transport.bans()["p"] > 50
            for i in range(5000):
                a.transport.ban(f"q{i}", 50.0, "flood")
            assert len(a.transport.bans()) <= 4096
            assert "p" in a.transport.bans()  # the one ending last is not the one forgotten

    run(scenario())
