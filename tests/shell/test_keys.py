"""The file keystore and signers."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from trellis.core.crypto.suite import ED25519, address_of
from trellis.keys.signer import KeyStore, KeyStoreError, MemorySigner

SEED = bytes(range(32))


@pytest.fixture
def ks(tmp_path: Path) -> KeyStore:
    return KeyStore(tmp_path / "keys")


def test_create_writes_a_key_and_returns_its_public_facts(ks: KeyStore) -> None:
    info = ks.create("alice")
    assert info.name == "alice"
    assert len(info.public_key) == 32
    assert info.address == address_of(ED25519, info.public_key)
    assert not info.encrypted
    assert info.path == ks.directory / "alice.pem"
    assert info.path.exists()


def test_a_created_key_signs_verifiable_signatures(ks: KeyStore) -> None:
    info = ks.create("alice")
    signer = ks.signer("alice")
    assert signer.public_key == info.public_key
    assert ED25519.verify(info.public_key, b"message", signer.sign(b"message"))


def test_a_key_imported_from_a_seed_is_the_memory_signer_of_that_seed(ks: KeyStore) -> None:
    info = ks.create("imported", seed=SEED)
    assert info.public_key == MemorySigner(SEED).public_key


def test_key_files_are_readable_by_the_owner_only(ks: KeyStore) -> None:
    info = ks.create("alice")
    assert stat.S_IMODE(info.path.stat().st_mode) == 0o600


def test_list_returns_every_key_sorted_by_name(ks: KeyStore) -> None:
    ks.create("carol")
    ks.create("alice")
    ks.create("bob", passphrase=b"secret")
    assert [(i.name, i.encrypted) for i in ks.list()] == [("alice", False), ("bob", True), ("carol", False)]


def test_list_of_a_missing_directory_is_empty(ks: KeyStore) -> None:
    assert ks.list() == []


def test_info_shows_the_same_facts_as_create(ks: KeyStore) -> None:
    created = ks.create("alice")
    assert ks.info("alice") == created


def test_info_of_an_unencrypted_key_without_its_pub_file_recreates_it(ks: KeyStore) -> None:
    created = ks.create("alice")
    (ks.directory / "alice.pub").unlink()
    assert ks.info("alice").public_key == created.public_key
    assert (ks.directory / "alice.pub").exists()


def test_info_of_an_encrypted_key_without_its_pub_file_is_refused(ks: KeyStore) -> None:
    ks.create("alice", passphrase=b"secret")
    (ks.directory / "alice.pub").unlink()
    with pytest.raises(KeyStoreError, match="encrypted"):
        ks.info("alice")


def test_an_unknown_key_name_is_refused_naming_the_key(ks: KeyStore) -> None:
    with pytest.raises(KeyStoreError, match="no key named 'nobody'"):
        ks.signer("nobody")
    with pytest.raises(KeyStoreError, match="no key named 'nobody'"):
        ks.info("nobody")


def test_an_encrypted_key_is_written_encrypted(ks: KeyStore) -> None:
    info = ks.create("alice", passphrase=b"correct horse")
    assert info.encrypted
    assert b"ENCRYPTED" in info.path.read_bytes()


def test_an_encrypted_key_opens_with_its_passphrase(ks: KeyStore) -> None:
    info = ks.create("alice", passphrase=b"correct horse", seed=SEED)
    assert ks.signer("alice", b"correct horse").public_key == info.public_key


def test_an_encrypted_key_without_a_passphrase_says_a_passphrase_is_needed(ks: KeyStore) -> None:
    ks.create("alice", passphrase=b"correct horse")
    with pytest.raises(KeyStoreError, match="'alice' is encrypted: a passphrase is needed"):
        ks.signer("alice")


def test_an_encrypted_key_with_the_wrong_passphrase_is_refused(ks: KeyStore) -> None:
    ks.create("alice", passphrase=b"correct horse")
    with pytest.raises(KeyStoreError, match="wrong passphrase"):
        ks.signer("alice", b"battery staple")


def test_a_passphrase_given_for_an_unencrypted_key_is_refused_saying_the_key_is_not_encrypted(ks: KeyStore) -> None:
    ks.create("alice")
    with pytest.raises(KeyStoreError, match="not encrypted"):
        ks.signer("alice", b"unneeded")


def test_a_damaged_key_file_is_refused(ks: KeyStore) -> None:
    info = ks.create("alice")
    info.path.write_bytes(b"-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n")
    with pytest.raises(KeyStoreError, match="damaged"):
        ks.signer("alice")


def test_creating_an_existing_key_is_refused_and_keeps_the_old_key(ks: KeyStore) -> None:
    first = ks.create("alice")
    pem = first.path.read_bytes()
    with pytest.raises(KeyStoreError, match="already exists"):
        ks.create("alice")
    assert first.path.read_bytes() == pem
    assert ks.info("alice").public_key == first.public_key


@pytest.mark.parametrize("name", ["", ".hidden", "-flag", "a/b", "../escape", "a b", "x" * 65, "ünïcode", "a\nb"])
def test_invalid_key_names_are_refused(ks: KeyStore, name: str) -> None:
    with pytest.raises(KeyStoreError, match="invalid key name"):
        ks.create(name)
    assert not ks.directory.exists() or list(ks.directory.iterdir()) == []


@pytest.mark.parametrize("name", ["a", "A9", "node-1", "val_0", "k.v", "x" * 64])
def test_valid_key_names_are_accepted(ks: KeyStore, name: str) -> None:
    assert ks.create(name).name == name


def test_signer_repr_does_not_contain_the_secret(ks: KeyStore) -> None:
    ks.create("alice", seed=SEED)
    signer = ks.signer("alice")
    text = repr(signer) + str(signer)
    assert SEED.hex() not in text
    assert signer._secret.hex() not in text  # type: ignore[attr-defined]
    assert signer.public_key.hex() in repr(signer)
