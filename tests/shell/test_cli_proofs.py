"""``query state --prove``, ``query block --verify`` and ``did resolve --proof`` trust a node only through a commit
certificate verified against a genesis the user holds: a node of another chain (same chain id, other validators)
or a node that alters its answer is caught, naming the failed check."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from trellis.cli.main import main
from trellis.node.home import init_home

from .conftest import ThreadedNode, node_config


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def other_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedNode]:
    """A second chain with the same chain id and dev accounts' names, but its own validator: a node that
    answers with self-consistent proofs of a chain the user does not trust."""
    root = tmp_path_factory.mktemp("other-chain")
    init_home(root)
    tn = ThreadedNode(root, node_config())
    try:
        yield tn
    finally:
        tn.close()


def _on(node: ThreadedNode, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    return _run(capsys, *argv, "--home", str(node.root), "--node", node.url)


@pytest.fixture(scope="module")
def did_of(threaded_node: ThreadedNode, other_chain: ThreadedNode) -> dict[str, str]:
    """A DID created with the CLI on each chain (which also puts both chains above height 0)."""
    import io
    from contextlib import redirect_stdout

    out: dict[str, str] = {}
    for name, node in (("ours", threaded_node), ("theirs", other_chain)):
        buf = io.StringIO()
        with redirect_stdout(buf):
            code = main(["did", "create", "--from", "alice", "--json", "--home", str(node.root), "--node", node.url])
        assert code == 0, buf.getvalue()
        out[name] = json.loads(buf.getvalue())["did"]
    return out


class Stub:
    """An HTTP server in front of a real node: GETs go to the node; ``alter(path, body)`` may rewrite the JSON
    answer of a path before it is served."""

    def __init__(self, upstream: str, alter: Callable[[str, Any], Any]) -> None:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                try:
                    with urllib.request.urlopen(upstream + self.path, timeout=10) as resp:
                        status, raw = resp.status, resp.read()
                except urllib.error.HTTPError as exc:
                    status, raw = exc.code, exc.read()
                body = json.dumps(stub.alter(self.path, json.loads(raw))).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.alter = alter
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub(threaded_node: ThreadedNode) -> Iterator[Callable[[Callable[[str, Any], Any]], Stub]]:
    made: list[Stub] = []

    def make(alter: Callable[[str, Any], Any]) -> Stub:
        made.append(Stub(threaded_node.url, alter))
        return made[-1]

    yield make
    for s in made:
        s.close()


# -- query state --prove ------------------------------------------------------------------------------------------
def test_state_proof_of_another_chain_fails_the_commit_certificate(
    capsys: pytest.CaptureFixture[str], threaded_node: ThreadedNode, other_chain: ThreadedNode, did_of: dict[str, str]
) -> None:
    # The other chain's node answers with a proof that is valid against its own header; only the commit
    # certificate, checked against our genesis' validators, can tell.
    code, out, _ = _run(
        capsys, "query", "state", "account:bob", "--prove", "--home", str(threaded_node.root), "--node", other_chain.url
    )
    assert code == 1
    assert "proof  INVALID: commit_certificate: " in out


def test_state_proof_verifies_against_a_genesis_file_given_explicitly(
    capsys: pytest.CaptureFixture[str],
    threaded_node: ThreadedNode,
    other_chain: ThreadedNode,
    did_of: dict[str, str],
    tmp_path: Path,
) -> None:
    query = ["query", "state", "account:alice", "--prove", "--node", other_chain.url, "--json"]
    query += ["--home", str(other_chain.root)]
    code, out, err = _run(capsys, *query, "--genesis", str(other_chain.root / "genesis.json"))
    assert code == 0, err
    assert json.loads(out)["verified"] is True
    code, out, _ = _run(capsys, *query, "--genesis", str(threaded_node.root / "genesis.json"))
    assert code == 1 and json.loads(out)["failed_check"] == "commit_certificate"


def test_state_proof_without_a_genesis_to_trust_fails_naming_genesis(
    capsys: pytest.CaptureFixture[str], threaded_node: ThreadedNode, did_of: dict[str, str], tmp_path: Path
) -> None:
    code, out, _ = _run(
        capsys, "query", "state", "kv:a:b", "--prove", "--home", str(tmp_path), "--node", threaded_node.url
    )
    assert code == 1 and "proof  INVALID: genesis: cannot read " in out and "--genesis" in out


def test_a_state_answer_with_a_changed_value_fails_the_state_proof(
    capsys: pytest.CaptureFixture[str], threaded_node: ThreadedNode, did_of: dict[str, str], stub: Any
) -> None:
    def alter(path: str, body: Any) -> Any:
        if path.startswith("/v1/state/") and body.get("value"):
            body["value"] = body["value"][:-2] + ("00" if body["value"][-2:] != "00" else "01")
        return body

    s = stub(alter)
    code, out, _ = _run(
        capsys, "query", "state", "account:alice", "--prove", "--home", str(threaded_node.root), "--node", s.url
    )
    assert code == 1 and "proof  INVALID: state_proof: " in out


def test_query_block_verify_of_another_chain_fails(
    capsys: pytest.CaptureFixture[str], threaded_node: ThreadedNode, other_chain: ThreadedNode, did_of: dict[str, str]
) -> None:
    code, out, _ = _run(
        capsys, "query", "block", "1", "--verify", "--home", str(threaded_node.root), "--node", other_chain.url
    )
    assert code == 1 and "NOT VERIFIED: commit_certificate: " in out


# -- did resolve --proof ------------------------------------------------------------------------------------------
def test_did_resolve_proof_verifies_an_honest_answer(
    capsys: pytest.CaptureFixture[str], threaded_node: ThreadedNode, did_of: dict[str, str]
) -> None:
    code, out, err = _on(threaded_node, capsys, "did", "resolve", did_of["ours"], "--proof")
    assert code == 0, err
    assert json.loads(out)["didDocument"]["id"] == did_of["ours"]
    assert err.startswith("proof verified: ")


def test_did_resolve_proof_of_another_chain_fails_the_commit_certificate(
    capsys: pytest.CaptureFixture[str], threaded_node: ThreadedNode, other_chain: ThreadedNode, did_of: dict[str, str]
) -> None:
    code, _, err = _run(
        capsys,
        "did",
        "resolve",
        did_of["theirs"],
        "--proof",
        "--home",
        str(threaded_node.root),
        "--node",
        other_chain.url,
    )
    assert code == 1 and err.startswith("error: proof INVALID: commit_certificate: ")


def test_did_resolve_proof_catches_a_document_the_proofs_do_not_give(
    capsys: pytest.CaptureFixture[str], threaded_node: ThreadedNode, did_of: dict[str, str], stub: Any
) -> None:
    def alter(path: str, body: Any) -> Any:
        if path.startswith("/1.0/identifiers/"):
            body["didDocument"]["verificationMethod"][0]["publicKeyMultibase"] = "z6MkAttackerKey"
        return body

    s = stub(alter)
    code, _, err = _run(
        capsys, "did", "resolve", did_of["ours"], "--proof", "--home", str(threaded_node.root), "--node", s.url
    )
    assert code == 1 and err.startswith("error: proof INVALID: resolution: ")


def test_did_resolve_proof_catches_a_changed_proven_value(
    capsys: pytest.CaptureFixture[str], threaded_node: ThreadedNode, did_of: dict[str, str], stub: Any
) -> None:
    def alter(path: str, body: Any) -> Any:
        if path.startswith("/1.0/identifiers/"):
            entry = next(e for e in body["didStateProof"]["entries"] if e["value"])
            entry["value"] = entry["value"][:-2] + ("00" if entry["value"][-2:] != "00" else "01")
        return body

    s = stub(alter)
    code, _, err = _run(
        capsys, "did", "resolve", did_of["ours"], "--proof", "--home", str(threaded_node.root), "--node", s.url
    )
    assert code == 1 and err.startswith("error: proof INVALID: state_proof: ")


def test_a_state_answer_for_another_key_fails_the_state_proof(
    capsys: pytest.CaptureFixture[str], threaded_node: ThreadedNode, did_of: dict[str, str], stub: Any
) -> None:
    """A genuine, final proof of another key (bob's account for alice's) is not a proof of the key asked."""
    from trellis.cli.main import _state_key, build_parser

    args = build_parser().parse_args(["query", "state", "account:bob", "--home", str(threaded_node.root)])
    bob_key = _state_key(args, "account:bob")

    def alter(path: str, body: Any) -> Any:
        if path.startswith("/v1/state/") and bob_key.hex() not in path:
            query = path.partition("?")[2]
            with urllib.request.urlopen(f"{threaded_node.url}/v1/state/0x{bob_key.hex()}?{query}") as resp:
                return json.loads(resp.read())
        return body

    s = stub(alter)
    code, out, _ = _run(
        capsys, "query", "state", "account:alice", "--prove", "--home", str(threaded_node.root), "--node", s.url
    )
    assert code == 1 and "proof  INVALID: state_proof: the answer is for key 0x" in out


def test_did_resolve_proof_refuses_a_resolution_that_reads_an_unproven_key(
    capsys: pytest.CaptureFixture[str], threaded_node: ThreadedNode, did_of: dict[str, str], stub: Any
) -> None:
    def alter(path: str, body: Any) -> Any:
        if path.startswith("/1.0/identifiers/"):
            body["didStateProof"]["entries"] = body["didStateProof"]["entries"][:-1]
        return body

    s = stub(alter)
    code, _, err = _run(
        capsys, "did", "resolve", did_of["ours"], "--proof", "--home", str(threaded_node.root), "--node", s.url
    )
    assert code == 1 and err.startswith("error: proof INVALID: resolution: ") and "which is not proven" in err
