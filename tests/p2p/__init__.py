"""Tests of ``trellis.p2p`` and ``trellis.keys.certs``, and the helpers they share.

The transport tests use real sockets on 127.0.0.1 and real TLS. pytest-asyncio is not a dependency: each test
drives its coroutine with ``run``. Nothing waits by sleeping a fixed time: ``wait_until`` polls a condition under
a bounded timeout and fails with a message saying what did not happen.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import tempfile
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from trellis.keys.certs import create_org_ca, issue_node_cert, write_private_key
from trellis.p2p import PeerAddress, TlsTransport

T = TypeVar("T")

HOST = "127.0.0.1"
WAIT_S = 5.0
RUN_S = 20.0


def run(coro: Coroutine[Any, Any, T], timeout: float = RUN_S) -> T:
    """Run ``coro`` on a fresh event loop, bounded by ``timeout`` seconds."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def wait_until(condition: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    """Return once ``condition()`` holds; fail the test with ``what`` if it does not within ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for: {what}")
        await asyncio.sleep(0.005)


# -- certificates -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Org:
    """An organisation's CA."""

    name: str
    key_pem: bytes
    cert_pem: bytes


@dataclass(frozen=True)
class Creds:
    """A node's key and certificate, and the CA bundle it trusts."""

    node_id: str
    key_pem: bytes
    cert_pem: bytes
    ca_bundle: bytes


@functools.cache
def org(name: str) -> Org:
    """The CA of organisation ``name`` (made once per test session)."""
    key, cert = create_org_ca(name)
    return Org(name, key, cert)


def members() -> bytes:
    """The CA bundle of the test network: organisations ``acme`` and ``globex``."""
    return org("acme").cert_pem + org("globex").cert_pem


@functools.cache
def creds(node_id: str, org_name: str = "acme", trusts: bytes | None = None) -> Creds:
    """A certificate for ``node_id`` from ``org_name``'s CA, trusting ``trusts`` (the members by default)."""
    ca = org(org_name)
    key, cert = issue_node_cert(ca.key_pem, ca.cert_pem, org=org_name, node_id=node_id, role="validator")
    return Creds(node_id, key, cert, trusts if trusts is not None else members())


# -- transports -------------------------------------------------------------------------------------------------
@dataclass
class Node:
    """A started ``TlsTransport`` and what it has seen through its handlers."""

    transport: TlsTransport
    frames: list[tuple[str, bytes]] = field(default_factory=list)
    connects: list[str] = field(default_factory=list)
    disconnects: list[str] = field(default_factory=list)

    @property
    def node_id(self) -> str:
        return self.transport.node_id

    @property
    def port(self) -> int:
        return self.transport.port

    def address(self) -> PeerAddress:
        return PeerAddress(self.node_id, HOST, self.port)

    def frames_from(self, peer_id: str) -> list[bytes]:
        return [frame for sender, frame in self.frames if sender == peer_id]

    def peers(self) -> list[str]:
        return self.transport.connected_peers()


class Net:
    """Transports started on 127.0.0.1 inside one test; ``async with Net() as net`` stops them all on exit."""

    def __init__(self) -> None:
        self.nodes: list[Node] = []

    async def __aenter__(self) -> Net:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.gather(*(node.transport.stop() for node in self.nodes))

    async def start(
        self,
        node: Creds,
        dial: Iterable[Node] = (),
        *,
        port: int = 0,
        extra_peers: Iterable[PeerAddress] = (),
        **options: Any,
    ) -> Node:
        """Start a transport for ``node`` that knows the addresses of the started nodes ``dial``."""
        options.setdefault("backoff_initial_s", 0.02)
        options.setdefault("backoff_max_s", 0.2)
        transport = TlsTransport(
            node.node_id,
            HOST,
            port,
            [peer.address() for peer in dial] + list(extra_peers),
            node.ca_bundle,
            node.cert_pem,
            node.key_pem,
            **options,
        )
        started = Node(transport)
        transport.on_frame = lambda peer_id, frame: started.frames.append((peer_id, frame))
        transport.on_peer_connected = started.connects.append
        transport.on_peer_disconnected = started.disconnects.append
        self.nodes.append(started)
        await transport.start()
        return started


async def linked(*nodes: Node) -> None:
    """Wait until every pair of ``nodes`` is connected, both ways."""

    def all_linked() -> bool:
        return all({o.node_id for o in nodes if o is not n} <= set(n.peers()) for n in nodes)

    await wait_until(all_linked, f"{[n.node_id for n in nodes]} fully linked")


# -- a hand-driven TLS client -----------------------------------------------------------------------------------
def client_context(node: Creds) -> ssl.SSLContext:
    """A TLS 1.3 client context presenting ``node``'s certificate and trusting its CA bundle."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(cadata=node.ca_bundle.decode())
    with tempfile.TemporaryDirectory() as tmp:
        cert_path, key_path = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
        cert_path.write_bytes(node.cert_pem)
        write_private_key(key_path, node.key_pem)
        ctx.load_cert_chain(cert_path, key_path)
    return ctx


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    """Read until the server ends the connection (EOF, reset or TLS error); True once it has."""
    try:
        while await reader.read(65536):
            pass
    except OSError:
        pass
    return True
