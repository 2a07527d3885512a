"""Hostile contracts: each is refused at deployment or stopped by a limit with a precise error, and the node
(the engine, the process) carries on."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest
import wasmtime

from trellis.app.modules.contracts import WasmEngine
from trellis.core.crypto.suite import ED25519
from trellis.core.execution.results import ResultCode
from trellis.core.modules.contracts.engine import InvalidContract
from trellis.core.params import GenesisContracts

from .test_engine import DictState, install, run, wat

OK_MODULE = wat('(func (export "ping") (call $return_data (i32.const 0) (i32.const 4))) (data (i32.const 0) "pong")')


@pytest.fixture(scope="module")
def engine() -> WasmEngine:
    return WasmEngine()


def deployed(engine: WasmEngine, code: bytes) -> DictState:
    """State with ``code`` at ``CONTRACT`` and a well-behaved contract next to it."""
    state = DictState()
    install(engine, state, code)
    install(engine, state, OK_MODULE, bytes.fromhex("0e" * 20))
    return state


def still_healthy(engine: WasmEngine, state: DictState) -> None:
    out = run(engine, state, "ping", contract=bytes.fromhex("0e" * 20))
    assert out.ok and out.data == b"pong"


def refused(engine: WasmEngine, code: bytes, limits: GenesisContracts | None = None) -> str:
    with pytest.raises(InvalidContract) as info:
        engine.validate(code, limits or GenesisContracts())
    return info.value.reason


# --- stopped by limits ---------------------------------------------------------------------------------------


def test_an_infinite_loop_runs_out_of_gas(engine: WasmEngine) -> None:
    state = deployed(engine, wat('(func (export "go") (loop (br 0)))'))
    started = time.monotonic()
    out = run(engine, state, "go", gas=5_000_000)
    assert (out.code, out.message, out.gas_used) == (ResultCode.OUT_OF_GAS, "out of gas", 5_000_000)
    assert time.monotonic() - started < 5
    still_healthy(engine, state)


def test_an_infinite_loop_in_the_start_function_runs_out_of_gas(engine: WasmEngine) -> None:
    state = deployed(engine, wat('(func $start (loop (br 0))) (start $start) (func (export "go"))'))
    out = run(engine, state, "go", gas=100_000)
    assert (out.code, out.gas_used) == (ResultCode.OUT_OF_GAS, 100_000)
    still_healthy(engine, state)


def test_unbounded_memory_growth_stops_at_the_page_limit(engine: WasmEngine) -> None:
    state = deployed(
        engine,
        wat(
            """
            (func (export "go")
              (loop (br_if 0 (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
              (i32.store (i32.const 0) (memory.size))
              (i32.store (i32.const 4) (memory.grow (i32.const 100000)))
              (call $return_data (i32.const 0) (i32.const 8)))
            """
        ),
    )
    out = run(engine, state, "go")
    assert out.ok
    assert out.data == (16).to_bytes(4, "little") + (-1).to_bytes(4, "little", signed=True)
    still_healthy(engine, state)


def test_growing_to_the_largest_memory_page_by_page_is_cheap_for_the_node(engine: WasmEngine) -> None:
    limits = GenesisContracts(max_memory_pages=1024)
    code = wat(
        """
        (func (export "go") (local $p i32)
          (loop (if (i32.ne (memory.grow (i32.const 1)) (i32.const -1)) (then
            (local.set $p (i32.add (local.get $p) (i32.const 65536)))
            (i32.store (local.get $p) (i32.const 1))
            (br 1))))
          (i32.store (i32.const 0) (memory.size))
          (call $return_data (i32.const 0) (i32.const 4)))
        """
    )
    state = DictState()
    install(engine, state, code)
    started = time.monotonic()
    out = run(engine, state, "go", limits=limits)
    assert out.ok and out.data == (1024).to_bytes(4, "little")
    assert time.monotonic() - started < 2  # no copying of the memory on every growth


def test_unbounded_recursion_traps_with_a_stack_overflow(engine: WasmEngine) -> None:
    state = deployed(engine, wat('(func $f (export "go") (call $f))'))
    out = run(engine, state, "go")
    assert out.code == ResultCode.CONTRACT_TRAP
    assert out.message == "stack overflow (the native stack is limited to 512 KiB)"
    assert out.gas_used == 1_000_000
    still_healthy(engine, state)


def test_unbounded_recursion_with_large_frames_traps_too(engine: WasmEngine) -> None:
    locals_ = " ".join(["i64"] * 200)
    state = deployed(
        engine,
        wat(f'(func $f (export "go") (local {locals_}) (local.set 199 (i64.const 1)) (call $f))'),
    )
    out = run(engine, state, "go", gas=50_000_000)
    assert out.code == ResultCode.CONTRACT_TRAP and out.message.startswith("stack overflow")
    still_healthy(engine, state)


def test_a_data_segment_outside_memory_traps_at_instantiation(engine: WasmEngine) -> None:
    state = deployed(engine, wat('(data (i32.const 65530) "0123456789") (func (export "go"))'))
    out = run(engine, state, "go")
    assert out.code == ResultCode.CONTRACT_TRAP
    assert out.message == "out-of-bounds memory access while instantiating the module"
    still_healthy(engine, state)


def test_an_indirect_call_to_a_missing_entry_traps(engine: WasmEngine) -> None:
    state = deployed(
        engine,
        wat('(type $t (func)) (table 1 funcref) (func (export "go") (call_indirect (type $t) (i32.const 0)))'),
    )
    out = run(engine, state, "go")
    assert (out.code, out.message) == (ResultCode.CONTRACT_TRAP, "indirect call to a null table entry")


def test_host_pointers_out_of_bounds_trap(engine: WasmEngine) -> None:
    state = deployed(
        engine, wat('(func (export "go") (call $storage_set (i32.const -1) (i32.const 8) (i32.const 0) (i32.const 1)))')
    )
    out = run(engine, state, "go")
    assert out.code == ResultCode.CONTRACT_TRAP
    assert out.message == "out-of-bounds memory access: 8 bytes at 4294967295 in a memory of 65536 bytes"


def test_many_nested_calls_in_a_loop_stop_at_the_gas_limit(engine: WasmEngine) -> None:
    state = DictState()
    callee = install(engine, state, OK_MODULE, bytes.fromhex("0e" * 20))
    escaped = "".join(f"\\{b:02x}" for b in callee)
    install(
        engine,
        state,
        wat(
            f"""
            (data (i32.const 0) "{escaped}ping")
            (func (export "go")
              (loop (drop (call $call (i32.const 0) (i32.const 20) (i32.const 4) (i32.const 0) (i32.const 0)
                (i64.const 0))) (br 0)))
            """
        ),
    )
    started = time.monotonic()
    out = run(engine, state, "go", gas=5_000_000)
    assert (out.code, out.gas_used) == (ResultCode.OUT_OF_GAS, 5_000_000)
    assert time.monotonic() - started < 10
    still_healthy(engine, state)


# --- refused at deployment ------------------------------------------------------------------------------------


def test_an_unknown_host_import_is_refused(engine: WasmEngine) -> None:
    code = bytes(
        wasmtime.wat2wasm('(module (import "trellis" "mint" (func (param i64))) (memory (export "memory") 1))')
    )
    assert refused(engine, code) == "import trellis.mint is not a host function of the chain (at byte 0x12)"


def test_a_host_import_with_another_signature_is_refused(engine: WasmEngine) -> None:
    code = bytes(
        wasmtime.wat2wasm('(module (import "trellis" "caller" (func (param i64))) (memory (export "memory") 1))')
    )
    assert "import trellis.caller has type (i64) -> (); the host function's type is (i32) -> ()" in refused(
        engine, code
    )


def test_wasi_imports_are_refused(engine: WasmEngine) -> None:
    code = bytes(
        wasmtime.wat2wasm(
            '(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))'
            ' (memory (export "memory") 1))'
        )
    )
    assert "is not a host function of the chain" in refused(engine, code)


def test_floating_point_code_is_refused(engine: WasmEngine) -> None:
    code = wat('(func (export "go") (drop (f64.sqrt (f64.const 2))))')
    assert "floating point is not allowed (f64.const)" in refused(engine, code)


def test_a_floating_point_signature_is_refused(engine: WasmEngine) -> None:
    code = wat('(func (export "go") (param f32))', imports=False)
    assert "floating point is not allowed (f32 value type)" in refused(engine, code)


@pytest.mark.parametrize("junk", [b"", b"hello world", b"\0asm", b"\0asm\x02\0\0\0", b"\x7fELF" + bytes(60)])
def test_bytes_that_are_not_wasm_are_refused(engine: WasmEngine, junk: bytes) -> None:
    assert refused(engine, junk)


def test_a_module_our_parser_accepts_but_that_does_not_type_check_is_refused(engine: WasmEngine) -> None:
    # (func (result i32)) with an empty body: well-formed, but the result is missing.
    code = bytes.fromhex(
        "0061736d01000000"  # header
        "010501600001"
        "7f"  # type 0: () -> i32
        "03020100"  # function 0: type 0
        "05030100 01".replace(" ", "")  # memory 1 page
        + "070a01066d656d6f72790200"  # export "memory"
        + "0a040102000b"  # body: no locals, end
    )
    reason = refused(engine, code)
    assert reason.startswith("not valid WebAssembly: ")


def test_a_memory_over_the_page_limit_is_refused(engine: WasmEngine) -> None:
    assert refused(engine, wat("", pages=17)) == "memory declares 17 initial pages; the limit is 16"


def test_a_table_over_1024_elements_is_refused(engine: WasmEngine) -> None:
    assert "table declares 1025 elements; the limit is 1024" in refused(engine, wat("(table 1025 funcref)"))


def test_an_imported_memory_is_refused(engine: WasmEngine) -> None:
    code = bytes(wasmtime.wat2wasm('(module (import "env" "memory" (memory 1)) (export "memory" (memory 0)))'))
    assert "imports a memory (env.memory); only host functions may be imported" in refused(engine, code)


def test_code_over_the_size_limit_is_refused(engine: WasmEngine) -> None:
    code = wat(f'(data (i32.const 0) "{"x" * 2000}")')
    limits = GenesisContracts(max_code_bytes=1024)
    assert refused(engine, code, limits) == f"code is {len(code)} bytes; the limit is 1024"


def test_four_billion_locals_are_refused_quickly(engine: WasmEngine) -> None:
    code = bytes.fromhex(
        "0061736d01000000"
        "01040160"
        "0000"  # type 0: () -> ()
        "03020100"
        "0503010001"
        "070a01066d656d6f72790200"
        "0a0a0108"
        "01"
        "ffffffff0f"
        "7f"
        "0b"  # one group of 2**32 - 1 i32 locals
    )
    started = time.monotonic()
    assert "declares more than 50000 locals" in refused(engine, code)
    assert time.monotonic() - started < 1


# --- the process ---------------------------------------------------------------------------------------------

_DEEP_SCRIPT = """
import struct, sys, threading
from trellis.app.modules.contracts import WasmEngine
from trellis.core.crypto.suite import ED25519
from trellis.core.params import GenesisContracts
from tests.contracts.test_engine import DictState, install, run, wat

# go: args = u32 depth of recursion, then the addresses still to call. Recurse that deep, then call the next
# address with the same depth and the rest of the list.
CODE = wat('''
  (func $rec (param $n i32) (local i64 i64 i64 i64 i64 i64 i64 i64)
    (if (i32.eqz (local.get $n))
      (then (if (i32.gt_u (call $input_len) (i32.const 4))
        (then (drop (call $call (i32.const 0x1004) (i32.const 0x8000) (i32.const 2) (i32.const 0x2000)
          (i32.sub (call $input_len) (i32.const 20)) (i64.const 0))))))
      (else (call $rec (i32.sub (local.get $n) (i32.const 1))))))
  (func (export "go")
    (call $input_read (i32.const 0x1000))
    ;; the callee's arguments at 0x2000: the same depth, then the addresses after the next one
    (if (i32.gt_u (call $input_len) (i32.const 4)) (then
      (i32.store (i32.const 0x2000) (i32.load (i32.const 0x1000)))
      (memory.copy (i32.const 0x2004) (i32.const 0x1018) (i32.sub (call $input_len) (i32.const 24)))))
    (call $rec (i32.load (i32.const 0x1000))))
  (data (i32.const 0x8000) "go")
''', pages=2)
"""


@pytest.mark.parametrize("where", ["main", "thread"])
def test_deep_recursion_at_every_level_of_the_deepest_call_stack_does_not_crash(where: str) -> None:
    script = _DEEP_SCRIPT + textwrap.dedent(
        """
        limits = GenesisContracts(max_call_depth=64)
        engine = WasmEngine()
        state = DictState()
        addresses = [bytes([i + 1]) * 20 for i in range(64)]
        for a in addresses:
            install(engine, state, CODE, a)
        # Find the deepest recursion one frame survives, then use nine tenths of it at all 64 levels.
        lo, hi = 1, 200_000
        while lo < hi:
            mid = (lo + hi + 1) // 2
            out = run(engine, state, "go", struct.pack("<I", mid), contract=addresses[0], gas=10**9, limits=limits)
            lo, hi = (mid, hi) if out.ok else (lo, mid - 1)
        depth = lo * 9 // 10
        args = struct.pack("<I", depth) + b"".join(addresses[1:])
        def go():
            return run(engine, state, "go", args, contract=addresses[0], gas=10**12, limits=limits)
        if sys.argv[1] == "thread":
            results = []
            t = threading.Thread(target=lambda: results.append(go()))
            t.start(); t.join()
            out = results[0]
        else:
            out = go()
        assert out.ok, out
        print("OK", lo, depth, out.gas_used)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, where], capture_output=True, text=True, timeout=240, cwd=_repo_root()
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("OK ")


def _repo_root() -> str:
    from pathlib import Path

    return str(Path(__file__).resolve().parents[2])


def test_engine_still_works_after_every_hostile_call(engine: WasmEngine) -> None:
    state = deployed(engine, wat('(func $f (export "rec") (call $f)) (func (export "spin") (loop (br 0)))'))
    for _ in range(3):
        assert run(engine, state, "rec").code == ResultCode.CONTRACT_TRAP
        assert run(engine, state, "spin", gas=10_000).code == ResultCode.OUT_OF_GAS
        still_healthy(engine, state)


def test_a_start_function_may_use_the_host_and_its_memory(engine: WasmEngine) -> None:
    code = wat(
        """
        (func $start
          (call $input_read (i32.const 0))
          (call $storage_set (i32.const 0x100) (i32.const 5) (i32.const 0) (call $input_len)))
        (start $start)
        (func (export "go") (call $return_data (i32.const 0) (call $input_len)))
        (data (i32.const 0x100) "start")
        """
    )
    state = deployed(engine, code)  # deploying instantiates it once with no gas: no host call runs then
    out = run(engine, state, "go", b"from start")
    assert out.ok and out.data == b"from start"
    assert run(engine, state, "go", b"again").ok


def test_a_nested_callees_start_function_uses_its_own_memory(engine: WasmEngine) -> None:
    state = DictState()
    callee = install(
        engine,
        state,
        wat(
            """
            (func $start (call $hash (i32.const 0) (i32.const 4) (i32.const 0x200)))
            (start $start)
            (func (export "go") (call $return_data (i32.const 0x200) (i32.const 32)))
            (data (i32.const 0) "seed")
            """
        ),
        bytes.fromhex("0f" * 20),
    )
    escaped = "".join(f"\\{b:02x}" for b in callee)
    install(
        engine,
        state,
        wat(
            f"""
            (data (i32.const 0) "{escaped}go")
            (func (export "go") (local $len i32)
              (local.set $len
                (call $call (i32.const 0) (i32.const 20) (i32.const 2) (i32.const 0) (i32.const 0) (i64.const 0)))
              (call $result_read (i32.const 0x100))
              (call $return_data (i32.const 0x100) (local.get $len)))
            """
        ),
    )
    out = run(engine, state, "go")
    assert out.ok and out.data == ED25519.hash(b"seed")
