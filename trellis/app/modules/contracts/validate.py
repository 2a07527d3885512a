"""The module rules of docs/spec/contracts.md section 3, checked by a WebAssembly binary parser of our own.

``validate_module`` decodes every section and every instruction of every function body (immediates included)
and refuses, with ``InvalidContract`` naming the offence and its byte offset, a module that:

- is malformed (bad magic or version, truncated or overlong sections, bad LEB128, sections out of order);
- uses floating point anywhere (an ``f32``/``f64`` value type, a float instruction, the saturating
  float-to-int ``0xFC 0..7`` instructions);
- uses SIMD (``0xFD``), threads (``0xFE``), reference types beyond one ``funcref`` table, exceptions, tail
  calls, typed function references, GC, multi-memory, memory64 or any other proposal not in the spec;
- imports anything but the host functions of ``HOST_IMPORTS`` (module, name and exact signature), or a
  memory, table or global;
- defines more than one memory, does not export it as ``memory``, declares more initial pages than
  ``max_memory_pages`` or a table of more than 1,024 elements;
- is larger than ``max_code_bytes``.

The parser never raises anything but ``InvalidContract`` on any input. It does not type-check function
bodies: the engine also runs wasmtime's own validator (``WasmEngine.validate``), which does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from trellis.core.modules.contracts.engine import InvalidContract
from trellis.core.params import GenesisContracts

I32 = 0x7F
"""Value type ``i32``."""
I64 = 0x7E
"""Value type ``i64``."""

MAX_TABLE_ELEMENTS = 1024
"""Most elements a contract's table may declare (and hold)."""
MAX_FUNCTION_LOCALS = 50_000
"""Most locals one function may declare (wasmtime's own limit)."""
MAX_PAGES = 65_536
"""Most pages a 32-bit linear memory can have."""
METHOD_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
"""An entry point's name (docs/spec/contracts.md section 4; at most 64 characters like ``MethodName``)."""

FuncSig = tuple[tuple[int, ...], tuple[int, ...]]
"""A function type: (parameter types, result types)."""

HOST_IMPORTS: dict[tuple[str, str], FuncSig] = {
    ("trellis", "input_len"): ((), (I32,)),
    ("trellis", "input_read"): ((I32,), ()),
    ("trellis", "return_data"): ((I32, I32), ()),
    ("trellis", "revert"): ((I32, I32), ()),
    ("trellis", "result_read"): ((I32,), ()),
    ("trellis", "storage_get"): ((I32, I32), (I32,)),
    ("trellis", "storage_set"): ((I32, I32, I32, I32), ()),
    ("trellis", "storage_delete"): ((I32, I32), ()),
    ("trellis", "storage_range"): ((I32, I32, I32, I32, I32), (I32,)),
    ("trellis", "caller"): ((I32,), ()),
    ("trellis", "origin"): ((I32,), ()),
    ("trellis", "self_address"): ((I32,), ()),
    ("trellis", "block_height"): ((), (I64,)),
    ("trellis", "block_time"): ((), (I64,)),
    ("trellis", "emit"): ((I32, I32, I32, I32), ()),
    ("trellis", "hash"): ((I32, I32, I32), ()),
    ("trellis", "verify"): ((I32, I32, I32, I32, I32), (I32,)),
    ("trellis", "call"): ((I32, I32, I32, I32, I32, I64), (I32,)),
    ("env", "abort"): ((I32, I32, I32, I32), ()),
}
"""Every function a contract may import, by (module, name), with its exact signature (spec section 4)."""


@dataclass(frozen=True)
class Export:
    """One export of a module.

    Attributes:
        name: the export's name.
        kind: 0 function, 1 table, 2 memory, 3 global.
        index: the index of the exported item in its index space.
    """

    name: str
    kind: int
    index: int


@dataclass(frozen=True)
class ModuleInfo:
    """What the engine needs to know about a module that passed the rules.

    Attributes:
        types: the function types of the type section.
        func_types: the type index of every function, imported ones first.
        imports: the imported host functions, as (module, name), in import order.
        exports: every export, in order.
        memory_pages: the memory's initial size in 64 KiB pages.
        memory_max_pages: its declared maximum, or None.
        table_elements: the table's initial size (None: no table).
        methods: the exported ``() -> ()`` functions whose names are valid method names (spec section 4).
    """

    types: tuple[FuncSig, ...]
    func_types: tuple[int, ...]
    imports: tuple[tuple[str, str], ...]
    exports: tuple[Export, ...]
    memory_pages: int
    memory_max_pages: int | None
    table_elements: int | None
    methods: frozenset[str]


def validate_module(code: bytes, limits: GenesisContracts) -> ModuleInfo:
    """Check ``code`` against the module rules and the chain's limits; return what the engine needs.

    Raises:
        InvalidContract: naming the first rule broken (and where, for malformed or forbidden code).
    """
    if len(code) > limits.max_code_bytes:
        raise InvalidContract(f"code is {len(code)} bytes; the limit is {limits.max_code_bytes}")
    info = parse_module(code)
    check_limits(info, limits)
    return info


def check_limits(info: ModuleInfo, limits: GenesisContracts) -> None:
    """Check the genesis-dependent rules (memory pages) on a parsed module.

    Raises:
        InvalidContract: the memory declares more initial pages than ``limits.max_memory_pages``.
    """
    if info.memory_pages > limits.max_memory_pages:
        raise InvalidContract(
            f"memory declares {info.memory_pages} initial pages; the limit is {limits.max_memory_pages}"
        )


def parse_module(code: bytes, *, bodies: bool = True) -> ModuleInfo:
    """Parse ``code`` and apply the chain-independent rules (everything but the size and page limits).

    Args:
        code: the module's bytes.
        bodies: decode every instruction of every function body (False: only check each body's framing, for
            modules already checked once).

    Raises:
        InvalidContract: malformed, or breaking a rule.
    """
    try:
        return _Parser(code, bodies).parse()
    except InvalidContract:
        raise
    except (IndexError, ValueError, OverflowError, RecursionError) as exc:  # pragma: no cover - defensive
        raise InvalidContract(f"malformed module: {exc}") from exc


# --- instruction tables ---------------------------------------------------------------------------------------

# Immediate kinds of the allowed one-byte opcodes.
_NONE = 0
_BLOCK = 1  # block type
_IDX = 2  # one u32 index (br, br_if, local.*, global.*)
_CALL = 3  # function index
_BR_TABLE = 4
_CALL_INDIRECT = 5
_MEMARG = 6
_MEMIDX = 7  # memory.size / memory.grow: a memory index that must be 0
_I32 = 8
_I64 = 9
_GLOBAL = 10  # global index
_ELSE = 11
_END = 12

_NAMES_MVP = {
    0x00: "unreachable",
    0x01: "nop",
    0x02: "block",
    0x03: "loop",
    0x04: "if",
    0x05: "else",
    0x0B: "end",
    0x0C: "br",
    0x0D: "br_if",
    0x0E: "br_table",
    0x0F: "return",
    0x10: "call",
    0x11: "call_indirect",
    0x1A: "drop",
    0x1B: "select",
    0x20: "local.get",
    0x21: "local.set",
    0x22: "local.tee",
    0x23: "global.get",
    0x24: "global.set",
    0x3F: "memory.size",
    0x40: "memory.grow",
    0x41: "i32.const",
    0x42: "i64.const",
}
_INT_LOADS_STORES = {
    0x28: "i32.load",
    0x29: "i64.load",
    0x2C: "i32.load8_s",
    0x2D: "i32.load8_u",
    0x2E: "i32.load16_s",
    0x2F: "i32.load16_u",
    0x30: "i64.load8_s",
    0x31: "i64.load8_u",
    0x32: "i64.load16_s",
    0x33: "i64.load16_u",
    0x34: "i64.load32_s",
    0x35: "i64.load32_u",
    0x36: "i32.store",
    0x37: "i64.store",
    0x3A: "i32.store8",
    0x3B: "i32.store16",
    0x3C: "i64.store8",
    0x3D: "i64.store16",
    0x3E: "i64.store32",
}
_NATURAL_ALIGN = {
    0x28: 2,
    0x29: 3,
    0x2C: 0,
    0x2D: 0,
    0x2E: 1,
    0x2F: 1,
    0x30: 0,
    0x31: 0,
    0x32: 1,
    0x33: 1,
    0x34: 2,
    0x35: 2,
    0x36: 2,
    0x37: 3,
    0x3A: 0,
    0x3B: 1,
    0x3C: 0,
    0x3D: 1,
    0x3E: 2,
}
"""log2 of each integer load's and store's natural alignment: a larger alignment hint is invalid."""
_INT_NUMERIC = (
    "i32.eqz i32.eq i32.ne i32.lt_s i32.lt_u i32.gt_s i32.gt_u i32.le_s i32.le_u i32.ge_s i32.ge_u "
    "i64.eqz i64.eq i64.ne i64.lt_s i64.lt_u i64.gt_s i64.gt_u i64.le_s i64.le_u i64.ge_s i64.ge_u"
).split()  # 0x45..0x5A
_INT_ARITH = (
    "i32.clz i32.ctz i32.popcnt i32.add i32.sub i32.mul i32.div_s i32.div_u i32.rem_s i32.rem_u i32.and i32.or "
    "i32.xor i32.shl i32.shr_s i32.shr_u i32.rotl i32.rotr "
    "i64.clz i64.ctz i64.popcnt i64.add i64.sub i64.mul i64.div_s i64.div_u i64.rem_s i64.rem_u i64.and i64.or "
    "i64.xor i64.shl i64.shr_s i64.shr_u i64.rotl i64.rotr"
).split()  # 0x67..0x8A
_FLOAT_NAMES = {
    0x2A: "f32.load",
    0x2B: "f64.load",
    0x38: "f32.store",
    0x39: "f64.store",
    0x43: "f32.const",
    0x44: "f64.const",
    **dict(
        zip(
            range(0x5B, 0x67),
            "f32.eq f32.ne f32.lt f32.gt f32.le f32.ge f64.eq f64.ne f64.lt f64.gt f64.le f64.ge".split(),
            strict=True,
        )
    ),
    **dict(
        zip(
            range(0x8B, 0xA7),
            (
                "f32.abs f32.neg f32.ceil f32.floor f32.trunc f32.nearest f32.sqrt f32.add f32.sub f32.mul f32.div "
                "f32.min f32.max f32.copysign f64.abs f64.neg f64.ceil f64.floor f64.trunc f64.nearest f64.sqrt "
                "f64.add f64.sub f64.mul f64.div f64.min f64.max f64.copysign"
            ).split(),
            strict=True,
        )
    ),
    0xA8: "i32.trunc_f32_s",
    0xA9: "i32.trunc_f32_u",
    0xAA: "i32.trunc_f64_s",
    0xAB: "i32.trunc_f64_u",
    **dict(
        zip(
            range(0xAE, 0xC0),
            (
                "i64.trunc_f32_s i64.trunc_f32_u i64.trunc_f64_s i64.trunc_f64_u f32.convert_i32_s "
                "f32.convert_i32_u f32.convert_i64_s f32.convert_i64_u f32.demote_f64 f64.convert_i32_s "
                "f64.convert_i32_u f64.convert_i64_s f64.convert_i64_u f64.promote_f32 i32.reinterpret_f32 "
                "i64.reinterpret_f64 f32.reinterpret_i32 f64.reinterpret_i64"
            ).split(),
            strict=True,
        )
    ),
}
_SAT_TRUNC_NAMES = (
    "i32.trunc_sat_f32_s i32.trunc_sat_f32_u i32.trunc_sat_f64_s i32.trunc_sat_f64_u "
    "i64.trunc_sat_f32_s i64.trunc_sat_f32_u i64.trunc_sat_f64_s i64.trunc_sat_f64_u"
).split()  # 0xFC 0..7
_EH = "exception handling is not allowed"
_REF = "reference types are not allowed"
_FUNC_REF = "typed function references are not allowed"
_PROPOSALS = {
    0x06: f"{_EH} (try)",
    0x07: f"{_EH} (catch)",
    0x08: f"{_EH} (throw)",
    0x09: f"{_EH} (rethrow)",
    0x0A: f"{_EH} (throw_ref)",
    0x12: "tail calls are not allowed (return_call)",
    0x13: "tail calls are not allowed (return_call_indirect)",
    0x14: f"{_FUNC_REF} (call_ref)",
    0x15: f"{_FUNC_REF} (return_call_ref)",
    0x18: f"{_EH} (delegate)",
    0x19: f"{_EH} (catch_all)",
    0x1C: f"{_REF} (typed select)",
    0x1F: f"{_EH} (try_table)",
    0x25: f"{_REF} (table.get)",
    0x26: f"{_REF} (table.set)",
    0xD0: f"{_REF} (ref.null)",
    0xD1: f"{_REF} (ref.is_null)",
    0xD2: f"{_REF} (ref.func)",
    0xD3: f"{_FUNC_REF} (ref.as_non_null)",
    0xD4: f"{_FUNC_REF} (br_on_null)",
    0xD5: f"{_FUNC_REF} (ref.eq)",
    0xD6: f"{_FUNC_REF} (br_on_non_null)",
    0xFB: "garbage collection is not allowed (0xFB prefix)",
    0xFD: "SIMD is not allowed (0xFD prefix)",
    0xFE: "threads and atomics are not allowed (0xFE prefix)",
}
"""Opcodes of proposals the chain does not accept, with the reason given."""
_FC_PROPOSALS = {
    15: f"{_REF} (table.grow)",
    16: f"{_REF} (table.size)",
    17: f"{_REF} (table.fill)",
}

_KIND: list[int | None] = [None] * 256
_NAME: dict[int, str] = {}
for _op, _nm in _NAMES_MVP.items():
    _NAME[_op] = _nm
    _KIND[_op] = _NONE
for _op in (0x02, 0x03, 0x04):
    _KIND[_op] = _BLOCK
_KIND[0x05] = _ELSE
_KIND[0x0B] = _END
for _op in (0x0C, 0x0D, 0x20, 0x21, 0x22):
    _KIND[_op] = _IDX
_KIND[0x23] = _KIND[0x24] = _GLOBAL
_KIND[0x0E] = _BR_TABLE
_KIND[0x10] = _CALL
_KIND[0x11] = _CALL_INDIRECT
_KIND[0x3F] = _KIND[0x40] = _MEMIDX
_KIND[0x41] = _I32
_KIND[0x42] = _I64
for _op, _nm in _INT_LOADS_STORES.items():
    _NAME[_op] = _nm
    _KIND[_op] = _MEMARG
for _i, _nm in enumerate(_INT_NUMERIC):
    _NAME[0x45 + _i] = _nm
    _KIND[0x45 + _i] = _NONE
for _i, _nm in enumerate(_INT_ARITH):
    _NAME[0x67 + _i] = _nm
    _KIND[0x67 + _i] = _NONE
for _op, _nm in (
    (0xA7, "i32.wrap_i64"),
    (0xAC, "i64.extend_i32_s"),
    (0xAD, "i64.extend_i32_u"),
    (0xC0, "i32.extend8_s"),
    (0xC1, "i32.extend16_s"),
    (0xC2, "i64.extend8_s"),
    (0xC3, "i64.extend16_s"),
    (0xC4, "i64.extend32_s"),
):
    _NAME[_op] = _nm
    _KIND[_op] = _NONE

_SECTION_NAMES = {
    0: "custom",
    1: "type",
    2: "import",
    3: "function",
    4: "table",
    5: "memory",
    6: "global",
    7: "export",
    8: "start",
    9: "element",
    10: "code",
    11: "data",
    12: "data count",
}
# The order sections must appear in (custom sections may appear anywhere).
_SECTION_ORDER = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 7, 8: 8, 9: 9, 12: 10, 10: 11, 11: 12}
_EXTERN_KINDS = {0: "function", 1: "table", 2: "memory", 3: "global"}


def _describe_valtype(b: int) -> str:
    if b in (0x7D, 0x7C):
        return f"floating point is not allowed ({'f32' if b == 0x7D else 'f64'} value type)"
    if b == 0x7B:
        return "SIMD is not allowed (v128 value type)"
    if b in (0x70, 0x6F):
        return f"reference types are not allowed ({'funcref' if b == 0x70 else 'externref'} value type)"
    return f"unknown value type 0x{b:02x}"


class _Parser:
    """One pass over a module's bytes. Every read checks bounds; every failure is an ``InvalidContract``."""

    def __init__(self, code: bytes, bodies: bool) -> None:
        self.data = code
        self.pos = 0
        self.end = len(code)
        self.bodies = bodies
        self.types: list[FuncSig] = []
        self.func_types: list[int] = []
        self.imports: list[tuple[str, str]] = []
        self.n_imported_funcs = 0
        self.n_globals = 0
        self.n_tables = 0
        self.table_elements: int | None = None
        self.memories: list[tuple[int, int | None]] = []
        self.exports: list[Export] = []
        self.n_elems = 0
        self.data_count: int | None = None
        self.n_data: int | None = None
        self.n_bodies: int | None = None

    # --- primitive reads -----------------------------------------------------------------------------------

    def fail(self, reason: str, at: int | None = None) -> InvalidContract:
        return InvalidContract(f"{reason} (at byte 0x{self.pos if at is None else at:x})")

    def byte(self) -> int:
        if self.pos >= self.end:
            raise self.fail("unexpected end of section")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def read(self, n: int) -> bytes:
        if n > self.end - self.pos:
            raise self.fail(f"{n} bytes announced but only {self.end - self.pos} remain")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u32(self) -> int:
        result = 0
        shift = 0
        start = self.pos
        while True:
            b = self.byte()
            if shift == 28 and b & 0x70:
                raise self.fail("malformed u32 (too large)", start)
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 28:
                raise self.fail("malformed u32 (longer than 5 bytes)", start)

    def signed(self, bits: int) -> int:
        result = 0
        shift = 0
        start = self.pos
        max_bytes = (bits + 6) // 7
        for i in range(max_bytes):
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                if i == max_bytes - 1:
                    # The unused bits of the last byte must all equal the sign bit.
                    used = bits - 7 * (max_bytes - 1)
                    rest = b >> (used - 1) & 0x7F
                    if rest not in (0, 0x7F >> (used - 1)):
                        raise self.fail(f"malformed s{bits} (unused bits set)", start)
                if b & 0x40:
                    result -= 1 << shift
                return result
        raise self.fail(f"malformed s{bits} (longer than {max_bytes} bytes)", start)

    def count(self, what: str, min_size: int = 1) -> int:
        """A vector's length, refused when the rest of the section cannot hold that many items."""
        at = self.pos
        n = self.u32()
        if n * min_size > self.end - self.pos:
            raise self.fail(f"{what} count {n} exceeds the remaining {self.end - self.pos} bytes", at)
        return n

    def name(self, what: str) -> str:
        at = self.pos
        raw = self.read(self.u32())
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail(f"{what} is not valid UTF-8", at) from None

    def valtype(self, where: str) -> int:
        at = self.pos
        b = self.byte()
        if b in (I32, I64):
            return b
        raise self.fail(f"{where}: {_describe_valtype(b)}", at)

    def limits(self, what: str, max_allowed: int) -> tuple[int, int | None]:
        at = self.pos
        flags = self.byte()
        if flags in (0x02, 0x03):
            raise self.fail(f"{what}: threads are not allowed (shared {what})", at)
        if flags & 0x04:
            raise self.fail(f"{what}: 64-bit {what}s are not allowed", at)
        if flags & 0x08:
            raise self.fail(f"{what}: custom page sizes are not allowed", at)
        if flags not in (0x00, 0x01):
            raise self.fail(f"{what}: malformed limits flags 0x{flags:02x}", at)
        lo = self.u32()
        hi = self.u32() if flags == 0x01 else None
        if lo > max_allowed:
            raise self.fail(f"{what}: initial size {lo} exceeds {max_allowed}", at)
        if hi is not None and hi < lo:
            raise self.fail(f"{what}: maximum {hi} is below the initial size {lo}", at)
        if hi is not None and hi > max_allowed:
            raise self.fail(f"{what}: maximum {hi} exceeds {max_allowed}", at)
        return lo, hi

    # --- module ------------------------------------------------------------------------------------------

    def parse(self) -> ModuleInfo:
        if self.data[:4] != b"\0asm":
            raise InvalidContract("not a WebAssembly module (the magic bytes \\0asm are missing)")
        if len(self.data) < 8:
            raise InvalidContract("not a WebAssembly module (truncated header)")
        version = int.from_bytes(self.data[4:8], "little")
        if version != 1:
            if self.data[6:8] == b"\x01\x00":
                raise InvalidContract("a WebAssembly component is not a contract; a core module is needed")
            raise InvalidContract(f"unsupported WebAssembly version {version}; only version 1 is accepted")
        self.pos = 8
        last = 0
        while self.pos < len(self.data):
            self.end = len(self.data)
            at = self.pos
            sid = self.byte()
            size = self.u32()
            body_start = self.pos
            if size > len(self.data) - body_start:
                raise self.fail(f"section {sid} claims {size} bytes; only {len(self.data) - body_start} remain", at)
            self.end = body_start + size
            if sid not in _SECTION_NAMES:
                if sid == 13:
                    raise self.fail("exception handling is not allowed (tag section)", at)
                raise self.fail(f"unknown section id {sid}", at)
            if sid != 0:
                order = _SECTION_ORDER[sid]
                if order <= last:
                    raise self.fail(f"{_SECTION_NAMES[sid]} section is out of order or repeated", at)
                last = order
            getattr(self, f"_section_{sid}")()
            if self.pos != self.end:
                raise self.fail(f"{_SECTION_NAMES[sid]} section has {self.end - self.pos} trailing bytes")
        self.end = len(self.data)
        return self._finish()

    def _finish(self) -> ModuleInfo:
        n_defined = len(self.func_types) - self.n_imported_funcs
        if (self.n_bodies or 0) != n_defined:
            raise InvalidContract(
                f"the function section declares {n_defined} functions but the code section has {self.n_bodies or 0}"
            )
        if self.data_count is not None and self.data_count != (self.n_data or 0):
            raise InvalidContract(
                f"the data count section says {self.data_count} segments but the data section has {self.n_data or 0}"
            )
        if not self.memories:
            raise InvalidContract('the module defines no memory; it must define one and export it as "memory"')
        names: set[str] = set()
        memory_exported = False
        for ex in self.exports:
            if ex.name in names:
                raise InvalidContract(f"duplicate export name {ex.name!r}")
            names.add(ex.name)
            if ex.name == "memory":
                if ex.kind != 2:
                    raise InvalidContract(f'the export "memory" is a {_EXTERN_KINDS[ex.kind]}, not the memory')
                memory_exported = True
        if not memory_exported:
            raise InvalidContract('the module does not export its memory as "memory"')
        methods = frozenset(
            ex.name
            for ex in self.exports
            if ex.kind == 0 and self.types[self.func_types[ex.index]] == ((), ()) and METHOD_NAME.fullmatch(ex.name)
        )
        pages, max_pages = self.memories[0]
        return ModuleInfo(
            types=tuple(self.types),
            func_types=tuple(self.func_types),
            imports=tuple(self.imports),
            exports=tuple(self.exports),
            memory_pages=pages,
            memory_max_pages=max_pages,
            table_elements=self.table_elements,
            methods=methods,
        )

    # --- sections ----------------------------------------------------------------------------------------

    def _section_0(self) -> None:  # custom: a name, then anything
        self.name("custom section name")
        self.pos = self.end

    def _section_1(self) -> None:  # types
        for i in range(self.count("type", 3)):
            at = self.pos
            form = self.byte()
            if form != 0x60:
                if form in (0x5E, 0x5F, 0x4E, 0x4F, 0x50):
                    raise self.fail(f"type {i}: garbage collection types are not allowed", at)
                raise self.fail(f"type {i}: expected a function type (0x60), found 0x{form:02x}", at)
            params = tuple(self.valtype(f"type {i} parameter") for _ in range(self.count("parameter")))
            results = tuple(self.valtype(f"type {i} result") for _ in range(self.count("result")))
            self.types.append((params, results))

    def _section_2(self) -> None:  # imports
        for _ in range(self.count("import", 4)):
            at = self.pos
            module = self.name("import module name")
            field = self.name("import name")
            kind = self.byte()
            if kind != 0x00:
                what = _EXTERN_KINDS.get(kind, f"item of kind 0x{kind:02x}")
                raise self.fail(f"imports a {what} ({module}.{field}); only host functions may be imported", at)
            type_index = self.u32()
            if type_index >= len(self.types):
                raise self.fail(f"import {module}.{field} uses type {type_index}, which does not exist", at)
            expected = HOST_IMPORTS.get((module, field))
            if expected is None:
                raise self.fail(f"import {module}.{field} is not a host function of the chain", at)
            actual = self.types[type_index]
            if actual != expected:
                raise self.fail(
                    f"import {module}.{field} has type {_sig(actual)}; the host function's type is {_sig(expected)}",
                    at,
                )
            self.imports.append((module, field))
            self.func_types.append(type_index)
        self.n_imported_funcs = len(self.func_types)

    def _section_3(self) -> None:  # function declarations
        for _ in range(self.count("function")):
            at = self.pos
            type_index = self.u32()
            if type_index >= len(self.types):
                raise self.fail(f"function uses type {type_index}, which does not exist", at)
            self.func_types.append(type_index)

    def _section_4(self) -> None:  # tables
        n = self.count("table", 3)
        for _ in range(n):
            at = self.pos
            if self.n_tables:
                raise self.fail("reference types are not allowed (more than one table)", at)
            ref = self.byte()
            if ref != 0x70:
                if ref == 0x40:
                    raise self.fail("typed function references are not allowed (table initialiser)", at)
                raise self.fail(f"table: {_describe_valtype(ref)}; only funcref tables are allowed", at)
            lo, _hi = self.limits("table", 2**32 - 1)
            if lo > MAX_TABLE_ELEMENTS:
                raise self.fail(f"table declares {lo} elements; the limit is {MAX_TABLE_ELEMENTS}", at)
            self.n_tables += 1
            self.table_elements = lo

    def _section_5(self) -> None:  # memories
        n = self.count("memory", 2)
        for _ in range(n):
            at = self.pos
            if self.memories:
                raise self.fail("the module defines more than one memory; at most one is allowed", at)
            self.memories.append(self.limits("memory", MAX_PAGES))

    def _section_6(self) -> None:  # globals
        for i in range(self.count("global", 3)):
            ty = self.valtype(f"global {i}")
            at = self.pos
            mut = self.byte()
            if mut not in (0, 1):
                raise self.fail(f"global {i}: malformed mutability flag 0x{mut:02x}", at)
            self.const_expr(ty, f"global {i} initialiser")
            self.n_globals += 1

    def _section_7(self) -> None:  # exports
        for _ in range(self.count("export", 3)):
            at = self.pos
            name = self.name("export name")
            kind = self.byte()
            index = self.u32()
            if kind == 0:
                limit = len(self.func_types)
            elif kind == 1:
                limit = self.n_tables
            elif kind == 2:
                limit = len(self.memories)
            elif kind == 3:
                limit = self.n_globals
            else:
                raise self.fail(f"export {name!r} has an unknown kind 0x{kind:02x}", at)
            if index >= limit:
                raise self.fail(f"export {name!r} names {_EXTERN_KINDS[kind]} {index}, which does not exist", at)
            self.exports.append(Export(name, kind, index))

    def _section_8(self) -> None:  # start
        at = self.pos
        index = self.u32()
        if index >= len(self.func_types):
            raise self.fail(f"start function {index} does not exist", at)
        if self.types[self.func_types[index]] != ((), ()):
            raise self.fail("the start function must have type () -> ()", at)

    def _section_9(self) -> None:  # elements
        n = self.count("element segment", 2)
        for i in range(n):
            at = self.pos
            flags = self.u32()
            where = f"element segment {i}"
            if flags in (3, 7):
                raise self.fail(f"{where}: reference types are not allowed (declarative segment)", at)
            if flags > 7:
                raise self.fail(f"{where}: malformed flags {flags}", at)
            if flags in (2, 6):
                table = self.u32()
                if table != 0:
                    raise self.fail(f"{where}: reference types are not allowed (table {table})", at)
            if (flags & 1) == 0:
                if not self.n_tables:
                    raise self.fail(f"{where}: active segment but the module has no table", at)
                self.const_expr(I32, f"{where} offset")
            if (flags & 4) == 0:
                if flags & 3:
                    kind_at = self.pos
                    if self.byte() != 0x00:
                        raise self.fail(f"{where}: only function elements are allowed", kind_at)
                for _ in range(self.count(f"{where} function", 1)):
                    self.func_index(where)
            else:
                if flags & 3:
                    ref_at = self.pos
                    ref = self.byte()
                    if ref != 0x70:
                        raise self.fail(f"{where}: {_describe_valtype(ref)}", ref_at)
                for _ in range(self.count(f"{where} expression", 2)):
                    self.elem_expr(where)
            self.n_elems += 1

    def _section_12(self) -> None:  # data count
        self.data_count = self.u32()

    def _section_10(self) -> None:  # code
        n = self.count("function body", 2)
        n_defined = len(self.func_types) - self.n_imported_funcs
        if n != n_defined:
            raise self.fail(f"the code section has {n} bodies; the function section declares {n_defined}")
        section_end = self.end
        for i in range(n):
            at = self.pos
            size = self.u32()
            if size > section_end - self.pos:
                raise self.fail(f"function body {i} claims {size} bytes; the section has {section_end - self.pos}", at)
            body_end = self.pos + size
            self.end = body_end
            self.function_body(self.n_imported_funcs + i)
            self.end = section_end
        self.n_bodies = n

    def _section_11(self) -> None:  # data
        n = self.count("data segment", 2)
        for i in range(n):
            at = self.pos
            flags = self.u32()
            where = f"data segment {i}"
            if flags == 2:
                mem = self.u32()
                if mem != 0:
                    raise self.fail(f"{where}: multiple memories are not allowed (memory {mem})", at)
            elif flags not in (0, 1):
                raise self.fail(f"{where}: malformed flags {flags}", at)
            if flags != 1:
                if not self.memories:
                    raise self.fail(f"{where}: active segment but the module has no memory", at)
                self.const_expr(I32, f"{where} offset")
            self.read(self.u32())
        self.n_data = n

    # --- expressions -------------------------------------------------------------------------------------

    def func_index(self, where: str) -> int:
        at = self.pos
        index = self.u32()
        if index >= len(self.func_types):
            raise self.fail(f"{where}: function {index} does not exist", at)
        return index

    def const_expr(self, ty: int, where: str) -> None:
        """A constant expression: one ``i32.const``, ``i64.const`` or ``global.get``, then ``end``."""
        at = self.pos
        op = self.byte()
        if op == 0x41 and ty == I32:
            self.signed(32)
        elif op == 0x42 and ty == I64:
            self.signed(64)
        elif op == 0x23:
            index = self.u32()
            # Only imported globals may be read in a constant expression, and no global may be imported.
            raise self.fail(f"{where}: global.get {index} is not a constant (no global may be imported)", at)
        elif op in (0x43, 0x44):
            raise self.fail(f"{where}: floating point is not allowed ({_FLOAT_NAMES[op]})", at)
        elif op == 0xFD:
            raise self.fail(f"{where}: SIMD is not allowed", at)
        elif op in (0xD0, 0xD2):
            raise self.fail(f"{where}: reference types are not allowed", at)
        else:
            expected = "i32.const" if ty == I32 else "i64.const"
            raise self.fail(f"{where}: expected {expected} as a constant expression, found opcode 0x{op:02x}", at)
        end_at = self.pos
        if self.byte() != 0x0B:
            raise self.fail(
                f"{where}: a constant expression must be a single constant (extended-const is not allowed)", end_at
            )

    def elem_expr(self, where: str) -> None:
        """An element expression of a ``funcref`` segment: ``ref.func f`` or ``ref.null func``, then ``end``."""
        at = self.pos
        op = self.byte()
        if op == 0xD2:
            self.func_index(where)
        elif op == 0xD0:
            if self.byte() != 0x70:
                raise self.fail(f"{where}: only null function references are allowed", at)
        else:
            raise self.fail(f"{where}: expected ref.func or ref.null as an element expression, found 0x{op:02x}", at)
        if self.byte() != 0x0B:
            raise self.fail(f"{where}: an element expression must be a single reference", at)

    def function_body(self, func: int) -> None:
        where = f"function {func}"
        n_params = len(self.types[self.func_types[func]][0])
        n_locals = n_params
        for _ in range(self.count(f"{where} local group", 2)):
            at = self.pos
            n = self.u32()
            self.valtype(f"{where} local")
            n_locals += n
            if n_locals > MAX_FUNCTION_LOCALS:
                raise self.fail(f"{where} declares more than {MAX_FUNCTION_LOCALS} locals", at)
        if not self.bodies:
            # Framing only: the body was fully checked when the module was deployed.
            if self.end == self.pos or self.data[self.end - 1] != 0x0B:
                raise self.fail(f"{where}: the body does not end with end")
            self.pos = self.end
            return
        self.instructions(where, n_locals)

    def instructions(self, where: str, n_locals: int) -> None:
        data = self.data
        end = self.end
        kinds = _KIND
        n_funcs = len(self.func_types)
        n_types = len(self.types)
        depth = 0
        while True:
            if self.pos >= end:
                raise self.fail(f"{where}: the body ends before its final end")
            at = self.pos
            op = data[at]
            self.pos = at + 1
            kind = kinds[op]
            if kind is None:
                self.forbidden(where, op, at)
            elif kind == _NONE:
                pass
            elif kind == _IDX:
                index = self.u32()
                if op >= 0x20 and index >= n_locals:
                    raise self.fail(f"{where}: {_NAME[op]} {index}: no such local", at)
            elif kind == _MEMARG:
                align = self.u32()
                self.u32()
                if align >= 0x40:
                    raise self.fail(f"{where}: {_NAME[op]}: multiple memories are not allowed", at)
                if align > _NATURAL_ALIGN[op]:
                    raise self.fail(
                        f"{where}: {_NAME[op]}: alignment 2**{align} is larger than the natural 2**{_NATURAL_ALIGN[op]}",
                        at,
                    )
                if not self.memories:
                    raise self.fail(f"{where}: {_NAME[op]} but the module has no memory", at)
            elif kind == _I32:
                self.signed(32)
            elif kind == _I64:
                self.signed(64)
            elif kind == _CALL:
                index = self.u32()
                if index >= n_funcs:
                    raise self.fail(f"{where}: call {index}: no such function", at)
            elif kind == _GLOBAL:
                index = self.u32()
                if index >= self.n_globals:
                    raise self.fail(f"{where}: {_NAME[op]} {index}: no such global", at)
            elif kind == _BLOCK:
                self.block_type(where)
                depth += 1
            elif kind == _END:
                if depth == 0:
                    if self.pos != end:
                        raise self.fail(f"{where}: {end - self.pos} bytes after the body's final end")
                    return
                depth -= 1
            elif kind == _ELSE:
                if depth == 0:
                    raise self.fail(f"{where}: else outside of if", at)
            elif kind == _BR_TABLE:
                for _ in range(self.count(f"{where} br_table target", 1) + 1):
                    self.u32()
            elif kind == _CALL_INDIRECT:
                type_index = self.u32()
                table = self.u32()
                if type_index >= n_types:
                    raise self.fail(f"{where}: call_indirect type {type_index}: no such type", at)
                if table != 0:
                    raise self.fail(f"{where}: call_indirect table {table}: reference types are not allowed", at)
                if not self.n_tables:
                    raise self.fail(f"{where}: call_indirect but the module has no table", at)
            elif kind == _MEMIDX:
                mem = self.u32()
                if mem != 0:
                    raise self.fail(f"{where}: {_NAME[op]} {mem}: multiple memories are not allowed", at)
                if not self.memories:
                    raise self.fail(f"{where}: {_NAME[op]} but the module has no memory", at)
            else:  # pragma: no cover - every kind is handled above
                raise self.fail(f"{where}: internal error decoding opcode 0x{op:02x}", at)

    def forbidden(self, where: str, op: int, at: int) -> None:
        """Decode a 0xFC instruction (allowed bulk-memory ones return) or refuse the opcode at ``at``."""
        if op == 0xFC:
            sub = self.u32()
            if sub <= 7:
                raise self.fail(f"{where}: floating point is not allowed ({_SAT_TRUNC_NAMES[sub]})", at)
            if sub == 8:  # memory.init data, memory 0
                self.data_index(where, "memory.init", at)
                self.zero_memory(where, "memory.init", at)
            elif sub == 9:  # data.drop data
                self.data_index(where, "data.drop", at)
            elif sub == 10:  # memory.copy memory 0, memory 0
                self.zero_memory(where, "memory.copy", at)
                self.zero_memory(where, "memory.copy", at)
            elif sub == 11:  # memory.fill memory 0
                self.zero_memory(where, "memory.fill", at)
            elif sub == 12:  # table.init elem, table 0
                self.elem_index(where, "table.init", at)
                self.zero_table(where, "table.init", at)
            elif sub == 13:  # elem.drop elem
                self.elem_index(where, "elem.drop", at)
            elif sub == 14:  # table.copy table 0, table 0
                self.zero_table(where, "table.copy", at)
                self.zero_table(where, "table.copy", at)
            elif sub in _FC_PROPOSALS:
                raise self.fail(f"{where}: {_FC_PROPOSALS[sub]}", at)
            else:
                raise self.fail(f"{where}: unknown instruction 0xFC {sub}", at)
            return
        if op in _FLOAT_NAMES:
            raise self.fail(f"{where}: floating point is not allowed ({_FLOAT_NAMES[op]})", at)
        if op in _PROPOSALS:
            raise self.fail(f"{where}: {_PROPOSALS[op]}", at)
        raise self.fail(f"{where}: unknown opcode 0x{op:02x}", at)

    def block_type(self, where: str) -> None:
        at = self.pos
        b = self.byte()
        if b in (0x40, I32, I64):
            return
        if b in (0x7D, 0x7C, 0x7B, 0x70, 0x6F):
            raise self.fail(f"{where}: block type: {_describe_valtype(b)}", at)
        if b & 0x40:  # a negative s33 that is not a value type above
            raise self.fail(f"{where}: unknown block type 0x{b:02x}", at)
        self.pos = at
        index = self.signed(33)
        if index >= len(self.types):
            raise self.fail(f"{where}: block type {index}: no such type", at)

    def zero_memory(self, where: str, name: str, at: int) -> None:
        if self.u32() != 0:
            raise self.fail(f"{where}: {name}: multiple memories are not allowed", at)
        if not self.memories:
            raise self.fail(f"{where}: {name} but the module has no memory", at)

    def zero_table(self, where: str, name: str, at: int) -> None:
        if self.u32() != 0:
            raise self.fail(f"{where}: {name}: reference types are not allowed (table index)", at)
        if not self.n_tables:
            raise self.fail(f"{where}: {name} but the module has no table", at)

    def data_index(self, where: str, name: str, at: int) -> None:
        index = self.u32()
        if self.data_count is None:
            raise self.fail(f"{where}: {name} needs a data count section", at)
        if index >= self.data_count:
            raise self.fail(f"{where}: {name} {index}: no such data segment", at)

    def elem_index(self, where: str, name: str, at: int) -> None:
        index = self.u32()
        if index >= self.n_elems:
            raise self.fail(f"{where}: {name} {index}: no such element segment", at)


def _sig(sig: FuncSig) -> str:
    names = {I32: "i32", I64: "i64"}
    params = ", ".join(names[t] for t in sig[0])
    results = ", ".join(names[t] for t in sig[1])
    return f"({params}) -> ({results})"
