"""Every host function charges exactly what the gas schedule says (docs/spec/contracts.md section 2).

The schedule itself is pinned: a changed or dropped ``Gas`` constant fails here. Then each host function is
called, with lengths that exercise its per-byte terms, by a method ``host_<name>``, and the same method with
the call replaced by a module-local stub of the same signature, ``stub_<name>``, runs beside it. The two run
the same instructions but the one call, so the gas they use differs by exactly the host function's charge
minus the stub's own fuel: what an empty function costs (``EMPTY_FUNCTION_FUEL``, measured below on the
nested-call callee) plus 1 for the ``i32.const``/``i64.const`` of a stub that returns a value. A host function made free, or charged another price, fails its case. The test names every host import:
a new host function without a case here fails ``test_every_host_function_has_a_charge_case``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from trellis.app.modules.contracts import WasmEngine
from trellis.app.modules.contracts.validate import HOST_IMPORTS, I32
from trellis.core.execution.results import ResultCode
from trellis.core.modules.contracts.engine import CallOutcome, Gas

from .test_engine import GAS, DictState, install, run, wat

PINNED_SCHEDULE = {
    "DEPLOY_BASE": 50_000,
    "CODE_BYTE": 20,
    "CALL_BASE": 5_000,
    "ARG_BYTE": 8,
    "NESTED_CALL": 2_000,
    "STORAGE_READ": 200,
    "STORAGE_READ_BYTE": 1,
    "STORAGE_WRITE": 2_000,
    "STORAGE_WRITE_BYTE": 20,
    "EVENT": 500,
    "EVENT_BYTE": 8,
    "HASH": 100,
    "HASH_BYTE": 1,
    "VERIFY": 5_000,
    "HOST_CALL": 50,
    "RETURN_BYTE": 2,
}
"""The consensus-critical schedule as the spec's table gives it (changing it is a hard fork)."""

S = PINNED_SCHEDULE
EMPTY_FUNCTION_FUEL = 1
"""Fuel wasmtime charges for entering a function with no instructions (``test_an_empty_function_costs_...``)."""
CALLEE = bytes.fromhex("c2" * 20)
"""A second contract, the target of the nested ``call`` case."""


@dataclass(frozen=True)
class Case:
    """One host function call: its arguments (WAT instructions), the charge the schedule gives it, the outcome
    the call leads to, and how the method sets itself up first (the same in both variants)."""

    args: str
    charge: int
    outcome: ResultCode = ResultCode.OK
    setup: str = ""


CASES: dict[str, Case] = {
    "input_len": Case("", S["HOST_CALL"]),
    "input_read": Case("(i32.const 0x1000)", S["HOST_CALL"]),
    "return_data": Case("(i32.const 0x1000) (i32.const 10)", S["HOST_CALL"] + 10 * S["RETURN_BYTE"]),
    "revert": Case("(i32.const 0x1000) (i32.const 4)", S["HOST_CALL"], ResultCode.REVERTED),
    "result_read": Case("(i32.const 0x1000)", S["HOST_CALL"]),
    "storage_get": Case("(i32.const 0x100) (i32.const 3)", S["STORAGE_READ"] + 3 * S["STORAGE_READ_BYTE"]),
    "storage_set": Case(
        "(i32.const 0x100) (i32.const 3) (i32.const 0x200) (i32.const 10)",
        S["STORAGE_WRITE"] + 13 * S["STORAGE_WRITE_BYTE"],
    ),
    "storage_delete": Case("(i32.const 0x100) (i32.const 3)", S["STORAGE_WRITE"] + 3 * S["STORAGE_WRITE_BYTE"]),
    "storage_range": Case(
        "(i32.const 0x100) (i32.const 3) (i32.const 0x110) (i32.const 4) (i32.const 5)",
        S["STORAGE_READ"] + 7 * S["STORAGE_READ_BYTE"],
    ),
    "caller": Case("(i32.const 0x1000)", S["HOST_CALL"]),
    "origin": Case("(i32.const 0x1000)", S["HOST_CALL"]),
    "self_address": Case("(i32.const 0x1000)", S["HOST_CALL"]),
    "block_height": Case("", S["HOST_CALL"]),
    "block_time": Case("", S["HOST_CALL"]),
    "emit": Case("(i32.const 0x300) (i32.const 3) (i32.const 0x200) (i32.const 10)", S["EVENT"] + 13 * S["EVENT_BYTE"]),
    "hash": Case("(i32.const 0x200) (i32.const 10) (i32.const 0x1000)", S["HASH"] + 10 * S["HASH_BYTE"]),
    "verify": Case(
        "(i32.const 0x400) (i32.const 32) (i32.const 0x200) (i32.const 10) (i32.const 0x500)",
        S["VERIFY"] + 10 * S["HASH_BYTE"],
    ),
    "call": Case(
        "(i32.const 0x600) (i32.const 0x700) (i32.const 4) (i32.const 0) (i32.const 0) (i64.const 0)",
        S["NESTED_CALL"] + EMPTY_FUNCTION_FUEL,  # plus the callee's own fuel: its ``noop`` is empty
    ),
    "abort": Case("(i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)", S["HOST_CALL"], ResultCode.REVERTED),
}

# Reads that find something: the per-byte charge of what is read (a 7-byte value; a range entry of key "abc"
# and that value), after ``put_abc`` stored it.
PRESENT_CASES: dict[str, Case] = {
    "storage_get": Case("(i32.const 0x100) (i32.const 3)", S["STORAGE_READ"] + (3 + 7) * S["STORAGE_READ_BYTE"]),
    "storage_range": Case(
        "(i32.const 0x100) (i32.const 3) (i32.const 0x110) (i32.const 4) (i32.const 5)",
        S["STORAGE_READ"] + 7 * S["STORAGE_READ_BYTE"] + S["STORAGE_READ"] + (3 + 7) * S["STORAGE_READ_BYTE"],
    ),
}

_TYPE = {I32: "i32", 0x7E: "i64"}


def _name(module_and_name: tuple[str, str]) -> str:
    return module_and_name[1]


def _signature(name: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    (sig,) = [sig for key, sig in HOST_IMPORTS.items() if _name(key) == name]
    return sig


def _stub(name: str) -> str:
    params, results = _signature(name)
    p = f" (param {' '.join(_TYPE[t] for t in params)})" if params else ""
    r = f" (result {_TYPE[results[0]]}) ({_TYPE[results[0]]}.const 0)" if results else ""
    return f"(func $stub_{name}{p}{r})"


def _methods(prefix: str, name: str, case: Case) -> str:
    _, results = _signature(name)
    tail = " (drop)" if results else ""
    host = f'(func (export "{prefix}host_{name}") {case.setup} (call ${name} {case.args}){tail})'
    stub = f'(func (export "{prefix}stub_{name}") {case.setup} (call $stub_{name} {case.args}){tail})'
    return host + "\n" + stub


_CALLEE_WAT = "".join(f"\\{b:02x}" for b in CALLEE)
"""The callee's address as a WAT string literal."""


def _module() -> bytes:
    funcs = [_stub(_name(key)) for key in HOST_IMPORTS]
    funcs += [_methods("", name, case) for name, case in CASES.items()]
    funcs += [_methods("present_", name, case) for name, case in PRESENT_CASES.items()]
    funcs.append(
        '(func (export "put_abc") (call $storage_set (i32.const 0x100) (i32.const 3) (i32.const 0x200) (i32.const 7)))'
    )
    return wat(
        "\n".join(funcs)
        + f"""
        (data (i32.const 0x100) "abc")
        (data (i32.const 0x110) "abd~")
        (data (i32.const 0x200) "0123456789")
        (data (i32.const 0x300) "top")
        (data (i32.const 0x600) "{_CALLEE_WAT}")
        (data (i32.const 0x700) "noop")
        """
    )


CALLEE_CODE = wat('(func (export "noop"))')


@pytest.fixture(scope="module")
def engine() -> WasmEngine:
    return WasmEngine()


@pytest.fixture
def state(engine: WasmEngine) -> DictState:
    s = DictState()
    install(engine, s, _module())
    install(engine, s, CALLEE_CODE, CALLEE)
    return s


def _stub_fuel(name: str) -> int:
    _, results = _signature(name)
    return EMPTY_FUNCTION_FUEL + (1 if results else 0)


def _delta(call: Callable[[str], CallOutcome], prefix: str, name: str, case: Case) -> int:
    with_host = call(f"{prefix}host_{name}")
    with_stub = call(f"{prefix}stub_{name}")
    assert with_stub.ok, with_stub.message
    assert with_host.code == case.outcome, with_host.message
    assert 0 < with_host.gas_used < GAS
    return with_host.gas_used - with_stub.gas_used + _stub_fuel(name)


def test_the_gas_schedule_is_the_pinned_one() -> None:
    actual = {k: v for k, v in vars(Gas).items() if k.isupper()}
    assert actual == PINNED_SCHEDULE


def test_every_host_function_has_a_charge_case() -> None:
    assert {_name(key) for key in HOST_IMPORTS} == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_host_function_charges_the_schedule(engine: WasmEngine, state: DictState, name: str) -> None:
    case = CASES[name]
    assert _delta(lambda m: run(engine, state, m), "", name, case) == case.charge


@pytest.mark.parametrize("name", sorted(PRESENT_CASES))
def test_a_read_that_finds_data_also_charges_its_bytes(engine: WasmEngine, state: DictState, name: str) -> None:
    assert run(engine, state, "put_abc").ok
    case = PRESENT_CASES[name]
    assert _delta(lambda m: run(engine, state, m), "present_", name, case) == case.charge


def test_an_empty_function_costs_the_fuel_the_cases_allow_for(engine: WasmEngine, state: DictState) -> None:
    # The stubs' own cost and the nested call's callee are both allowed for as EMPTY_FUNCTION_FUEL.
    out = run(engine, state, "noop", contract=CALLEE)
    assert (out.ok, out.gas_used) == (True, EMPTY_FUNCTION_FUEL)
