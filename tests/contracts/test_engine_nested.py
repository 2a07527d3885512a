"""Nested contract calls (docs/spec/contracts.md section 4): results, caller and origin, the depth limit,
no re-entrancy, gas caps, and a failing callee failing the whole call."""

from __future__ import annotations

import struct

import pytest

from trellis.app.modules.contracts import WasmEngine
from trellis.core.execution.results import ResultCode
from trellis.core.ledger.block import Event
from trellis.core.modules.contracts.engine import Gas
from trellis.core.modules.contracts.state import contract_storage_key
from trellis.core.params import GenesisContracts

from .test_engine import GAS, SENDER, DictState, install, run, wat

A = bytes.fromhex("aa" * 20)
B = bytes.fromhex("bb" * 20)
C = bytes.fromhex("cc" * 20)
D = bytes.fromhex("dd" * 20)

# forward: callee(20) | gas u64 | method_len u8 | method | args  ->  call it, return its return data
PROXY = wat(
    """
    (func $args (result i32) (local $n i32) (local.set $n (call $input_len)) (call $input_read (i32.const 0))
      (local.get $n))
    (func (export "forward") (local $n i32) (local $m i32) (local $len i32)
      (local.set $n (call $args))
      (local.set $m (i32.load8_u (i32.const 28)))
      (local.set $len (call $call
        (i32.const 0)
        (i32.const 29) (local.get $m)
        (i32.add (i32.const 29) (local.get $m)) (i32.sub (local.get $n) (i32.add (i32.const 29) (local.get $m)))
        (i64.load (i32.const 20))))
      (call $result_read (i32.const 0x8000))
      (call $return_data (i32.const 0x8000) (local.get $len)))
    (func (export "who")
      (call $caller (i32.const 0)) (call $origin (i32.const 20)) (call $self_address (i32.const 40))
      (call $return_data (i32.const 0) (i32.const 60)))
    (func (export "noop"))
    (func (export "refuse") (call $revert (i32.const 0x100) (i32.const 15)))
    (func (export "spin") (loop (br 0)))
    (func (export "trap") unreachable)
    (func (export "touch")
      (call $storage_set (i32.const 0x200) (i32.const 1) (i32.const 0x200) (i32.const 1))
      (call $emit (i32.const 0x210) (i32.const 7) (i32.const 0x200) (i32.const 1)))
    (func (export "negative_gas")
      (drop (call $call (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i64.const -1))))
    (func (export "big_args")
      (drop (call $call (i32.const 0) (i32.const 0) (i32.const 4) (i32.const 0) (i32.const 16385) (i64.const 0))))
    (func (export "init"))
    (data (i32.const 0x100) "callee says no!")
    (data (i32.const 0x200) "n")
    (data (i32.const 0x210) "Touched")
    """
)


def fwd(callee: bytes, method: str, args: bytes = b"", gas: int = 0) -> bytes:
    """The arguments of ``forward``: call ``method`` of ``callee`` with ``args`` and ``gas``."""
    return callee + struct.pack("<Q", gas) + bytes([len(method)]) + method.encode() + args


@pytest.fixture(scope="module")
def engine() -> WasmEngine:
    return WasmEngine()


@pytest.fixture
def state(engine: WasmEngine) -> DictState:
    s = DictState()
    for address in (A, B, C, D):
        install(engine, s, PROXY, address)
    return s


def test_a_nested_call_returns_the_callees_return_data(engine: WasmEngine, state: DictState) -> None:
    out = run(engine, state, "forward", fwd(B, "who"), contract=A)
    assert out.ok
    assert out.data == A + SENDER + B  # caller is the calling contract, origin stays the sender


def test_nested_calls_chain_to_the_depth_limit(engine: WasmEngine, state: DictState) -> None:
    args = fwd(B, "forward", fwd(C, "who"))
    out = run(engine, state, "forward", args, contract=A, limits=GenesisContracts(max_call_depth=3))
    assert out.ok and out.data == B + SENDER + C


def test_a_call_beyond_the_depth_limit_fails_the_transaction(engine: WasmEngine, state: DictState) -> None:
    args = fwd(B, "forward", fwd(C, "forward", fwd(D, "who")))
    out = run(engine, state, "forward", args, contract=A, limits=GenesisContracts(max_call_depth=3))
    assert out.code == ResultCode.CALL_DEPTH
    assert out.message == (
        f"call into {B.hex()} failed: call into {C.hex()} failed: call into {D.hex()} exceeds the call depth limit of 3"
    )


def test_a_depth_limit_of_one_allows_no_nested_call(engine: WasmEngine, state: DictState) -> None:
    out = run(engine, state, "forward", fwd(B, "noop"), contract=A, limits=GenesisContracts(max_call_depth=1))
    assert out.code == ResultCode.CALL_DEPTH


def test_re_entering_a_contract_on_the_stack_is_refused(engine: WasmEngine, state: DictState) -> None:
    out = run(engine, state, "forward", fwd(B, "forward", fwd(A, "noop")), contract=A)
    assert out.code == ResultCode.CALL_DEPTH
    assert out.message == f"call into {B.hex()} failed: re-entrant call into {A.hex()}, which is already on the stack"


def test_a_contract_cannot_call_itself(engine: WasmEngine, state: DictState) -> None:
    out = run(engine, state, "forward", fwd(A, "noop"), contract=A)
    assert out.code == ResultCode.CALL_DEPTH


def test_calling_the_same_contract_twice_in_sequence_is_not_re_entry(engine: WasmEngine, state: DictState) -> None:
    out = run(engine, state, "forward", fwd(B, "forward", fwd(C, "noop")), contract=A)
    assert out.ok
    again = run(engine, state, "forward", fwd(C, "forward", fwd(B, "noop")), contract=A)
    assert again.ok


def test_a_reverting_callee_fails_the_caller_with_its_code_and_message(engine: WasmEngine, state: DictState) -> None:
    out = run(engine, state, "forward", fwd(B, "refuse"), contract=A)
    assert (out.code, out.message) == (ResultCode.REVERTED, f"call into {B.hex()} failed: callee says no!")


def test_a_trapping_callee_fails_the_caller(engine: WasmEngine, state: DictState) -> None:
    out = run(engine, state, "forward", fwd(B, "trap"), contract=A)
    assert out.code == ResultCode.CONTRACT_TRAP
    assert out.message == f"call into {B.hex()} failed: unreachable instruction executed"


def test_calling_a_missing_contract_fails_with_not_found(engine: WasmEngine, state: DictState) -> None:
    nobody = bytes(20)
    out = run(engine, state, "forward", fwd(nobody, "noop"), contract=A)
    assert (out.code, out.message) == (ResultCode.NOT_FOUND, f"call into {nobody.hex()}: no contract there")


@pytest.mark.parametrize(
    ("method", "reason"),
    [("nothing", "no method 'nothing'"), ("init", "init runs only at deployment")],
)
def test_calling_an_unknown_method_fails(engine: WasmEngine, state: DictState, method: str, reason: str) -> None:
    out = run(engine, state, "forward", fwd(B, method), contract=A)
    assert (out.code, out.message) == (ResultCode.UNKNOWN_METHOD, f"call into {B.hex()}: {reason}")


def test_a_method_name_that_is_not_ascii_is_unknown(engine: WasmEngine, state: DictState) -> None:
    args = B + struct.pack("<Q", 0) + b"\x02\xc3\xa9"
    out = run(engine, state, "forward", args, contract=A)
    assert (out.code, out.message) == (ResultCode.UNKNOWN_METHOD, f"call into {B.hex()}: the method name is not ASCII")


def test_negative_call_gas_traps(engine: WasmEngine, state: DictState) -> None:
    out = run(engine, state, "negative_gas", contract=A)
    assert (out.code, out.message) == (ResultCode.CONTRACT_TRAP, "call gas -1 is negative")


def test_call_arguments_over_16_kib_trap(engine: WasmEngine, state: DictState) -> None:
    out = run(engine, state, "big_args", contract=A)
    assert (out.code, out.message) == (ResultCode.CONTRACT_TRAP, "call arguments are 16385 bytes; the limit is 16384")


def test_a_callee_out_of_its_gas_cap_fails_the_transaction_out_of_gas(engine: WasmEngine, state: DictState) -> None:
    out = run(engine, state, "forward", fwd(B, "spin", gas=10_000), contract=A)
    assert (out.code, out.message) == (ResultCode.OUT_OF_GAS, f"call into {B.hex()} failed: out of gas")
    # The caller's own work, the nested call's fixed cost and the callee's whole cap; not the rest.
    assert Gas.NESTED_CALL + 10_000 < out.gas_used < Gas.NESTED_CALL + 10_000 + 1_000


def test_call_gas_zero_lets_the_callee_use_all_that_is_left(engine: WasmEngine, state: DictState) -> None:
    out = run(engine, state, "forward", fwd(B, "spin"), contract=A)
    assert (out.code, out.gas_used) == (ResultCode.OUT_OF_GAS, GAS)


def test_a_gas_cap_above_what_is_left_is_clamped(engine: WasmEngine, state: DictState) -> None:
    out = run(engine, state, "forward", fwd(B, "spin", gas=10 * GAS), contract=A)
    assert (out.code, out.gas_used) == (ResultCode.OUT_OF_GAS, GAS)


def test_a_nested_call_charges_its_fixed_cost_and_the_callees_gas(engine: WasmEngine, state: DictState) -> None:
    via_noop = run(engine, state, "forward", fwd(B, "noop"), contract=A)
    via_who = run(engine, state, "forward", fwd(B, "who"), contract=A)
    direct_noop = run(engine, state, "noop", contract=B)
    direct_who = run(engine, state, "who", contract=B)
    # A's extra cost for the longer result is returning 60 more bytes; the rest is B's own difference.
    assert via_who.gas_used - via_noop.gas_used == direct_who.gas_used - direct_noop.gas_used + 60 * Gas.RETURN_BYTE
    assert via_noop.gas_used > Gas.NESTED_CALL + direct_noop.gas_used


def test_a_callee_writes_its_own_storage_and_emits_as_itself(engine: WasmEngine, state: DictState) -> None:
    out = run(engine, state, "forward", fwd(B, "touch"), contract=A)
    assert out.ok
    assert state.get(contract_storage_key(B, b"n")) == b"n"
    assert state.get(contract_storage_key(A, b"n")) is None
    assert out.events == [Event(type="contract.Touched", attributes=[("contract", B), ("data", b"n")])]


def test_a_query_cannot_write_through_a_nested_call(engine: WasmEngine, state: DictState) -> None:
    out = run(engine, state, "forward", fwd(B, "touch"), contract=A, read_only=True)
    assert out.code == ResultCode.CONTRACT_TRAP
    assert out.message == f"call into {B.hex()} failed: read-only: storage_set is not allowed in a query"
    assert state.get(contract_storage_key(B, b"n")) is None


def test_nested_calls_use_the_same_gas_every_time(engine: WasmEngine, state: DictState) -> None:
    args = fwd(B, "forward", fwd(C, "touch"))
    first = run(engine, state, "forward", args, contract=A)
    second = run(engine, state, "forward", args, contract=A)
    fresh = WasmEngine()
    third = run(fresh, state, "forward", args, contract=A)
    assert first == second == third
    assert first.ok and first.gas_used < GAS
