"""The peer transport of a node home: mutual TLS with the certificate authorities of the genesis's member
organisations (``assembly`` for a running node, ``statesync`` for the sync phase before it)."""

from __future__ import annotations

from trellis.core.params import ChainParams
from trellis.node.config import ConfigError, NodeConfig
from trellis.node.home import Home
from trellis.p2p.address import PeerAddress
from trellis.p2p.tcp import TlsTransport


def peer_transport(
    home: Home,
    cfg: NodeConfig,
    params: ChainParams,
    *,
    backoff_initial_s: float = 0.1,
    backoff_max_s: float = 5.0,
) -> TlsTransport:
    """A ``TlsTransport`` for ``[p2p]`` of ``cfg``: its node id, address, peers, certificate and key, trusting the
    genesis organisations' CAs (``backoff_*``: the redial delay starts at the first and doubles up to the second).

    Raises:
        ConfigError: ``[p2p] node_id`` unset, no member organisations, a bad peer address, or an unreadable
            certificate or key (the message names it).
    """
    p2p = cfg.p2p
    if not p2p.node_id:
        raise ConfigError(f"{home.config}: [p2p] node_id must be set to talk to peers")
    ca_bundle = "".join(org.ca_cert for org in params.genesis.orgs).encode()
    if not ca_bundle:
        raise ConfigError("the genesis names no member organisations ([orgs]): peers cannot be authenticated")
    try:
        peers = [PeerAddress.parse(p) for p in p2p.peers]
        cert = (home.root / p2p.cert).read_bytes()
        key = (home.root / p2p.key).read_bytes()
    except ValueError as exc:
        raise ConfigError(f"{home.config}: [p2p] peers: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read the node's TLS certificate or key: {exc}") from exc
    return TlsTransport(
        p2p.node_id,
        p2p.host,
        p2p.port,
        peers,
        ca_bundle,
        cert,
        key,
        max_frame_bytes=p2p.max_frame_bytes,
        backoff_initial_s=backoff_initial_s,
        backoff_max_s=backoff_max_s,
    )
