"""The AssemblyScript SDK's wrappers, run by the wasmtime engine (a probe contract in tests/contracts/sdk_probe):
its ABI reader/writer agree with the Python codec, and hash, verify, the call context, nested calls and
storage ranges do what the host interface says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trellis.app.modules.contracts import abi as abi_mod
from trellis.app.modules.contracts.toolchain import build
from trellis.core.crypto.suite import ed25519_sign
from trellis.core.modules.contracts.engine import ContractEngine

from .conftest import ContractChain, Deployed, Example, People

PROBE_DIR = Path(__file__).parent / "sdk_probe"


@pytest.fixture(scope="module")
def probe_example() -> Example:
    result = build(PROBE_DIR)
    return Example("sdk_probe", result, result.wasm_path.read_bytes(), abi_mod.load_abi(result.abi_path))


@pytest.fixture(scope="module")
def probe_chain(engine: ContractEngine, people: People) -> ContractChain:
    return ContractChain(engine, [people.alice])


@pytest.fixture(scope="module")
def probe(probe_chain: ContractChain, probe_example: Example, people: People) -> Deployed:
    return probe_chain.deploy(people.alice, probe_example)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    a=st.integers(0, 2**32 - 1),
    b=st.integers(0, 2**64 - 1),
    c=st.booleans(),
    d=st.binary(min_size=20, max_size=20),
    e=st.binary(min_size=32, max_size=32),
    f=st.binary(max_size=200),
    g=st.text(max_size=60),
)
def test_sdk_reader_and_writer_agree_with_the_python_codec(
    probe_chain: ContractChain, probe: Deployed, **values: Any
) -> None:
    assert probe_chain.query(probe, "echo", values) == values


def test_sdk_reader_refuses_trailing_bytes(probe_chain: ContractChain, probe: Deployed) -> None:
    args = abi_mod.encode_args(probe.abi, "hashOf", [b"x"]) + b"\x00"
    outcome = probe_chain.query_raw(probe.address, "hashOf", args)
    assert not outcome.ok
    assert "1 unexpected trailing bytes" in outcome.message


def test_sdk_hash_is_the_chain_suites_hash(probe_chain: ContractChain, probe: Deployed) -> None:
    data = b"trellis" * 10
    assert probe_chain.query(probe, "hashOf", [data]) == {"hash": probe_chain.params.suite.hash(data)}


def test_sdk_verify_checks_a_signature(probe_chain: ContractChain, probe: Deployed, people: People) -> None:
    message = b"pay bob 5"
    signature = ed25519_sign(people.alice.secret, message)
    assert probe_chain.query(probe, "verifySig", [people.alice.public, message, signature]) == {"ok": True}
    assert probe_chain.query(probe, "verifySig", [people.alice.public, b"pay bob 6", signature]) == {"ok": False}
    assert probe_chain.query(probe, "verifySig", [people.alice.public, message, signature[:63]]) == {"ok": False}


def test_sdk_call_context_in_a_transaction(probe_chain: ContractChain, probe: Deployed, people: People) -> None:
    out = probe_chain.call(people.alice, probe, "whoami")
    assert out == {
        "caller": people.alice.address,
        "origin": people.alice.address,
        "self": probe.address,
        "height": probe_chain.height,
        "time": probe_chain.time_ms,
    }


def test_sdk_nested_call_sees_the_calling_contract_as_caller(
    probe_chain: ContractChain, probe: Deployed, probe_example: Example, people: People
) -> None:
    other = probe_chain.deploy(people.alice, probe_example)
    out = probe_chain.call(people.alice, probe, "callWhoami", [other.address])
    assert (out["caller"], out["origin"], out["self"]) == (probe.address, people.alice.address, other.address)


def test_sdk_storage_range_walks_a_prefix_in_order_up_to_the_limit(
    probe_chain: ContractChain, probe: Deployed, people: People
) -> None:
    probe_chain.call(people.alice, probe, "fill", ["x", 150])
    probe_chain.call(people.alice, probe, "fill", ["y", 3])
    assert probe_chain.query(probe, "scan", ["x", 100]) == {"count": 100, "sum": sum(range(1, 101))}
    assert probe_chain.query(probe, "scan", ["x", 7]) == {"count": 7, "sum": sum(range(1, 8))}
    assert probe_chain.query(probe, "scan", ["y", 100]) == {"count": 3, "sum": 6}
    assert probe_chain.query(probe, "scan", ["z", 100]) == {"count": 0, "sum": 0}


@pytest.mark.parametrize(
    ("raw", "valid"),
    [
        (b"plain ascii", True),
        ("héllo wörld €𝄞".encode(), True),
        (b"\xc3\x28", False),  # a lead byte without its continuation
        (b"\xc0\xaf", False),  # overlong
        (b"\xe0\x80\xaf", False),  # overlong 3-byte form
        (b"\xed\xa0\x80", False),  # a surrogate
        (b"\xf4\x90\x80\x80", False),  # above U+10FFFF
        (b"ok\xe2\x82", False),  # truncated at the end
        (b"\xff", False),
    ],
)
def test_sdk_strings_must_be_utf8_like_the_python_codec(
    probe_chain: ContractChain, probe: Deployed, raw: bytes, valid: bool
) -> None:
    args = abi_mod.encode_args(probe.abi, "echo", [0, 0, False, bytes(20), bytes(32), b"", ""])
    args = args[:-4] + len(raw).to_bytes(4, "little") + raw
    outcome = probe_chain.query_raw(probe.address, "echo", args)
    assert outcome.ok == valid, outcome.message
    python_ok = True
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        python_ok = False
    assert python_ok == valid
    if not valid:
        assert "abi: g is not valid UTF-8" in outcome.message
