"""Peer addresses in their ``ID@host:port`` text form."""

from __future__ import annotations

import pytest

from trellis.p2p import PeerAddress


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("val-1@10.0.0.1:26656", PeerAddress("val-1", "10.0.0.1", 26656)),
        ("n.2@node2.example.org:1", PeerAddress("n.2", "node2.example.org", 1)),
        ("n3@[::1]:65535", PeerAddress("n3", "::1", 65535)),
        ("  n4@localhost:80\n", PeerAddress("n4", "localhost", 80)),
    ],
)
def test_parse_reads_id_host_and_port(text: str, expected: PeerAddress) -> None:
    assert PeerAddress.parse(text) == expected


@pytest.mark.parametrize("text", ["val-1@10.0.0.1:26656", "n3@[::1]:65535"])
def test_str_is_the_parseable_form(text: str) -> None:
    assert str(PeerAddress.parse(text)) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("10.0.0.1:26656", "no '@'"),
        ("@10.0.0.1:26656", "empty node id"),
        ("bad id@10.0.0.1:1", "invalid node id"),
        ("n@10.0.0.1", "no ':port'"),
        ("n@:26656", "empty host"),
        ("n@10.0.0.1:", "is not a number"),
        ("n@10.0.0.1:http", "is not a number"),
        ("n@10.0.0.1:0", "from 1 to 65535"),
        ("n@10.0.0.1:70000", "from 1 to 65535"),
        ("n@::1:80", "in brackets"),
        ("n@[::1:80", "unclosed"),
        ("n@[nothost]:80", "not an IPv6 address"),
        ("n@[::1]80", "no ':port'"),
        ("n@" + "h" * 600 + ":1", "too long"),
    ],
)
def test_parse_says_which_part_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PeerAddress.parse(text)


def test_constructor_validates_its_fields() -> None:
    with pytest.raises(ValueError, match="invalid port"):
        PeerAddress("n", "h", True)
    with pytest.raises(ValueError, match="invalid host"):
        PeerAddress("n", "a b", 1)
