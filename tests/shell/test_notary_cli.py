"""``trellis notary verify`` on the receipt test vectors: VALID with height and UTC time (exit 0), or the named
failed check (exit 1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.notary_fixture import VECTOR_DIR
from trellis.cli.main import main
from trellis.notary.receipt import decode_receipt

GENESIS = str(VECTOR_DIR / "genesis.json")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["notary", "verify", *args, "--genesis", GENESIS])
    return code, capsys.readouterr().out


def test_a_valid_receipt_and_its_file_print_valid_with_height_and_time(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, str(VECTOR_DIR / "file1.receipt.json"), str(VECTOR_DIR / "file1.bin"))
    assert code == 0
    assert out.startswith("VALID: anchored at height 1, time 2023-11-14T22:13:21.000Z (UTC)")


def test_the_binary_receipt_verifies_and_json_output_names_the_fields(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["notary", "verify", str(VECTOR_DIR / "file3.receipt.msgpack"), "--genesis", GENESIS, "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["valid"] and data["height"] == 1 and data["owner"] == "did:web:example.org"


def test_a_wrong_file_fails_file_digest(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, str(VECTOR_DIR / "file1.receipt.json"), str(VECTOR_DIR / "file0.bin"))
    assert code == 1 and out.startswith("INVALID: file_digest:")


def test_another_chains_receipt_fails_wrong_chain(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, str(VECTOR_DIR / "other-chain.receipt.json"))
    assert code == 1 and out.startswith("INVALID: wrong_chain:")


def test_a_flipped_signature_byte_fails_commit_certificate(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    raw = (VECTOR_DIR / "file0.receipt.msgpack").read_bytes()
    commit = decode_receipt(raw).commit
    data = bytearray(raw)
    data[raw.index(commit) + len(commit) - 10] ^= 0x01  # inside the last signature of the commit certificate
    bad = tmp_path / "bad.receipt.msgpack"
    bad.write_bytes(bytes(data))
    code, out = run(capsys, str(bad))
    assert code == 1 and out.startswith("INVALID: commit_certificate:")
