"""The PKCS#11 signer against a real SoftHSM2 token: keys are made in the token and never leave it, their
signatures verify under the chain's Ed25519 rules, and every failure is a precise ``HsmError`` that never
quotes the PIN.

The tokens live in a temporary directory of their own (``SOFTHSM2_CONF`` points at a config naming it).
SoftHSM2 reads that config and its token directory when the module is initialised, so all tokens are made
first and the module is (re)initialised afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from trellis.cli.main import main as cli_main
from trellis.core.crypto.suite import ED25519
from trellis.core.ledger.votes import PRECOMMIT, Vote, vote_signing_bytes
from trellis.keys.pkcs11 import (
    DEFAULT_MODULE,
    HsmError,
    Pkcs11Signer,
    generate_ed25519_key,
    load_module,
    read_pin_file,
)
from trellis.node.assembly import validator_signer
from trellis.node.config import ConfigError, NodeConfig, SignerSection, load_config
from trellis.node.home import Home
from trellis.node.privval import PrivValidator
from trellis.node.wal import MemoryWal

# In CI (`make test` installs SoftHSM2 first) these tests never skip: a missing install step fails them.
SOFTHSM_ABSENT = shutil.which("softhsm2-util") is None or not Path(DEFAULT_MODULE).is_file()
pytestmark = pytest.mark.skipif(
    SOFTHSM_ABSENT and not os.environ.get("CI"),
    reason="SoftHSM2 is not installed (`make hsm-tools` installs Debian softhsm2)",
)

PIN = "4711-user"
SO_PIN = "0815-so"
TOKEN = "trellis-test"
PIN_TOKEN = "trellis-pin"  # only ever opened with a wrong PIN: PKCS#11 logins are shared per process and token


def _init_token(label: str) -> None:
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", PIN, "--so-pin", SO_PIN],
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="module")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A SoftHSM2 configuration with two fresh tokens; yields the directory holding the PIN file ``pin``."""
    root = tmp_path_factory.mktemp("softhsm")
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    old = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    try:
        _init_token(TOKEN)
        _init_token(PIN_TOKEN)
        load_module(DEFAULT_MODULE).reinitialize()  # read this config and its tokens
        (root / "pin").write_text(PIN + "\n")
        yield root
    finally:
        if old is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = old


@pytest.fixture(scope="module")
def signer(softhsm: Path) -> Iterator[Pkcs11Signer]:
    generate_ed25519_key(DEFAULT_MODULE, TOKEN, "validator", PIN)
    s = Pkcs11Signer(DEFAULT_MODULE, TOKEN, "validator", PIN)
    yield s
    s.close()


def test_a_key_made_in_the_token_signs_and_its_signatures_verify_under_the_chain_suite(softhsm: Path) -> None:
    public = generate_ed25519_key(DEFAULT_MODULE, TOKEN, "signs", PIN)
    signer = Pkcs11Signer(DEFAULT_MODULE, TOKEN, "signs", PIN)
    try:
        assert signer.public_key == public and len(public) == 32
        message = b"a vote, say"
        signature = signer.sign(message)
        assert len(signature) == 64
        assert ED25519.verify(public, message, signature)
        assert not ED25519.verify(public, message + b"!", signature)
        assert signer.sign(message) == signature  # Ed25519 is deterministic
    finally:
        signer.close()


def test_the_private_key_is_sensitive_and_cannot_be_extracted(signer: Pkcs11Signer) -> None:
    import pkcs11
    from pkcs11 import Attribute, KeyType, ObjectClass

    token = load_module(DEFAULT_MODULE).get_token(token_label=TOKEN)
    with token.open() as session:  # the signer fixture has logged this process in
        key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, key_type=KeyType.EC_EDWARDS, label="validator")
        assert key[Attribute.SENSITIVE] is True
        assert key[Attribute.EXTRACTABLE] is False
        assert key[Attribute.NEVER_EXTRACTABLE] is True
        with pytest.raises(pkcs11.exceptions.AttributeSensitive):
            key[Attribute.VALUE]


def test_the_signer_signs_votes_for_the_private_validator(signer: Pkcs11Signer) -> None:
    privval = PrivValidator(ED25519, signer, MemoryWal())
    vote = Vote(chain_id="hsm-chain", kind=PRECOMMIT, height=3, round=0, block_hash=b"\x07" * 32)
    signed = privval.sign_vote(vote)
    assert signed is not None
    assert ED25519.verify(signer.public_key, vote_signing_bytes(vote), signed.signature)


def test_one_signer_is_safe_to_share_between_threads(signer: Pkcs11Signer) -> None:
    failures: list[bytes] = []

    def work(i: int) -> None:
        for j in range(100):
            message = f"{i}:{j}".encode()
            if not ED25519.verify(signer.public_key, message, signer.sign(message)):
                failures.append(message)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert failures == []


def test_a_wrong_pin_is_refused_with_a_message_that_does_not_quote_it(softhsm: Path) -> None:
    wrong = "not-the-pin-9431"
    with pytest.raises(HsmError, match=f"wrong PIN for token '{PIN_TOKEN}'") as info:
        Pkcs11Signer(DEFAULT_MODULE, PIN_TOKEN, "validator", wrong)
    assert wrong not in str(info.value) and PIN not in str(info.value)


def test_a_missing_key_is_named(softhsm: Path, signer: Pkcs11Signer) -> None:
    with pytest.raises(HsmError, match=f"no Ed25519 private key labelled 'absent' in token '{TOKEN}'"):
        Pkcs11Signer(DEFAULT_MODULE, TOKEN, "absent", PIN)


def test_an_unknown_token_is_named_with_the_tokens_there_are(softhsm: Path) -> None:
    with pytest.raises(HsmError, match=r"no token labelled 'elsewhere' .*tokens: .*'trellis-test'"):
        Pkcs11Signer(DEFAULT_MODULE, "elsewhere", "validator", PIN)


def test_a_missing_module_is_named(tmp_path: Path) -> None:
    with pytest.raises(HsmError, match="no PKCS#11 module at"):
        Pkcs11Signer(str(tmp_path / "libnothing.so"), TOKEN, "validator", PIN)


def test_a_file_that_is_not_a_pkcs11_module_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "libbogus.so"
    bogus.write_bytes(b"not a shared object")
    with pytest.raises(HsmError, match="cannot load PKCS#11 module"):
        load_module(str(bogus))


def test_a_second_key_with_a_label_already_used_is_refused(signer: Pkcs11Signer) -> None:
    with pytest.raises(HsmError, match=f"token '{TOKEN}' already holds an object labelled 'validator'"):
        generate_ed25519_key(DEFAULT_MODULE, TOKEN, "validator", PIN)


def test_repr_shows_the_key_and_never_the_pin(signer: Pkcs11Signer) -> None:
    text = repr(signer)
    assert signer.public_key.hex() in text and PIN not in text


def test_pin_files_are_read_without_their_newline_and_bad_ones_are_refused(tmp_path: Path) -> None:
    (tmp_path / "pin").write_text("1234\n")
    assert read_pin_file(tmp_path / "pin") == "1234"
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(HsmError, match="is empty"):
        read_pin_file(tmp_path / "empty")
    with pytest.raises(HsmError, match="cannot read PIN file"):
        read_pin_file(tmp_path / "missing")


def test_the_node_builds_its_validator_signer_from_a_pkcs11_signer_section(softhsm: Path, signer: Pkcs11Signer) -> None:
    home = softhsm / "home"
    home.mkdir(exist_ok=True)
    (home / "hsm.pin").write_text(PIN)
    section = SignerSection(kind="pkcs11", token_label=TOKEN, key_label="validator", pin_file="hsm.pin")
    built = validator_signer(Home(home), NodeConfig(signer=section))
    try:
        assert isinstance(built, Pkcs11Signer) and built.public_key == signer.public_key
    finally:
        built.close()


def test_a_pkcs11_signer_section_without_token_key_or_pin_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[signer]\nkind = "pkcs11"\ntoken_label = "t"\n')
    with pytest.raises(ConfigError, match=r'kind = "pkcs11" needs key_label, pin_file'):
        load_config(path)


def test_keys_hsm_new_prints_the_public_key_that_hsm_show_finds(
    softhsm: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--token", TOKEN, "--label", "cli-made", "--pin-file", str(softhsm / "pin"), "--json"]
    assert cli_main(["keys", "hsm-new", *common]) == 0
    import json

    made = json.loads(capsys.readouterr().out)
    assert cli_main(["keys", "hsm-show", *common]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert made["public_key"] == shown["public_key"] and len(made["public_key"]) == 2 + 64
    assert cli_main(["keys", "hsm-new", *common]) == 1
    assert "already holds an object labelled 'cli-made'" in capsys.readouterr().err
