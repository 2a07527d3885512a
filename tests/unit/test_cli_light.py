"""The CLI's light-client proofs (``trellis light verify``, and the from-genesis check behind ``query block
--verify``, ``query state --prove`` and ``did resolve --proof``) against a node faked in-process, serving the
light-client vector chain (five validator-set changes, real signatures) in the REST shapes of api-json.md."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from tests.vectors.light_client_vectors import Chain, build_chain, genesis, sign_commit
from trellis.api.types import commit_json, header_json
from trellis.api.validators import set_change_json
from trellis.cli import main as cli
from trellis.cli.client import ClientError
from trellis.cli.light import parse_duration_ms, parse_trusted
from trellis.cli.main import main
from trellis.core.crypto.suite import ED25519, address_of
from trellis.core.ledger.block import block_hash


class FakeNode:
    """Answers the GETs a light client makes, from ``chain``; ``alter(path, answer)`` may rewrite an answer."""

    def __init__(self, chain: Chain, alter: Callable[[str, Any], Any] | None = None) -> None:
        self.chain = chain
        self.alter = alter or (lambda _p, a: a)
        self.paths: list[str] = []

    def get(self, path: str) -> Any:
        self.paths.append(path)
        return self.alter(path, json.loads(json.dumps(self._answer(path))))

    def _answer(self, path: str) -> Any:
        c = self.chain
        if path == "/v1/status":
            return {"height": c.latest_height()}
        if path.startswith("/v1/blocks/"):
            n = int(path.rsplit("/", 1)[1])
            if n not in c.headers:
                raise ClientError(f"no block {n}", "not_found", 404)
            return {
                "block_id": "0x" + block_hash(ED25519, c.headers[n]).hex(),
                "header": msgspec.to_builtins(header_json(c.headers[n])),
                "commit": msgspec.to_builtins(commit_json(c.commits[n])),
                "txs": [],
            }
        if path.startswith("/v1/validators/changes?to_height="):
            n = int(path.rsplit("=", 1)[1])
            return {"to_height": n, "changes": [msgspec.to_builtins(set_change_json(x)) for x in c.changes_to(n)]}
        if path.startswith("/v1/validators?height="):
            n = int(path.rsplit("=", 1)[1])
            return {
                "height": n,
                "validators": [
                    {
                        "address": "0x" + address_of(ED25519, v.public_key).hex(),
                        "public_key": "0x" + v.public_key.hex(),
                        "power": v.power,
                        "name": v.name,
                        "org": "",
                    }
                    for v in c.sets[n].validators
                ],
            }
        raise ClientError(f"unknown path {path}", "not_found", 404)


@pytest.fixture(scope="module")
def chain() -> Chain:
    return build_chain()


@pytest.fixture
def genesis_file(tmp_path: Path) -> Path:
    p = tmp_path / "genesis.json"
    p.write_bytes(msgspec.json.encode(genesis()))
    return p


def _light(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], node: FakeNode, *argv: str
) -> tuple[int, dict[str, Any]]:
    monkeypatch.setattr(cli, "_client", lambda _args: node)
    capsys.readouterr()
    code = main(["light", "verify", "--json", *argv])
    return code, json.loads(capsys.readouterr().out)


def test_light_verify_from_genesis_through_every_change(monkeypatch, capsys, chain, genesis_file) -> None:
    node = FakeNode(chain)
    code, out = _light(monkeypatch, capsys, node, "--genesis", str(genesis_file))
    assert code == 0 and out["verified"] and out["height"] == 12 and out["set_changes"] == 5
    assert out["block_id"] == "0x" + block_hash(ED25519, chain.headers[12]).hex()
    assert "/v1/validators/changes?to_height=12" in node.paths


def test_light_verify_text_output(monkeypatch, capsys, chain, genesis_file) -> None:
    monkeypatch.setattr(cli, "_client", lambda _args: FakeNode(chain))
    capsys.readouterr()
    assert main(["light", "verify", "--genesis", str(genesis_file), "--height", "7"]) == 0
    assert capsys.readouterr().out.startswith("VERIFIED height 7 block 0x")


def test_light_verify_fails_when_a_change_is_left_out(monkeypatch, capsys, chain, genesis_file) -> None:
    def drop_second(path: str, answer: Any) -> Any:
        if "changes" in path:
            answer["changes"] = answer["changes"][:1] + answer["changes"][2:]
        return answer

    code, out = _light(monkeypatch, capsys, FakeNode(chain, drop_second), "--genesis", str(genesis_file))
    assert code == 1 and out == {"verified": False, "code": "validator_changes", "reason": out["reason"]}


def test_light_verify_fails_on_a_commit_signed_by_retired_validators(monkeypatch, capsys, chain, genesis_file) -> None:
    forged = sign_commit(chain.headers[12], ["v0", "v1", "v2", "v3"])  # the genesis keys; v0, v2 retired

    def swap(path: str, answer: Any) -> Any:
        if path == "/v1/blocks/12":
            answer["commit"] = msgspec.to_builtins(commit_json(forged))
        return answer

    code, out = _light(monkeypatch, capsys, FakeNode(chain, swap), "--genesis", str(genesis_file))
    assert code == 1 and out["code"] == "invalid_commit"


def test_light_verify_skipping_from_a_trusted_header(monkeypatch, capsys, chain, genesis_file) -> None:
    trusted = f"1:{block_hash(ED25519, chain.headers[1]).hex()}"
    monkeypatch.setattr("time.time", lambda: (chain.headers[12].time_ms + 60_000) / 1000)
    code, out = _light(monkeypatch, capsys, FakeNode(chain), "--genesis", str(genesis_file), "--trusted", trusted)
    assert code == 0 and out["height"] == 12 and out["steps"] == [6, 12]


def test_light_verify_trusted_header_past_the_trusting_period_is_expired(
    monkeypatch, capsys, chain, genesis_file
) -> None:
    trusted = f"1:0x{block_hash(ED25519, chain.headers[1]).hex()}"
    monkeypatch.setattr("time.time", lambda: (chain.headers[1].time_ms + 86_400_000) / 1000)
    code, out = _light(
        monkeypatch,
        capsys,
        FakeNode(chain),
        "--genesis",
        str(genesis_file),
        "--trusted",
        trusted,
        "--trusting-period",
        "1d",
    )
    assert code == 1 and out["code"] == "expired"


def test_light_verify_refuses_a_trusted_id_the_node_does_not_have(monkeypatch, capsys, chain, genesis_file) -> None:
    code, out = _light(
        monkeypatch, capsys, FakeNode(chain), "--genesis", str(genesis_file), "--trusted", "1:" + "ab" * 32
    )
    assert code == 1 and out["code"] == "invalid_header"


def test_light_verify_a_height_the_node_lacks_is_provider(monkeypatch, capsys, chain, genesis_file) -> None:
    code, out = _light(monkeypatch, capsys, FakeNode(chain), "--genesis", str(genesis_file), "--height", "99")
    assert code == 1 and out["code"] == "provider"


def test_verify_header_final_goes_through_the_set_changes(chain, genesis_file) -> None:
    from trellis.core.params import load_genesis

    params = load_genesis(genesis_file.read_bytes())
    node = FakeNode(chain)
    cli.verify_header_final(node, params, chain.headers[10])  # type: ignore[arg-type]
    assert node.paths == ["/v1/blocks/10", "/v1/validators/changes?to_height=10"]

    def empty(path: str, answer: Any) -> Any:
        return {**answer, "changes": []} if "changes" in path else answer

    with pytest.raises(cli.ProofFailure) as exc:
        cli.verify_header_final(FakeNode(chain, empty), params, chain.headers[10])  # type: ignore[arg-type]
    assert exc.value.check == "commit_certificate"

    def garbled(path: str, answer: Any) -> Any:
        if "changes" in path:
            answer["changes"][0]["next_validators"] = "0x00"
        return answer

    with pytest.raises(cli.ProofFailure) as exc:
        cli.verify_header_final(FakeNode(chain, garbled), params, chain.headers[10])  # type: ignore[arg-type]
    assert exc.value.check == "validator_changes"

    def drop_first(path: str, answer: Any) -> Any:
        return {**answer, "changes": answer["changes"][1:]} if "changes" in path else answer

    with pytest.raises(cli.ProofFailure) as exc:
        cli.verify_header_final(FakeNode(chain, drop_first), params, chain.headers[10])  # type: ignore[arg-type]
    assert exc.value.check == "validator_changes"


def test_query_block_verify_follows_the_set_changes(monkeypatch, capsys, chain, genesis_file) -> None:
    monkeypatch.setattr(cli, "_client", lambda _args: FakeNode(chain))
    capsys.readouterr()
    assert main(["query", "block", "12", "--verify", "--json", "--genesis", str(genesis_file)]) == 0
    assert json.loads(capsys.readouterr().out)["finality_verified"] is True

    def drop_last(path: str, answer: Any) -> Any:
        return {**answer, "changes": answer["changes"][:-1]} if "changes" in path else answer

    monkeypatch.setattr(cli, "_client", lambda _args: FakeNode(chain, drop_last))
    assert main(["query", "block", "12", "--verify", "--json", "--genesis", str(genesis_file)]) == 1
    assert json.loads(capsys.readouterr().out)["finality_verified"] is False


def test_light_verify_refuses_a_trusted_set_other_than_the_headers(monkeypatch, capsys, chain, genesis_file) -> None:
    trusted = f"1:{block_hash(ED25519, chain.headers[1]).hex()}"

    def other_set(path: str, answer: Any) -> Any:
        if path == "/v1/validators?height=1":
            answer["validators"] = answer["validators"][:3]
        return answer

    code, out = _light(
        monkeypatch, capsys, FakeNode(chain, other_set), "--genesis", str(genesis_file), "--trusted", trusted
    )
    assert code == 1 and out["code"] == "validators_mismatch"


def test_duration_and_trusted_arguments() -> None:
    assert parse_duration_ms("14d") == 14 * 86_400_000 and parse_duration_ms("500ms") == 500
    for bad in ("", "0d", "14", "1w", "-1d"):
        with pytest.raises(ValueError):
            parse_duration_ms(bad)
    assert parse_trusted("3:0x" + "0f" * 32) == (3, bytes.fromhex("0f" * 32))
    for bad in ("3", "0:" + "00" * 32, "x:" + "00" * 32, "3:abcd"):
        with pytest.raises(ValueError):
            parse_trusted(bad)
