"""The module rules checked at deployment (docs/spec/contracts.md section 3) by our own WebAssembly parser.

Each refusal names the rule and where; anything that is not a contract — arbitrary bytes, corrupted modules —
is refused with ``InvalidContract`` and never with another exception.
"""

from __future__ import annotations

import pytest
import wasmtime
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trellis.app.modules.contracts import WasmEngine
from trellis.app.modules.contracts.validate import HOST_IMPORTS, parse_module, validate_module
from trellis.core.modules.contracts.engine import InvalidContract
from trellis.core.params import GenesisContracts

from .test_engine import IMPORTS, wat

LIMITS = GenesisContracts()


def leb(n: int) -> bytes:
    """Unsigned LEB128."""
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def vec(*items: bytes) -> bytes:
    return leb(len(items)) + b"".join(items)


def section(sid: int, payload: bytes) -> bytes:
    return bytes([sid]) + leb(len(payload)) + payload


def name(text: str) -> bytes:
    return leb(len(text.encode())) + text.encode()


HEADER = b"\0asm\x01\0\0\0"
TYPES = section(1, vec(b"\x60\x00\x00", b"\x60\x01\x7f\x00"))  # 0: () -> (); 1: (i32) -> ()
MEMORY = section(5, vec(b"\x00\x01"))
EXPORT_MEMORY = section(7, vec(name("memory") + b"\x02\x00"))


def raw_module(body: bytes, *, locals_: bytes = b"\x00", type_index: int = 0, extra: bytes = b"") -> bytes:
    """A module with one function (type ``type_index``) whose body's instructions are ``body`` (end added)."""
    func = locals_ + body + b"\x0b"
    return (
        HEADER
        + TYPES
        + section(3, vec(leb(type_index)))
        + MEMORY
        + EXPORT_MEMORY
        + extra
        + section(10, vec(leb(len(func)) + func))
    )


def reason(code: bytes, limits: GenesisContracts = LIMITS) -> str:
    with pytest.raises(InvalidContract) as info:
        validate_module(code, limits)
    return info.value.reason


# --- what is accepted --------------------------------------------------------------------------------------


ALLOWED = wat(
    """
    (type $pair (func (result i32 i64)))
    (table 4 funcref)
    (elem (i32.const 0) $callee)
    (elem $passive func $callee)
    (global $counter (export "counter") (mut i64) (i64.const 0))
    (data $d "passive")
    (func $callee (type $pair) (i32.const 1) (i64.const 2))
    (func $start (global.set $counter (i64.const 7)))
    (start $start)
    (func (export "run") (local $x i32) (local $y i64)
      (memory.fill (i32.const 0) (i32.const 0) (i32.const 16))
      (memory.copy (i32.const 16) (i32.const 0) (i32.const 16))
      (memory.init $d (i32.const 32) (i32.const 0) (i32.const 7))
      (data.drop $d)
      (table.init $passive (i32.const 1) (i32.const 0) (i32.const 1))
      (elem.drop $passive)
      (table.copy (i32.const 2) (i32.const 0) (i32.const 1))
      (local.set $x (i32.extend8_s (i32.const 255)))
      (local.set $y (i64.extend32_s (i64.const 1)))
      (block (type $pair) (call $callee)) (drop) (drop)
      (call_indirect (type $pair) (i32.const 0)) (drop) (drop)
      (block $out (br_table $out $out (i32.const 1)))
      (drop (memory.grow (i32.const 1)))
      (drop (i64.load32_u offset=8 align=4 (i32.const 0))))
    (func (export "helper") (param i32))
    """,
    pages=2,
)


def test_the_spec_extensions_are_accepted() -> None:
    info = validate_module(ALLOWED, LIMITS)
    assert info.methods == {"run"}
    assert info.memory_pages == 2 and info.table_elements == 4
    assert {e.name for e in info.exports} == {"memory", "counter", "run", "helper"}


def test_the_allowed_module_also_passes_wasmtime() -> None:
    WasmEngine().validate(ALLOWED, LIMITS)


def test_every_host_function_may_be_imported() -> None:
    info = validate_module(wat(""), LIMITS)
    assert set(info.imports) == set(HOST_IMPORTS)


def test_a_custom_section_is_allowed_anywhere() -> None:
    custom = section(0, name("name") + b"\x00\x01\x02")
    code = HEADER + custom + TYPES + custom + MEMORY + EXPORT_MEMORY + custom
    assert validate_module(code, LIMITS).memory_pages == 1


def test_methods_are_exported_unit_functions_with_method_names() -> None:
    code = wat(
        """
        (func $unit)
        (export "ok_1" (func $unit))
        (export "_hidden" (func $unit))
        (export "with space" (func $unit))
        (export "x" (func $unit))
        (func (export "takes") (param i32))
        (func (export "gives") (result i32) (i32.const 0))
        """
    )
    assert validate_module(code, LIMITS).methods == {"ok_1", "x"}


def test_framing_only_parse_gives_the_same_information() -> None:
    assert parse_module(ALLOWED, bodies=False) == parse_module(ALLOWED)


# --- floating point ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("(func (param f32))", "type 0 parameter: floating point is not allowed (f32 value type)"),
        ("(func (result f64) (f64.const 0))", "result: floating point is not allowed (f64 value type)"),
        ("(func (local f32))", "function 0 local: floating point is not allowed (f32 value type)"),
        ("(global f64 (f64.const 0))", "global 0: floating point is not allowed (f64 value type)"),
        ("(func (drop (f32.const 1)))", "floating point is not allowed (f32.const)"),
        ("(func (drop (f64.load (i32.const 0))))", "floating point is not allowed (f64.load)"),
        ("(func (f32.store (i32.const 0) (f32.const 0)))", "floating point is not allowed (f32.const)"),
        ("(func (block (result f32) (unreachable)) (drop))", "block type: floating point is not allowed (f32"),
    ],
)
def test_floating_point_anywhere_is_refused(body: str, expected: str) -> None:
    assert expected in reason(wat(body, imports=False))


@pytest.mark.parametrize(
    ("opcode", "name_"),
    [
        (b"\x92", "f32.add"),
        (b"\xa8", "i32.trunc_f32_s"),
        (b"\xbc", "i32.reinterpret_f32"),
        (b"\xbf", "f64.reinterpret_i64"),
        (b"\xb7", "f64.convert_i32_s"),
        (b"\x5b", "f32.eq"),
        (b"\xfc\x00", "i32.trunc_sat_f32_s"),
        (b"\xfc\x07", "i64.trunc_sat_f64_u"),
    ],
)
def test_every_float_instruction_is_refused_by_name(opcode: bytes, name_: str) -> None:
    code = raw_module(b"\x20\x00" + opcode + b"\x1a", type_index=1)
    assert reason(code) == f"function 0: floating point is not allowed ({name_}) (at byte 0x{code.index(opcode):x})"


# --- other proposals ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"\xfd\x0c" + bytes(16) + b"\x1a", "SIMD is not allowed (0xFD prefix)"),
        (b"\x41\x00\xfe\x10\x02\x00\x1a", "threads and atomics are not allowed (0xFE prefix)"),
        (b"\xd0\x70\x1a", "reference types are not allowed (ref.null)"),
        (b"\xd2\x00\x1a", "reference types are not allowed (ref.func)"),
        (b"\x41\x00\x25\x00\x1a", "reference types are not allowed (table.get)"),
        (b"\xfc\x10\x00\x1a", "reference types are not allowed (table.size)"),
        (b"\x41\x00\x41\x00\x41\x00\x1c\x01\x7f\x1a", "reference types are not allowed (typed select)"),
        (b"\x12\x00", "tail calls are not allowed (return_call)"),
        (b"\x06\x40\x0b", "exception handling is not allowed (try)"),
        (b"\x08\x00", "exception handling is not allowed (throw)"),
        (b"\xfb\x00", "garbage collection is not allowed (0xFB prefix)"),
        (b"\x41\x00\x28\x40\x01\x00\x1a", "multiple memories are not allowed"),
        (b"\x3f\x01\x1a", "memory.size 1: multiple memories are not allowed"),
        (b"\xff", "unknown opcode 0xff"),
        (b"\xfc\x12", "unknown instruction 0xFC 18"),
    ],
)
def test_instructions_of_other_proposals_are_refused(body: bytes, expected: str) -> None:
    assert expected in reason(raw_module(body))


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ('(module (memory (export "memory") 1 1 shared))', "memory: threads are not allowed (shared memory)"),
        ('(module (memory (export "memory") i64 1))', "memory: 64-bit memorys are not allowed"),
        ('(module (memory (export "memory") 1) (memory 1))', "more than one memory"),
        ('(module (memory (export "memory") 1) (table 1 externref))', "reference types are not allowed (externref"),
        ('(module (memory (export "memory") 1) (table 1 funcref) (table 1 funcref))', "more than one table"),
        (
            '(module (memory (export "memory") 1) (func $f) (elem declare func $f))',
            "reference types are not allowed (declarative segment)",
        ),
        ('(module (memory (export "memory") 1) (func (local v128)))', "SIMD is not allowed (v128 value type)"),
        ('(module (memory (export "memory") 1) (func (local externref)))', "reference types are not allowed"),
        ('(module (memory (export "memory") 1) (tag))', "exception handling is not allowed (tag section)"),
    ],
)
def test_module_level_features_of_other_proposals_are_refused(module: str, expected: str) -> None:
    assert expected in reason(bytes(wasmtime.wat2wasm(module)))


def test_call_indirect_through_another_table_is_refused() -> None:
    tables = section(4, vec(b"\x70\x00\x01"))
    code = raw_module(b"\x41\x00\x11\x00\x01", extra=b"")
    code = code.replace(MEMORY, tables + MEMORY)
    assert "call_indirect table 1: reference types are not allowed" in reason(code)


def test_extended_constant_expressions_are_refused() -> None:
    module = '(module (memory (export "memory") 1) (global i32 (i32.add (i32.const 1) (i32.const 2))))'
    assert "extended-const is not allowed" in reason(bytes(wasmtime.wat2wasm(module)))


# --- imports ------------------------------------------------------------------------------------------------


def test_env_abort_is_the_only_env_import() -> None:
    ok = '(module (import "env" "abort" (func (param i32 i32 i32 i32))) (memory (export "memory") 1))'
    assert validate_module(bytes(wasmtime.wat2wasm(ok)), LIMITS).imports == (("env", "abort"),)
    seed = '(module (import "env" "seed" (func (result i64))) (memory (export "memory") 1))'
    assert "import env.seed is not a host function of the chain" in reason(bytes(wasmtime.wat2wasm(seed)))


def test_env_abort_with_another_signature_is_refused() -> None:
    bad = '(module (import "env" "abort" (func (param i32 i32 i32))) (memory (export "memory") 1))'
    assert (
        "import env.abort has type (i32, i32, i32) -> (); the host function's type is (i32, i32, i32, i32) -> ()"
        in (reason(bytes(wasmtime.wat2wasm(bad))))
    )


@pytest.mark.parametrize(
    ("module_", "expected"),
    [
        ('(import "env" "t" (table 1 funcref))', "imports a table (env.t)"),
        ('(import "env" "g" (global i32))', "imports a global (env.g)"),
        ('(import "trellis" "memory" (memory 1))', "imports a memory (trellis.memory)"),
    ],
)
def test_only_functions_may_be_imported(module_: str, expected: str) -> None:
    code = bytes(wasmtime.wat2wasm(f'(module {module_} (memory (export "memory") 1))'))
    assert expected in reason(code)


def test_the_same_host_function_may_be_imported_twice() -> None:
    code = bytes(
        wasmtime.wat2wasm(
            f'(module {IMPORTS} (import "trellis" "caller" (func (param i32))) (memory 1) (export "memory" (memory 0)))'
        )
    )
    assert validate_module(code, LIMITS).imports.count(("trellis", "caller")) == 2


# --- memory, table and size ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("(module)", 'the module defines no memory; it must define one and export it as "memory"'),
        ("(module (memory 1))", 'the module does not export its memory as "memory"'),
        ('(module (memory (export "mem") 1))', 'the module does not export its memory as "memory"'),
        ('(module (memory 1) (func (export "memory")))', 'the export "memory" is a function, not the memory'),
    ],
)
def test_the_memory_must_be_exported_as_memory(module: str, expected: str) -> None:
    assert reason(bytes(wasmtime.wat2wasm(module))) == expected


def test_memory_pages_are_limited_by_genesis() -> None:
    code = wat("", pages=20)
    assert reason(code) == "memory declares 20 initial pages; the limit is 16"
    assert validate_module(code, GenesisContracts(max_memory_pages=20)).memory_pages == 20


def test_a_larger_maximum_memory_is_allowed() -> None:
    code = bytes(wasmtime.wat2wasm('(module (memory (export "memory") 1 1000))'))
    assert validate_module(code, LIMITS).memory_max_pages == 1000


def test_a_table_of_1024_elements_is_allowed_and_1025_is_not() -> None:
    assert validate_module(wat("(table 1024 funcref)"), LIMITS).table_elements == 1024
    assert "table declares 1025 elements; the limit is 1024" in reason(wat("(table 1025 funcref)"))


def test_code_over_max_code_bytes_is_refused_before_parsing() -> None:
    code = b"\0asm" + bytes(2000)
    limits = GenesisContracts(max_code_bytes=1024)
    assert reason(code, limits) == "code is 2004 bytes; the limit is 1024"


# --- malformed modules --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (b"", "not a WebAssembly module (the magic bytes \\0asm are missing)"),
        (b"\x7fELF\x02\x01\x01\x00", "not a WebAssembly module (the magic bytes \\0asm are missing)"),
        (b"\0asm\x01\0", "not a WebAssembly module (truncated header)"),
        (b"\0asm\x02\0\0\0", "unsupported WebAssembly version 2; only version 1 is accepted"),
        (b"\0asm\x0d\0\x01\0", "a WebAssembly component is not a contract; a core module is needed"),
        (HEADER + b"\x01\x05\x01", "section 1 claims 5 bytes; only 1 remain (at byte 0x8)"),
        (HEADER + b"\x01\x80\x80\x80\x80\x80\x01", "malformed u32 (longer than 5 bytes) (at byte 0x9)"),
        (HEADER + b"\x01\xff\xff\xff\xff\x7f", "malformed u32 (too large) (at byte 0x9)"),
        (HEADER + b"\x0e\x00", "unknown section id 14 (at byte 0x8)"),
        (HEADER + MEMORY + TYPES, "type section is out of order or repeated"),
        (HEADER + MEMORY + MEMORY, "memory section is out of order or repeated"),
        (HEADER + section(1, vec(b"\x60\x00\x00") + b"\x00"), "type section has 1 trailing bytes"),
        (HEADER + section(1, b"\x05\x60\x00\x00"), "type count 5 exceeds the remaining 3 bytes"),
        (HEADER + section(1, vec(b"\x5f\x00\x00")), "type 0: garbage collection types are not allowed"),
        (HEADER + section(1, vec(b"\x61\x00\x00")), "type 0: expected a function type (0x60), found 0x61"),
        (HEADER + section(3, vec(b"\x00")), "function uses type 0, which does not exist"),
        (HEADER + section(7, vec(name("f") + b"\x00\x00")), "export 'f' names function 0, which does not exist"),
        (HEADER + section(2, vec(b"\x02\xff\xfe" + name("x") + b"\x00\x00")), "import module name is not valid UTF-8"),
    ],
)
def test_malformed_modules_are_refused_precisely(code: bytes, expected: str) -> None:
    assert expected in reason(code)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"\x02\x40", "the body ends before its final end"),
        (b"\x0b\x01", "2 bytes after the body's final end"),
        (b"\x05", "else outside of if"),
        (b"\x41\x80\x80\x80\x80\x70\x1a", "malformed s32 (unused bits set)"),
        (b"\x42" + b"\x80" * 10 + b"\x00\x1a", "malformed s64 (longer than 10 bytes)"),
        (b"\x10\x05", "call 5: no such function"),
        (b"\x20\x03\x1a", "local.get 3: no such local"),
        (b"\x23\x00\x1a", "global.get 0: no such global"),
        (b"\x41\x00\x28\x03\x00\x1a", "i32.load: alignment 2**3 is larger than the natural 2**2"),
        (b"\x02\x05\x0b", "block type 5: no such type"),
        (b"\x41\x00\x41\x00\x41\x00\xfc\x08\x00\x00", "memory.init needs a data count section"),
        (b"\x41\x00\x41\x00\x41\x00\xfc\x0c\x00\x00", "table.init 0: no such element segment"),
    ],
)
def test_malformed_function_bodies_are_refused_precisely(body: bytes, expected: str) -> None:
    assert expected in reason(raw_module(body))


def test_the_function_and_code_sections_must_agree() -> None:
    code = (
        HEADER + TYPES + section(3, vec(b"\x00", b"\x00")) + MEMORY + EXPORT_MEMORY + section(10, vec(b"\x02\x00\x0b"))
    )
    assert "the code section has 1 bodies; the function section declares 2" in reason(code)


def test_a_declared_function_without_a_code_section_is_refused() -> None:
    code = HEADER + TYPES + section(3, vec(b"\x00")) + MEMORY + EXPORT_MEMORY
    assert reason(code) == "the function section declares 1 functions but the code section has 0"


def test_the_data_count_must_match_the_data_section() -> None:
    code = (
        HEADER
        + TYPES
        + MEMORY
        + EXPORT_MEMORY
        + section(12, leb(2))
        + section(11, vec(b"\x01" + vec(b"x")[0:1] + b"x"))
    )
    assert "the data count section says 2 segments but the data section has 1" in reason(code)


def test_duplicate_export_names_are_refused() -> None:
    code = HEADER + TYPES + MEMORY + section(7, vec(name("memory") + b"\x02\x00", name("memory") + b"\x02\x00"))
    assert reason(code) == "duplicate export name 'memory'"


def test_a_global_initialised_from_another_global_is_refused() -> None:
    globals_ = section(6, vec(b"\x7f\x00\x41\x01\x0b", b"\x7f\x00\x23\x00\x0b"))
    code = HEADER + TYPES + MEMORY + globals_ + EXPORT_MEMORY
    assert "global 1 initialiser: global.get 0 is not a constant" in reason(code)


def test_a_start_function_with_parameters_is_refused() -> None:
    code = raw_module(b"", type_index=1, extra=section(8, leb(0)))
    assert "the start function must have type () -> ()" in reason(code)


def test_bulk_memory_instructions_need_a_memory() -> None:
    code = (
        HEADER
        + TYPES
        + section(3, vec(b"\x00"))
        + section(10, vec(b"\x0a\x00\x41\x00\x41\x00\x41\x00\xfc\x0b\x00\x0b"))
    )
    assert "memory.fill but the module has no memory" in reason(code)


# --- robustness ----------------------------------------------------------------------------------------------


def _only_invalid_contract(code: bytes) -> None:
    try:
        validate_module(code, LIMITS)
    except InvalidContract as exc:
        assert exc.reason


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise_anything_but_invalid_contract(code: bytes) -> None:
    _only_invalid_contract(code)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_after_a_valid_header_never_raise_anything_but_invalid_contract(body: bytes) -> None:
    _only_invalid_contract(HEADER + body)


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    code = bytearray(ALLOWED)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        pos = draw(st.integers(0, len(code) - 1))
        if kind == "flip":
            code[pos] = draw(st.integers(0, 255))
        elif kind == "insert":
            code[pos:pos] = draw(st.binary(min_size=1, max_size=4))
        elif kind == "delete":
            del code[pos : pos + draw(st.integers(1, 4))]
        else:
            del code[pos:]
        if not code:
            break
    return bytes(code)


@settings(max_examples=400, deadline=None)
@given(_mutated())
def test_corrupted_modules_never_raise_anything_but_invalid_contract(code: bytes) -> None:
    _only_invalid_contract(code)


@pytest.fixture(scope="module")
def engine() -> WasmEngine:
    return WasmEngine()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_mutated())
def test_the_engine_refuses_corrupted_modules_only_with_invalid_contract(engine: WasmEngine, code: bytes) -> None:
    try:
        engine.validate(code, LIMITS)
    except InvalidContract as exc:
        assert exc.reason
