"""The ``Transport`` port: authenticated, framed, point-to-point links between the nodes of one network."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

__all__ = ["FrameHandler", "PeerHandler", "Transport", "ignore_frame", "ignore_peer"]

FrameHandler = Callable[[str, bytes], None]
"""Called with ``(peer id, frame payload)`` for every frame a peer sends."""

PeerHandler = Callable[[str], None]
"""Called with a peer id when that peer connects or disconnects."""


def ignore_frame(peer_id: str, frame: bytes) -> None:
    """The default ``on_frame``: drop the frame."""


def ignore_peer(peer_id: str) -> None:
    """The default ``on_peer_connected`` and ``on_peer_disconnected``: do nothing."""


class Transport(Protocol):
    """Framed messages between this node and its authenticated peers.

    A peer is named by its node id, which the transport has authenticated (for TLS: the id in the peer's
    certificate). Frames are opaque, non-empty byte strings up to an implementation limit, delivered to a
    connected peer in the order they were sent; a frame queued for a peer that disconnects may be lost, so the
    layers above must tolerate loss (consensus retransmits, block sync re-requests).

    The owner sets the three handlers before ``start()``. They run on the event loop, must not block, and may
    call ``send``, ``broadcast`` and ``disconnect``; an exception raised by a handler is logged and does not
    affect the connection.

    Attributes:
        node_id: this node's id.
        on_frame: called as ``on_frame(peer_id, payload)`` for each frame received (default: drop it).
        on_peer_connected: called with the peer id once a peer is connected and authenticated (default: no-op).
        on_peer_disconnected: called with the peer id when a connected peer goes away (default: no-op).
    """

    node_id: str
    on_frame: FrameHandler
    on_peer_connected: PeerHandler
    on_peer_disconnected: PeerHandler

    async def start(self) -> None:
        """Start listening and dialing the configured peers."""
        ...

    async def stop(self) -> None:
        """Close every connection and the listener and cancel every task the transport started."""
        ...

    def send(self, peer_id: str, frame: bytes) -> bool:
        """Queue ``frame`` for one peer. Returns False, without blocking or raising, when the peer is not
        connected, its send queue is full, or the frame is empty or too large."""
        ...

    def broadcast(self, frame: bytes) -> None:
        """Queue ``frame`` for every connected peer (a peer whose queue is full misses it)."""
        ...

    def connected_peers(self) -> list[str]:
        """The ids of the peers connected now, sorted."""
        ...

    def disconnect(self, peer_id: str, reason: str) -> None:
        """Drop a misbehaving peer now (logged with ``reason``); it may connect again later, after backoff."""
        ...
