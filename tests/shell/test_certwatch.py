"""CertWatcher: a node takes up a replaced TLS certificate without a restart, and ignores a broken one."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from trellis.keys.certs import CertError, create_org_ca, issue_node_cert
from trellis.node.certwatch import CertWatcher
from trellis.p2p import TlsTransport


class Recorder:
    """Stands in for the transport: records what it was asked to present."""

    def __init__(self) -> None:
        self.loaded: list[bytes] = []

    def reload_identity(self, cert_pem: bytes, key_pem: bytes) -> None:
        if b"BROKEN" in cert_pem:
            raise CertError("the certificate does not load")
        self.loaded.append(cert_pem)


def _write(path: Path, data: bytes, bump: int) -> None:
    path.write_bytes(data)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + bump))  # mtime granularity must not hide the change


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "node.crt", tmp_path / "node.key"
    cert.write_bytes(b"first cert")
    key.write_bytes(b"first key")
    return cert, key


def test_unchanged_files_are_not_reloaded(files: tuple[Path, Path]) -> None:
    rec = Recorder()
    watcher = CertWatcher(rec, *files, interval_s=1)
    assert watcher.check() is False and rec.loaded == []


def test_replaced_files_are_taken_up_once(files: tuple[Path, Path]) -> None:
    rec = Recorder()
    watcher = CertWatcher(rec, *files, interval_s=1)
    _write(files[0], b"second cert", 10_000_000)
    _write(files[1], b"second key", 10_000_000)
    assert watcher.check() is True
    assert watcher.check() is False
    assert rec.loaded == [b"second cert"] and watcher.reloads == 1


def test_a_replacement_that_does_not_load_is_ignored_and_logged(files: tuple[Path, Path], caplog) -> None:
    caplog.set_level(logging.WARNING, logger="trellis.node")
    rec = Recorder()
    watcher = CertWatcher(rec, *files, interval_s=1)
    _write(files[0], b"BROKEN cert", 10_000_000)
    assert watcher.check() is False
    assert rec.loaded == [] and "not taken up" in caplog.text


def test_a_real_transport_refuses_a_certificate_for_another_node(tmp_path: Path) -> None:
    ca_key, ca_cert = create_org_ca("acme")
    key, cert = issue_node_cert(ca_key, ca_cert, org="acme", node_id="n1")
    transport = TlsTransport("n1", "127.0.0.1", 0, [], ca_cert, cert, key)
    other_key, other_cert = issue_node_cert(ca_key, ca_cert, org="acme", node_id="n2")
    (tmp_path / "c").write_bytes(cert)
    (tmp_path / "k").write_bytes(key)
    watcher = CertWatcher(transport, tmp_path / "c", tmp_path / "k", interval_s=1)
    _write(tmp_path / "c", other_cert, 10_000_000)
    _write(tmp_path / "k", other_key, 10_000_000)
    assert watcher.check() is False  # kept its own certificate: the new one names node n2
    new_key, new_cert = issue_node_cert(ca_key, ca_cert, org="acme", node_id="n1")
    _write(tmp_path / "c", new_cert, 20_000_000)
    _write(tmp_path / "k", new_key, 20_000_000)
    assert watcher.check() is True
