"""Where a peer listens: ``PeerAddress`` and its ``ID@host:port`` text form."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from trellis.keys.certs import is_valid_node_id

__all__ = ["PeerAddress"]

_MAX_ADDRESS_CHARS = 512


@dataclass(frozen=True, slots=True)
class PeerAddress:
    """A peer's node id and the TCP address it listens on.

    ``node_id`` is the id its certificate must carry; ``host`` is a DNS name or an IP literal (IPv6 without
    brackets); ``port`` is 1-65535. Construction validates all three and raises ``ValueError`` with the reason.
    """

    node_id: str
    host: str
    port: int

    def __post_init__(self) -> None:
        if not is_valid_node_id(self.node_id):
            raise ValueError(
                f"invalid node id {self.node_id!r}: use 1-64 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        if not isinstance(self.host, str) or not self.host or any(c.isspace() for c in self.host):
            raise ValueError(f"invalid host {self.host!r}: it must be a non-empty name or IP address without spaces")
        if "[" in self.host or "]" in self.host or "@" in self.host or "/" in self.host:
            raise ValueError(f"invalid host {self.host!r}: write IPv6 addresses without brackets here")
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 1 <= self.port <= 65535:
            raise ValueError(f"invalid port {self.port!r}: it must be an integer from 1 to 65535")

    @classmethod
    def parse(cls, text: str) -> PeerAddress:
        """Parse ``"ID@host:port"`` (``"ID@[::1]:port"`` for IPv6) into a ``PeerAddress``.

        Raises:
            ValueError: the text is not of that form; the message names the part that is wrong.
        """
        if not isinstance(text, str):
            raise ValueError(f"a peer address must be a string like 'node1@10.0.0.1:26656', got {type(text).__name__}")
        if len(text) > _MAX_ADDRESS_CHARS:
            raise ValueError(f"peer address of {len(text)} characters is too long (limit {_MAX_ADDRESS_CHARS})")
        raw = text.strip()
        node_id, at, hostport = raw.partition("@")
        if not at:
            raise ValueError(f"peer address {text!r} has no '@': expected 'ID@host:port'")
        if not node_id:
            raise ValueError(f"peer address {text!r} has an empty node id before '@': expected 'ID@host:port'")
        if hostport.startswith("["):
            close = hostport.find("]")
            if close < 0:
                raise ValueError(f"peer address {text!r} has an unclosed '[': expected 'ID@[ipv6]:port'")
            host, rest = hostport[1:close], hostport[close + 1 :]
            try:
                ipaddress.IPv6Address(host)
            except ValueError:
                raise ValueError(f"peer address {text!r}: {host!r} inside brackets is not an IPv6 address") from None
            if not rest.startswith(":"):
                raise ValueError(f"peer address {text!r} has no ':port' after the IPv6 address")
            port_text = rest[1:]
        else:
            host, colon, port_text = hostport.rpartition(":")
            if not colon:
                raise ValueError(f"peer address {text!r} has no ':port': expected 'ID@host:port'")
            if ":" in host:
                raise ValueError(f"peer address {text!r}: put an IPv6 address in brackets, as 'ID@[::1]:port'")
        if not host:
            raise ValueError(f"peer address {text!r} has an empty host: expected 'ID@host:port'")
        if not port_text.isdigit() or not port_text.isascii():
            raise ValueError(f"peer address {text!r}: port {port_text!r} is not a number")
        return cls(node_id=node_id, host=host, port=int(port_text))

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.node_id}@{host}:{self.port}"
