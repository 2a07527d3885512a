"""The node-to-node network: the ``Transport`` port and its TCP + mutual TLS 1.3 implementation.

Lives here: ``Transport`` (the port the node drives: framed, authenticated links to peers named by node id),
``TlsTransport`` (asyncio TCP with mutual TLS 1.3, membership = the member organisations' CA certificates,
identity = the node id in a peer's certificate), and ``PeerAddress`` (a peer's id and ``host:port``).
Certificates themselves are made and read in ``trellis.keys.certs``.

May import: ``trellis.core`` and ``trellis.keys`` (and the standard library, ``cryptography``). Never imports
``trellis.node``, ``trellis.api`` or ``trellis.cli``: the node owns a transport, not the other way round.
"""

from trellis.p2p.address import PeerAddress
from trellis.p2p.tcp import ACCEPT_PREAMBLE, MAX_FRAME_LIMIT, TlsTransport, TransportStats
from trellis.p2p.transport import FrameHandler, PeerHandler, Transport, ignore_frame, ignore_peer

__all__ = [
    "ACCEPT_PREAMBLE",
    "MAX_FRAME_LIMIT",
    "FrameHandler",
    "PeerAddress",
    "PeerHandler",
    "TlsTransport",
    "Transport",
    "TransportStats",
    "ignore_frame",
    "ignore_peer",
]
