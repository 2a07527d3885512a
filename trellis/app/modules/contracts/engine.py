"""The WebAssembly contract engine: wasmtime, metered by fuel (docs/spec/contracts.md).

``WasmEngine`` implements the core's ``ContractEngine``. One wasmtime ``Engine`` and ``Linker`` serve every
call; compiled modules are cached by code hash (LRU). Each call frame gets a fresh ``Store`` and instance
(limits: ``max_memory_pages`` of memory, 1,024 table elements, one instance; memories come zeroed from a
pooling allocator), so nothing survives between calls but storage. Fuel is the gas left: the store starts
with the call's gas, host functions consume their cost from it, and a nested call moves at most its gas into
the callee's store and back what is left. ``gas_used`` is the call's gas minus the fuel left at the end.

Gas of the host functions (``Gas`` of the core; where the spec's table is silent, the choice made here):

- ``storage_get``: 200 + 1 per byte of key and value; ``storage_set``/``storage_delete``: 2,000 + 20 per byte
  of key and value; ``storage_range``: 200 + 1 per byte of its start and end keys, then 200 + 1 per byte of
  key and value for each entry returned;
- ``emit``: 500 + 8 per byte of topic and data; ``hash``: 100 + 1 per byte; ``verify``: 5,000 + 1 per
  byte of the message (verifying hashes it); ``call``: 2,000, then what the callee uses;
- ``return_data``: 50 + 2 per byte; every other host function (``revert`` and ``abort`` included): 50.

A trap of the code itself (unreachable, out-of-bounds access, stack overflow, division by zero...) uses all
the gas of the frame that trapped: wasmtime does not account fuel exactly up to every kind of trap, and work
must not come free by ending it with one. A ``revert`` or ``abort`` uses only the gas spent.

Host functions are bound through wasmtime's unchecked C API (``_capi``) to keep the per-call overhead small.
A host function fails the call by raising ``_Halt``; the trampoline turns that into a wasm trap, the trap
unwinds the frame, and the frame re-raises the ``_Halt`` — through every enclosing frame, so a failing nested
call fails the whole transaction. Anything else a host function raises (a storage error of the node, not of
the contract) is re-raised out of ``call``: it is the node's failure, not a receipt.

Each frame's wasm may use 512 KiB of native stack, counted from where the frame starts, so the deepest call
stack genesis allows (64 frames) needs tens of megabytes: on the main thread the engine raises the soft stack
limit to what ``max_call_depth`` needs; calls from other threads run on a thread of the engine's own with a
stack that large.

Every outcome is a function of the call's inputs: messages never contain wasmtime's own trap text (which
could change between versions), only fixed strings and numbers from the call. Fuel itself is wasmtime's:
the same outcome needs the same wasmtime version and the configuration of ``make_config``.
"""

from __future__ import annotations

import ctypes
import hashlib
import resource
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from ctypes import c_uint64, c_void_p
from typing import Any, Final, TypeVar

import wasmtime
from wasmtime import _ffi as ffi

from trellis.app.modules.contracts import _capi as capi
from trellis.app.modules.contracts.validate import (
    HOST_IMPORTS,
    I32,
    I64,
    MAX_TABLE_ELEMENTS,
    ModuleInfo,
    check_limits,
    parse_module,
    validate_module,
)
from trellis.core.execution.results import ResultCode
from trellis.core.ledger.block import Event
from trellis.core.modules.contracts.engine import (
    MAX_CONTRACT_KEY,
    MAX_CONTRACT_VALUE,
    MAX_RANGE_ENTRIES,
    CallOutcome,
    ContractHost,
    Gas,
    InvalidContract,
)
from trellis.core.params import GenesisContracts

MAX_WASM_STACK: Final = 512 * 1024
"""Native stack a call frame's WebAssembly may use (unbounded recursion traps with a stack overflow)."""
MAX_RETURN_DATA: Final = 16 * 1024
"""Longest return data."""
MAX_CALL_ARGS: Final = 16 * 1024
"""Longest arguments of a nested call (as of a transaction's)."""
MAX_EVENTS: Final = 60
"""Most events one transaction's contract code may emit."""
MAX_EVENT_DATA: Final = 1024
"""Longest event data."""
MAX_MESSAGE: Final = 1024
"""Most bytes of a revert or abort message read from memory."""
PAGE: Final = 65_536
"""A WebAssembly page."""
MAX_RESERVED_PAGES: Final = 1024
"""Pages of address space reserved per linear memory: the largest ``max_memory_pages`` genesis accepts."""
POOL_SLOTS: Final = 128
"""Instances (and memories and tables) the pooling allocator holds: twice the deepest call stack allowed."""
POOL_KEEP_RESIDENT: Final = 1024 * 1024
"""Bytes of each pooled memory kept mapped (and zeroed) between frames, instead of returned to the kernel."""
MAX_INSTANCE_STATE: Final = 8 * 1024 * 1024
"""Largest per-instance runtime state (wasmtime's ``vmctx``) the pool accepts; deployment refuses a module
that needs more."""
MAX_GAS: Final = 2**63 - 1
"""Most gas one call may be given (wasmtime's fuel is a u64; transactions are limited to 2**53)."""
DEFAULT_CACHE_SIZE: Final = 128
"""Compiled modules kept (each way of finding them: by code hash for calls, by content for deployments)."""

_FRAME_NATIVE_STACK = MAX_WASM_STACK + 256 * 1024
"""Native stack one frame may need: its wasm stack, plus the host and wasmtime frames around it."""
_STACK_BASE = 4 * 1024 * 1024
"""Native stack the rest of the node may be using when it calls the engine."""
_TOPIC_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_HOST_TRAP_MESSAGE = b"trellis host function failed"

_TRAP_MESSAGES: dict[wasmtime.TrapCode, str] = {
    wasmtime.TrapCode.STACK_OVERFLOW: "stack overflow (the native stack is limited to 512 KiB)",
    wasmtime.TrapCode.MEMORY_OUT_OF_BOUNDS: "out-of-bounds memory access",
    wasmtime.TrapCode.HEAP_MISALIGNED: "misaligned memory access",
    wasmtime.TrapCode.TABLE_OUT_OF_BOUNDS: "out-of-bounds table access",
    wasmtime.TrapCode.INDIRECT_CALL_TO_NULL: "indirect call to a null table entry",
    wasmtime.TrapCode.BAD_SIGNATURE: "indirect call with the wrong function type",
    wasmtime.TrapCode.INTEGER_OVERFLOW: "integer overflow",
    wasmtime.TrapCode.INTEGER_DIVISION_BY_ZERO: "integer division by zero",
    wasmtime.TrapCode.BAD_CONVERSION_TO_INTEGER: "invalid conversion to integer",
    wasmtime.TrapCode.UNREACHABLE: "unreachable instruction executed",
}


class _Halt(Exception):
    """A call frame stops: the transaction fails with ``code`` and ``message``.

    ``fuel_left`` is filled in by the frame it stops (the fuel its store had left), for the gas accounting.
    """

    def __init__(self, code: ResultCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fuel_left = 0


class _Compiled:
    """A module compiled for this engine, linked against the host functions."""

    __slots__ = ("info", "module", "pre", "pre_ptr")

    def __init__(self, info: ModuleInfo, module: wasmtime.Module, pre: wasmtime.InstancePre) -> None:
        self.info = info
        self.module = module
        self.pre = pre
        self.pre_ptr = capi.address(pre)


class _Frame:
    """One level of the call stack: its store, instance handles and the host-side state of the call.

    Frames are allocated once per depth and reused, so a call allocates no ctypes buffers.
    """

    __slots__ = (
        "args",
        "caller",
        "contract",
        "ctx",
        "fuel",
        "fuel_addr",
        "func",
        "func_addr",
        "func_item_addr",
        "instance",
        "instance_addr",
        "memory",
        "memory_addr",
        "memory_item_addr",
        "ready",
        "result",
        "ret",
        "trap",
        "trap_addr",
    )

    def __init__(self) -> None:
        self.ctx = 0
        self.contract = b""
        self.caller = b""
        self.args = b""
        self.result = b""
        self.ret = b""
        self.instance = capi.Instance()
        self.instance_addr = ctypes.addressof(self.instance)
        self.memory = capi.Extern()
        self.memory_item_addr = ctypes.addressof(self.memory)
        self.memory_addr = self.memory_item_addr + capi.EXTERN_OF_OFFSET
        self.ready = False  # ``memory`` is this frame's instance's memory
        self.func = capi.Extern()
        self.func_item_addr = ctypes.addressof(self.func)
        self.func_addr = self.func_item_addr + capi.EXTERN_OF_OFFSET
        self.trap = c_void_p()
        self.trap_addr = ctypes.addressof(self.trap)
        self.fuel = c_uint64()
        self.fuel_addr = ctypes.addressof(self.fuel)


class _Tx:
    """What every frame of one transaction's call shares."""

    __slots__ = ("events", "host", "limits", "memory_bytes", "read_only", "stack")

    def __init__(self, host: ContractHost) -> None:
        self.host = host
        self.limits: GenesisContracts = host.limits
        self.read_only = host.read_only
        self.memory_bytes = host.limits.max_memory_pages * PAGE
        self.events: list[Event] = []
        self.stack: list[bytes] = []


_K = TypeVar("_K")
_V = TypeVar("_V")


class _Lru(OrderedDict[_K, _V]):
    """A bounded mapping that forgets the least recently used entry."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def lookup(self, key: _K) -> _V | None:
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value

    def remember(self, key: _K, value: _V) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


def make_config() -> wasmtime.Config:
    """The wasmtime configuration of every engine: fuel, a 512 KiB wasm stack, only the spec's features.

    Sign extension, mutable globals and multi-value cannot be switched off in wasmtime (nor do they need to
    be); bulk memory stays on. Reference types can only be switched off when the component model's async
    support is off too, which wasmtime-py exposes only through its C bindings: where those are missing it stays
    on, and the engine's own validator refuses every reference-type instruction anyway.
    """
    config = wasmtime.Config()
    config.consume_fuel = True
    config.max_wasm_stack = MAX_WASM_STACK
    config.cranelift_opt_level = "speed"
    config.parallel_compilation = False
    # Linear memory lives in a fixed 64 KiB x 1,024 page reservation (the most genesis may allow), so it never
    # moves and memory.grow never copies it (with a smaller reservation, growing page by page to 64 MiB copies
    # gigabytes for a few gas); bounds are checked explicitly instead of by 4 GiB guard regions, which keeps
    # creating and dropping a store per call frame cheap. Data segments are copied, not mapped copy-on-write.
    config.memory_reservation = MAX_RESERVED_PAGES * PAGE
    config.memory_guard_size = 0
    config.memory_reservation_for_growth = 0
    config.memory_init_cow = False
    _use_pooling_allocator(config)
    config.wasm_bulk_memory = True
    config.wasm_multi_value = True
    for feature in (
        "wasm_simd",
        "wasm_relaxed_simd",
        "wasm_threads",
        "wasm_tail_call",
        "wasm_multi_memory",
        "wasm_memory64",
        "wasm_gc",
        "wasm_function_references",
        "wasm_exceptions",
        "wasm_stack_switching",
        "wasm_wide_arithmetic",
        "wasm_custom_page_sizes",
        "wasm_component_model",
    ):
        setattr(config, feature, False)
    async_off = getattr(ffi, "wasmtime_config_wasm_component_model_async_set", None)
    concurrency_off = getattr(ffi, "wasmtime_config_concurrency_support_set", None)
    if async_off is not None and concurrency_off is not None:
        async_off(config.ptr(), False)
        concurrency_off(config.ptr(), False)
        config.wasm_reference_types = False
    return config


def _use_pooling_allocator(config: wasmtime.Config) -> None:
    """Instances, memories and tables from pre-reserved slots, reused from frame to frame.

    A fresh mapping per call frame costs page faults on every first touch of its memory (about half of a
    call's overhead); a pooled slot keeps its first megabyte resident and is zeroed when it is given back, so
    every instance still starts from a zeroed memory. ``POOL_SLOTS`` covers the deepest call stack genesis
    allows twice over; calls are serialised, so no more slots are ever in use at once. Without wasmtime's
    pooling bindings, the engine keeps the on-demand allocator (same results, slower).
    """
    needed = (
        "wasmtime_pooling_allocation_config_new",
        "wasmtime_pooling_allocation_config_delete",
        "wasmtime_pooling_allocation_strategy_set",
    )
    if not all(hasattr(ffi, name) for name in needed):
        return
    pool = ffi.wasmtime_pooling_allocation_config_new()
    try:
        ffi.wasmtime_pooling_allocation_config_total_core_instances_set(pool, POOL_SLOTS)
        ffi.wasmtime_pooling_allocation_config_total_memories_set(pool, POOL_SLOTS)
        ffi.wasmtime_pooling_allocation_config_total_tables_set(pool, POOL_SLOTS)
        ffi.wasmtime_pooling_allocation_config_total_stacks_set(pool, 0)
        ffi.wasmtime_pooling_allocation_config_total_component_instances_set(pool, 0)
        ffi.wasmtime_pooling_allocation_config_total_gc_heaps_set(pool, 0)
        ffi.wasmtime_pooling_allocation_config_max_memory_size_set(pool, MAX_RESERVED_PAGES * PAGE)
        ffi.wasmtime_pooling_allocation_config_table_elements_set(pool, MAX_TABLE_ELEMENTS)
        ffi.wasmtime_pooling_allocation_config_max_core_instance_size_set(pool, MAX_INSTANCE_STATE)
        ffi.wasmtime_pooling_allocation_config_linear_memory_keep_resident_set(pool, POOL_KEEP_RESIDENT)
        ffi.wasmtime_pooling_allocation_config_table_keep_resident_set(pool, MAX_TABLE_ELEMENTS * 8)
        ffi.wasmtime_pooling_allocation_strategy_set(config.ptr(), pool)
    finally:
        ffi.wasmtime_pooling_allocation_config_delete(pool)


class WasmEngine:
    """The contract engine of docs/spec/contracts.md: validates modules and runs calls under wasmtime.

    Thread-safe (calls are serialised). Deterministic: the same call on the same state gives the same
    ``CallOutcome`` — gas included — on every node running the same wasmtime version.
    """

    def __init__(self, *, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        """Build the wasmtime engine and the host-function linker.

        Args:
            cache_size: compiled modules kept in memory (per lookup path; at least 1).
        """
        self._engine = wasmtime.Engine(make_config())
        self._engine_ptr = capi.address(self._engine)
        self._linker = wasmtime.Linker(self._engine)
        self._callbacks: list[Any] = []  # the C callbacks must live as long as the linker
        self._by_hash: _Lru[bytes, _Compiled] = _Lru(max(1, cache_size))
        self._by_content: _Lru[bytes, _Compiled] = _Lru(max(1, cache_size))
        self._lock = threading.Lock()
        self._frames: list[_Frame] = []
        self._frame: _Frame = _Frame()
        self._depth = 0
        self._tx: _Tx | None = None
        self._pending: BaseException | None = None
        self._stack_ready_for = 0
        self._main_thread = threading.main_thread().ident
        self._runner: _BigStackRunner | None = None
        self._define_host_functions()

    # --- ContractEngine --------------------------------------------------------------------------------

    def validate(self, code: bytes, limits: GenesisContracts) -> None:
        """Check a module against the spec's rules and wasmtime's validator, and compile it.

        Raises:
            InvalidContract: naming the first rule broken.
        """
        with self._lock:
            self._compile_new(code, limits)

    def call(
        self,
        host: ContractHost,
        contract: bytes,
        caller: bytes,
        method: str,
        args: bytes,
        gas_limit: int,
        *,
        is_init: bool = False,
    ) -> CallOutcome:
        """Run ``method`` of ``contract`` for ``caller`` with at most ``gas_limit`` gas.

        ``is_init`` runs the module's ``init`` (whatever ``method`` says), and succeeds at no cost when the
        module does not export one; without it, ``init`` is refused with ``UNKNOWN_METHOD``.

        Never raises on anything the contract does: every failure is an outcome with its receipt code. Raises
        only what the host itself raises (the node's own storage failing), and ``ValueError`` for a gas limit
        outside ``0..MAX_GAS``.
        """
        if not 0 <= gas_limit <= MAX_GAS:
            raise ValueError(f"gas limit {gas_limit} is not within 0..{MAX_GAS}")
        with self._lock:
            needed = _STACK_BASE + host.limits.max_call_depth * _FRAME_NATIVE_STACK
            if threading.get_ident() == self._main_thread and (
                needed <= self._stack_ready_for or self._main_stack_fits(needed)
            ):
                return self._call(host, contract, caller, method, args, gas_limit, is_init)
            if self._runner is None or self._runner.stack_size < needed:
                if self._runner is not None:
                    self._runner.close()
                self._runner = _BigStackRunner(needed)
            return self._runner.run(lambda: self._call(host, contract, caller, method, args, gas_limit, is_init))

    # --- calls --------------------------------------------------------------------------------------------

    def _call(
        self,
        host: ContractHost,
        contract: bytes,
        caller: bytes,
        method: str,
        args: bytes,
        gas_limit: int,
        is_init: bool,
    ) -> CallOutcome:
        code_hash = host.code_hash_of(contract)
        if code_hash is None:
            return CallOutcome(ok=False, code=ResultCode.NOT_FOUND, message=f"no contract at {contract.hex()}")
        try:
            compiled = self._load(host, code_hash)
        except InvalidContract as exc:
            return CallOutcome(ok=False, code=ResultCode.INVALID_CONTRACT, message=exc.reason)
        if is_init:
            method = "init"
            if not any(ex.name == "init" and ex.kind == 0 for ex in compiled.info.exports):
                return CallOutcome(ok=True)
        refusal = _method_refusal(compiled.info, method, is_init)
        if refusal is not None:
            return CallOutcome(ok=False, code=ResultCode.UNKNOWN_METHOD, message=refusal)
        tx = _Tx(host)
        self._tx = tx
        self._pending = None
        try:
            data, left = self._enter(tx, compiled, contract, caller, method.encode(), args, gas_limit)
        except _Halt as halt:
            return CallOutcome(ok=False, code=halt.code, message=halt.message, gas_used=gas_limit - halt.fuel_left)
        finally:
            self._tx = None
            self._pending = None
        return CallOutcome(ok=True, data=data, gas_used=gas_limit - left, events=tx.events)

    def _enter(
        self, tx: _Tx, compiled: _Compiled, contract: bytes, caller: bytes, method: bytes, args: bytes, fuel: int
    ) -> tuple[bytes, int]:
        """Run one frame in a fresh store with ``fuel``; return its return data and the fuel left.

        Raises:
            _Halt: the frame failed (``fuel_left`` set).
        """
        depth = self._depth
        if depth == len(self._frames):
            self._frames.append(_Frame())
        frame = self._frames[depth]
        parent = self._frame
        store = capi.store_new(self._engine_ptr, None, None)
        try:
            ctx = capi.store_context(store)
            capi.store_limiter(store, tx.memory_bytes, MAX_TABLE_ELEMENTS, 1, 1, 1)
            capi.context_set_fuel(ctx, fuel)
            frame.ctx = ctx
            frame.contract = contract
            frame.caller = caller
            frame.args = args
            frame.result = b""
            frame.ret = b""
            frame.trap.value = None
            frame.ready = False
            self._frame = frame
            self._depth = depth + 1
            tx.stack.append(contract)
            try:
                error = capi.instance_pre_instantiate(compiled.pre_ptr, ctx, frame.instance_addr, frame.trap_addr)
                if error or frame.trap.value:
                    self._raise_failure(frame, error, frame.trap.value, "while instantiating the module")
                if not capi.instance_export_get(ctx, frame.instance_addr, b"memory", 6, frame.memory_item_addr):
                    raise _Halt(ResultCode.CONTRACT_TRAP, 'the module does not export "memory"')  # validated
                frame.ready = True
                if not capi.instance_export_get(ctx, frame.instance_addr, method, len(method), frame.func_item_addr):
                    raise _Halt(ResultCode.UNKNOWN_METHOD, f"no method {method.decode()!r}")  # checked by callers
                error = capi.func_call_unchecked(ctx, frame.func_addr, None, 0, frame.trap_addr)
                if error or frame.trap.value:
                    self._raise_failure(frame, error, frame.trap.value, "")
                capi.context_get_fuel(ctx, frame.fuel_addr)
                return frame.ret, frame.fuel.value
            except _Halt as halt:
                capi.context_get_fuel(ctx, frame.fuel_addr)
                halt.fuel_left = frame.fuel.value
                raise
            finally:
                tx.stack.pop()
                self._depth = depth
                self._frame = parent
                frame.ctx = 0
                frame.ready = False
        finally:
            capi.store_delete(store)

    def _raise_failure(self, frame: _Frame, error: int | None, trap: int | None, context: str) -> None:
        """Turn what a wasmtime call reported into the exception to raise (always raises).

        A host function's ``_Halt`` (or the node's own exception) is re-raised as it was. A trap of the code
        itself uses all the fuel the frame had: wasmtime does not account fuel exactly up to every kind of trap,
        and a contract must not get its work for free by ending it with one.
        """
        trap_code: wasmtime.TrapCode | None = None
        if trap:
            trap_code = capi.take_trap(trap).trap_code
        if error:
            capi.take_error(error)  # freed; wasmtime's text may change between versions, outcomes must not
        pending = self._pending
        self._pending = None
        if pending is not None:
            raise pending
        capi.context_set_fuel(frame.ctx, 0)
        if trap_code == wasmtime.TrapCode.OUT_OF_FUEL:
            raise _Halt(ResultCode.OUT_OF_GAS, "out of gas")
        message = _TRAP_MESSAGES.get(trap_code) if trap_code is not None else None
        if message is None:
            message = "trap" if trap_code is None else f"trap: {trap_code.name.lower()}"
        raise _Halt(ResultCode.CONTRACT_TRAP, f"{message} {context}".rstrip())

    # --- modules -------------------------------------------------------------------------------------------

    def _load(self, host: ContractHost, code_hash: bytes) -> _Compiled:
        compiled = self._by_hash.lookup(code_hash)
        if compiled is not None:
            return compiled
        code = host.code(code_hash)
        if code is None:
            raise InvalidContract(f"the code {code_hash.hex()} is missing from the state")
        digest = hashlib.sha256(code).digest()
        compiled = self._by_content.lookup(digest)
        if compiled is None:
            # Deployed, so already checked in full: parse for the exports only, then compile.
            compiled = self._compile(code, parse_module(code, bodies=False))
            self._by_content.remember(digest, compiled)
        self._by_hash.remember(code_hash, compiled)
        return compiled

    def _compile_new(self, code: bytes, limits: GenesisContracts) -> _Compiled:
        digest = hashlib.sha256(code).digest()
        compiled = self._by_content.lookup(digest)
        if compiled is not None:
            if len(code) > limits.max_code_bytes:
                raise InvalidContract(f"code is {len(code)} bytes; the limit is {limits.max_code_bytes}")
            check_limits(compiled.info, limits)
            return compiled
        info = validate_module(code, limits)
        try:
            wasmtime.Module.validate(self._engine, code)
        except wasmtime.WasmtimeError as exc:
            raise InvalidContract(f"not valid WebAssembly: {_first_line(str(exc))}") from exc
        compiled = self._compile(code, info)
        self._check_instantiable(compiled, limits)
        self._by_content.remember(digest, compiled)
        return compiled

    def _check_instantiable(self, compiled: _Compiled, limits: GenesisContracts) -> None:
        """Instantiate once with no fuel: an error (not a trap) means no call could ever run the module.

        Traps are the contract's own business (a start function needs gas, a data segment may lie outside the
        memory) and fail its calls; an error is a limit of the engine, such as more per-instance state than the
        pool holds, and refuses the module at deployment instead.
        """
        scratch = _Frame()
        store = capi.store_new(self._engine_ptr, None, None)
        try:
            ctx = capi.store_context(store)
            capi.store_limiter(store, limits.max_memory_pages * PAGE, MAX_TABLE_ELEMENTS, 1, 1, 1)
            capi.context_set_fuel(ctx, 0)
            error = capi.instance_pre_instantiate(compiled.pre_ptr, ctx, scratch.instance_addr, scratch.trap_addr)
            if scratch.trap.value:
                capi.take_trap(scratch.trap.value)
            if error:
                capi.take_error(error)
                raise InvalidContract("the module needs more per-instance state than the engine allows")
        finally:
            capi.store_delete(store)
            self._pending = None

    def _compile(self, code: bytes, info: ModuleInfo) -> _Compiled:
        try:
            module = wasmtime.Module(self._engine, code)
            pre = self._linker.instantiate_pre(module)
        except wasmtime.WasmtimeError as exc:
            raise InvalidContract(f"wasmtime cannot compile the module: {_first_line(str(exc))}") from exc
        # Methods are called through the unchecked C API with no arguments: their type must be () -> () by
        # wasmtime's reading of the module too, not only by ours.
        unit = {
            export.name
            for export in module.exports
            if isinstance(export.type, wasmtime.FuncType) and not export.type.params and not export.type.results
        }
        if not info.methods <= unit:
            raise InvalidContract("the module's exports do not have the types its type section gives them")
        return _Compiled(info, module, pre)

    # --- stack --------------------------------------------------------------------------------------------

    def _main_stack_fits(self, needed: int) -> bool:
        """Whether the main thread may grow its stack to ``needed`` bytes (raising its soft limit if it must)."""
        if self._stack_ready_for >= needed:
            return True
        soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
        if soft == resource.RLIM_INFINITY or soft >= needed:
            self._stack_ready_for = needed
            return True
        if hard != resource.RLIM_INFINITY and hard < needed:
            return False
        try:
            resource.setrlimit(resource.RLIMIT_STACK, (needed, hard))
        except (ValueError, OSError):
            return False
        self._stack_ready_for = needed
        return True

    # --- host functions -----------------------------------------------------------------------------------

    def _define_host_functions(self) -> None:
        impls: dict[str, Callable[[Any], int | None]] = {
            "input_len": self._input_len,
            "input_read": self._input_read,
            "return_data": self._return_data,
            "revert": self._revert,
            "result_read": self._result_read,
            "storage_get": self._storage_get,
            "storage_set": self._storage_set,
            "storage_delete": self._storage_delete,
            "storage_range": self._storage_range,
            "caller": self._caller,
            "origin": self._origin,
            "self_address": self._self_address,
            "block_height": self._block_height,
            "block_time": self._block_time,
            "emit": self._emit,
            "hash": self._hash,
            "verify": self._verify,
            "call": self._nested_call,
            "abort": self._abort,
        }
        linker_ptr = capi.address(self._linker)
        kinds = {I32: wasmtime.ValType.i32(), I64: wasmtime.ValType.i64()}
        for (module, name), (params, results) in HOST_IMPORTS.items():
            functype = wasmtime.FuncType([kinds[p] for p in params], [kinds[r] for r in results])
            callback = capi.HostCallback(self._trampoline(impls[name], results[0] if results else None))
            self._callbacks.append((callback, functype))
            error = capi.linker_define_func_unchecked(
                linker_ptr,
                module.encode(),
                len(module),
                name.encode(),
                len(name),
                capi.address(functype),
                capi.address(callback),
                None,
                None,
            )
            if error:
                raise RuntimeError(f"cannot define host function {module}.{name}: {capi.take_error(error)}")

    def _trampoline(self, impl: Callable[[Any], int | None], result: int | None) -> Callable[..., int]:
        """The C callback around a host function: its result into the first slot, any exception into a trap."""
        trap_new = capi.trap_new
        message = _HOST_TRAP_MESSAGE
        length = len(message)

        if result is None:

            def trampoline(env: Any, caller: Any, raw: Any, count: int) -> int:
                try:
                    if self._tx is None:  # only while a call runs (not a deployment's trial)
                        return int(trap_new(message, length))
                    if not self._frame.ready:
                        self._bind_memory(caller)
                    impl(raw)
                    return 0
                except BaseException as exc:
                    self._pending = exc
                    return int(trap_new(message, length))

        elif result == I32:

            def trampoline(env: Any, caller: Any, raw: Any, count: int) -> int:
                try:
                    if self._tx is None:  # only while a call runs (not a deployment's trial)
                        return int(trap_new(message, length))
                    if not self._frame.ready:
                        self._bind_memory(caller)
                    raw[0].i32 = impl(raw)
                    return 0
                except BaseException as exc:
                    self._pending = exc
                    return int(trap_new(message, length))

        else:

            def trampoline(env: Any, caller: Any, raw: Any, count: int) -> int:
                try:
                    if self._tx is None:  # only while a call runs (not a deployment's trial)
                        return int(trap_new(message, length))
                    if not self._frame.ready:
                        self._bind_memory(caller)
                    raw[0].i64 = impl(raw)
                    return 0
                except BaseException as exc:
                    self._pending = exc
                    return int(trap_new(message, length))

        return trampoline

    def _bind_memory(self, caller: int) -> None:
        """Find the frame's memory through the calling instance: its start function runs before ``_enter`` can
        look the export up, and must not reach a memory of another store (wasmtime aborts the process)."""
        frame = self._frame
        if frame.ctx == 0 or not capi.caller_export_get(caller, b"memory", 6, frame.memory_item_addr):
            raise _Halt(ResultCode.CONTRACT_TRAP, "host function called outside a call frame")
        frame.ready = True

    def _charge(self, frame: _Frame, cost: int, what: str) -> None:
        """Consume ``cost`` gas from the frame's fuel, or stop the transaction out of gas."""
        ctx = frame.ctx
        capi.context_get_fuel(ctx, frame.fuel_addr)
        left = frame.fuel.value
        if cost > left:
            capi.context_set_fuel(ctx, 0)
            raise _Halt(ResultCode.OUT_OF_GAS, f"out of gas in {what}: it costs {cost}, {left} left")
        capi.context_set_fuel(ctx, left - cost)

    def _read(self, frame: _Frame, ptr: int, length: int) -> bytes:
        """``length`` bytes at ``ptr`` of the frame's memory (both u32), or a trap when out of bounds."""
        ctx = frame.ctx
        ptr &= 0xFFFFFFFF
        length &= 0xFFFFFFFF
        size = capi.memory_data_size(ctx, frame.memory_addr)
        if ptr + length > size:
            raise _Halt(ResultCode.CONTRACT_TRAP, _out_of_bounds(ptr, length, size))
        if not length:
            return b""
        return ctypes.string_at(capi.memory_data(ctx, frame.memory_addr) + ptr, length)

    def _check_bounds(self, frame: _Frame, ptr: int, length: int) -> None:
        """Trap unless ``length`` bytes at ``ptr`` (both u32) are inside the frame's memory."""
        ptr &= 0xFFFFFFFF
        size = capi.memory_data_size(frame.ctx, frame.memory_addr)
        if ptr + length > size:
            raise _Halt(ResultCode.CONTRACT_TRAP, _out_of_bounds(ptr, length, size))

    def _write(self, frame: _Frame, ptr: int, data: bytes) -> None:
        """Copy ``data`` to ``ptr`` of the frame's memory, or trap when out of bounds."""
        ctx = frame.ctx
        ptr &= 0xFFFFFFFF
        size = capi.memory_data_size(ctx, frame.memory_addr)
        if ptr + len(data) > size:
            raise _Halt(ResultCode.CONTRACT_TRAP, _out_of_bounds(ptr, len(data), size))
        if data:
            ctypes.memmove(capi.memory_data(ctx, frame.memory_addr) + ptr, data, len(data))

    def _writable(self, name: str) -> _Tx:
        tx = self._tx
        assert tx is not None
        if tx.read_only:
            raise _Halt(ResultCode.CONTRACT_TRAP, f"read-only: {name} is not allowed in a query")
        return tx

    def _input_len(self, raw: Any) -> int:
        frame = self._frame
        self._charge(frame, Gas.HOST_CALL, "input_len")
        return len(frame.args)

    def _input_read(self, raw: Any) -> None:
        frame = self._frame
        self._charge(frame, Gas.HOST_CALL, "input_read")
        self._write(frame, raw[0].i32, frame.args)

    def _return_data(self, raw: Any) -> None:
        frame = self._frame
        length = raw[1].i32 & 0xFFFFFFFF
        if length > MAX_RETURN_DATA:
            raise _Halt(ResultCode.CONTRACT_TRAP, f"return data is {length} bytes; the limit is {MAX_RETURN_DATA}")
        self._charge(frame, Gas.HOST_CALL + Gas.RETURN_BYTE * length, "return_data")
        frame.ret = self._read(frame, raw[0].i32, length)

    def _revert(self, raw: Any) -> None:
        frame = self._frame
        self._charge(frame, Gas.HOST_CALL, "revert")
        ptr = raw[0].i32
        length = raw[1].i32 & 0xFFFFFFFF
        self._check_bounds(frame, ptr, length)
        text = self._read(frame, ptr, min(length, MAX_MESSAGE)).decode("utf-8", errors="replace")
        raise _Halt(ResultCode.REVERTED, text)

    def _abort(self, raw: Any) -> None:
        frame = self._frame
        self._charge(frame, Gas.HOST_CALL, "abort")
        message = self._as_string(frame, raw[0].i32)
        file = self._as_string(frame, raw[1].i32)
        line = raw[2].i32 & 0xFFFFFFFF
        column = raw[3].i32 & 0xFFFFFFFF
        text = message or "abort"
        if file:
            text = f"{text} ({file}:{line}:{column})"
        raise _Halt(ResultCode.REVERTED, text)

    def _as_string(self, frame: _Frame, ptr: int) -> str:
        """An AssemblyScript string (UTF-16LE, its byte length a u32 at ``ptr - 4``); "" if unreadable."""
        ptr &= 0xFFFFFFFF
        size = capi.memory_data_size(frame.ctx, frame.memory_addr)
        if ptr < 4 or ptr > size:
            return ""
        length = int.from_bytes(self._read(frame, ptr - 4, 4), "little")
        length = min(length, MAX_MESSAGE * 2, size - ptr) & ~1
        return self._read(frame, ptr, length).decode("utf-16-le", errors="replace")

    def _result_read(self, raw: Any) -> None:
        frame = self._frame
        self._charge(frame, Gas.HOST_CALL, "result_read")
        self._write(frame, raw[0].i32, frame.result)

    def _storage_get(self, raw: Any) -> int:
        frame = self._frame
        tx = self._tx
        assert tx is not None
        key_len = raw[1].i32 & 0xFFFFFFFF
        if key_len > MAX_CONTRACT_KEY:
            raise _Halt(ResultCode.CONTRACT_TRAP, f"storage key is {key_len} bytes; the limit is {MAX_CONTRACT_KEY}")
        self._charge(frame, Gas.STORAGE_READ + Gas.STORAGE_READ_BYTE * key_len, "storage_get")
        key = self._read(frame, raw[0].i32, key_len)
        value = tx.host.storage_get(frame.contract, key)
        if value is None:
            frame.result = b""
            return -1
        self._charge(frame, Gas.STORAGE_READ_BYTE * len(value), "storage_get")
        frame.result = value
        return len(value)

    def _storage_set(self, raw: Any) -> None:
        frame = self._frame
        tx = self._writable("storage_set")
        key_len = raw[1].i32 & 0xFFFFFFFF
        value_len = raw[3].i32 & 0xFFFFFFFF
        if key_len > MAX_CONTRACT_KEY:
            raise _Halt(ResultCode.CONTRACT_TRAP, f"storage key is {key_len} bytes; the limit is {MAX_CONTRACT_KEY}")
        if value_len > MAX_CONTRACT_VALUE:
            raise _Halt(
                ResultCode.CONTRACT_TRAP, f"storage value is {value_len} bytes; the limit is {MAX_CONTRACT_VALUE}"
            )
        self._charge(frame, Gas.STORAGE_WRITE + Gas.STORAGE_WRITE_BYTE * (key_len + value_len), "storage_set")
        key = self._read(frame, raw[0].i32, key_len)
        value = self._read(frame, raw[2].i32, value_len)
        tx.host.storage_put(frame.contract, key, value)

    def _storage_delete(self, raw: Any) -> None:
        frame = self._frame
        tx = self._writable("storage_delete")
        key_len = raw[1].i32 & 0xFFFFFFFF
        if key_len > MAX_CONTRACT_KEY:
            raise _Halt(ResultCode.CONTRACT_TRAP, f"storage key is {key_len} bytes; the limit is {MAX_CONTRACT_KEY}")
        self._charge(frame, Gas.STORAGE_WRITE + Gas.STORAGE_WRITE_BYTE * key_len, "storage_delete")
        key = self._read(frame, raw[0].i32, key_len)
        tx.host.storage_put(frame.contract, key, None)

    def _storage_range(self, raw: Any) -> int:
        frame = self._frame
        tx = self._tx
        assert tx is not None
        start_len = raw[1].i32 & 0xFFFFFFFF
        end_len = raw[3].i32  # signed: negative means no upper bound
        limit = raw[4].i32
        if start_len > MAX_CONTRACT_KEY or end_len > MAX_CONTRACT_KEY:
            raise _Halt(ResultCode.CONTRACT_TRAP, f"storage_range keys are limited to {MAX_CONTRACT_KEY} bytes")
        if not 0 <= limit <= MAX_RANGE_ENTRIES:
            raise _Halt(ResultCode.CONTRACT_TRAP, f"storage_range limit {limit} is not within 0..{MAX_RANGE_ENTRIES}")
        bound_len = max(end_len, 0)
        self._charge(frame, Gas.STORAGE_READ + Gas.STORAGE_READ_BYTE * (start_len + bound_len), "storage_range")
        start = self._read(frame, raw[0].i32, start_len)
        end = self._read(frame, raw[2].i32, end_len) if end_len >= 0 else None
        rows = tx.host.storage_range(frame.contract, start, end, limit) if limit else []
        if limit and tx.host.range_skipped:  # deletions earlier in the block that the scan walked past
            self._charge(frame, Gas.STORAGE_READ * tx.host.range_skipped, "storage_range")
        parts = [struct.pack("<I", len(rows))]
        for key, value in rows:
            self._charge(frame, Gas.STORAGE_READ + Gas.STORAGE_READ_BYTE * (len(key) + len(value)), "storage_range")
            parts.append(struct.pack("<I", len(key)))
            parts.append(key)
            parts.append(struct.pack("<I", len(value)))
            parts.append(value)
        frame.result = b"".join(parts)
        return len(frame.result)

    def _caller(self, raw: Any) -> None:
        frame = self._frame
        self._charge(frame, Gas.HOST_CALL, "caller")
        self._write(frame, raw[0].i32, frame.caller)

    def _origin(self, raw: Any) -> None:
        frame = self._frame
        tx = self._tx
        assert tx is not None
        self._charge(frame, Gas.HOST_CALL, "origin")
        self._write(frame, raw[0].i32, tx.host.origin)

    def _self_address(self, raw: Any) -> None:
        frame = self._frame
        self._charge(frame, Gas.HOST_CALL, "self_address")
        self._write(frame, raw[0].i32, frame.contract)

    def _block_height(self, raw: Any) -> int:
        tx = self._tx
        assert tx is not None
        self._charge(self._frame, Gas.HOST_CALL, "block_height")
        return tx.host.height

    def _block_time(self, raw: Any) -> int:
        tx = self._tx
        assert tx is not None
        self._charge(self._frame, Gas.HOST_CALL, "block_time")
        return tx.host.time_ms

    def _emit(self, raw: Any) -> None:
        frame = self._frame
        tx = self._writable("emit")
        topic_len = raw[1].i32 & 0xFFFFFFFF
        data_len = raw[3].i32 & 0xFFFFFFFF
        if not 1 <= topic_len <= 32:
            raise _Halt(ResultCode.CONTRACT_TRAP, f"event topic is {topic_len} bytes; it must be 1 to 32")
        if data_len > MAX_EVENT_DATA:
            raise _Halt(ResultCode.CONTRACT_TRAP, f"event data is {data_len} bytes; the limit is {MAX_EVENT_DATA}")
        if len(tx.events) >= MAX_EVENTS:
            raise _Halt(ResultCode.CONTRACT_TRAP, f"more than {MAX_EVENTS} events in one transaction")
        self._charge(frame, Gas.EVENT + Gas.EVENT_BYTE * (topic_len + data_len), "emit")
        topic = self._read(frame, raw[0].i32, topic_len)
        if not _TOPIC_CHARS.issuperset(topic):
            raise _Halt(ResultCode.CONTRACT_TRAP, "event topic may only hold ASCII letters, digits and _")
        data = self._read(frame, raw[2].i32, data_len)
        tx.events.append(
            Event(type="contract." + topic.decode(), attributes=[("contract", frame.contract), ("data", data)])
        )

    def _hash(self, raw: Any) -> None:
        frame = self._frame
        tx = self._tx
        assert tx is not None
        length = raw[1].i32 & 0xFFFFFFFF
        self._charge(frame, Gas.HASH + Gas.HASH_BYTE * length, "hash")
        data = self._read(frame, raw[0].i32, length)
        self._write(frame, raw[2].i32, tx.host.suite.hash(data))

    def _verify(self, raw: Any) -> int:
        frame = self._frame
        tx = self._tx
        assert tx is not None
        message_len = raw[3].i32 & 0xFFFFFFFF
        # Verifying hashes the message: each byte costs what hashing it does, or a megabyte message would be
        # verified for the fixed 5,000.
        self._charge(frame, Gas.VERIFY + Gas.HASH_BYTE * message_len, "verify")
        public_key = self._read(frame, raw[0].i32, raw[1].i32)
        message = self._read(frame, raw[2].i32, message_len)
        signature = self._read(frame, raw[4].i32, 64)
        return 1 if tx.host.suite.verify(public_key, message, signature) else 0

    def _nested_call(self, raw: Any) -> int:
        frame = self._frame
        tx = self._tx
        assert tx is not None
        self._charge(frame, Gas.NESTED_CALL, "call")
        method_len = raw[2].i32 & 0xFFFFFFFF
        args_len = raw[4].i32 & 0xFFFFFFFF
        gas = raw[5].i64
        if args_len > MAX_CALL_ARGS:
            raise _Halt(ResultCode.CONTRACT_TRAP, f"call arguments are {args_len} bytes; the limit is {MAX_CALL_ARGS}")
        if gas < 0:
            raise _Halt(ResultCode.CONTRACT_TRAP, f"call gas {gas} is negative")
        callee = self._read(frame, raw[0].i32, 20)
        self._check_bounds(frame, raw[1].i32, method_len)
        method_bytes = self._read(frame, raw[1].i32, min(method_len, 65))
        args = self._read(frame, raw[3].i32, args_len)
        if callee in tx.stack:
            raise _Halt(ResultCode.CALL_DEPTH, f"re-entrant call into {callee.hex()}, which is already on the stack")
        if self._depth >= tx.limits.max_call_depth:
            raise _Halt(
                ResultCode.CALL_DEPTH,
                f"call into {callee.hex()} exceeds the call depth limit of {tx.limits.max_call_depth}",
            )
        code_hash = tx.host.code_hash_of(callee)
        if code_hash is None:
            raise _Halt(ResultCode.NOT_FOUND, f"call into {callee.hex()}: no contract there")
        try:
            compiled = self._load(tx.host, code_hash)
        except InvalidContract as exc:
            raise _Halt(ResultCode.INVALID_CONTRACT, f"call into {callee.hex()}: {exc.reason}") from None
        try:
            method = method_bytes.decode("ascii")
            refusal = _method_refusal(compiled.info, method, False)
        except UnicodeDecodeError:
            method, refusal = "", "the method name is not ASCII"
        if refusal is not None:
            raise _Halt(ResultCode.UNKNOWN_METHOD, f"call into {callee.hex()}: {refusal}")
        ctx = frame.ctx
        capi.context_get_fuel(ctx, frame.fuel_addr)
        left = frame.fuel.value
        cap = left if gas == 0 else min(gas, left)
        try:
            data, child_left = self._enter(tx, compiled, callee, frame.contract, method.encode(), args, cap)
        except _Halt as halt:
            capi.context_set_fuel(ctx, left - cap + halt.fuel_left)
            raise _Halt(halt.code, f"call into {callee.hex()} failed: {halt.message}") from None
        capi.context_set_fuel(ctx, left - cap + child_left)
        frame.result = data
        return len(data)


def _method_refusal(info: ModuleInfo, method: str, is_init: bool) -> str | None:
    """Why ``method`` cannot be called on a module (None: it can)."""
    if method == "init" and not is_init:
        return "init runs only at deployment"
    if method in info.methods:
        return None
    for ex in info.exports:
        if ex.name == method and ex.kind == 0:
            return f"the export {method!r} is not a method: methods have type () -> ()"
    return f"no method {method!r}"


def _out_of_bounds(ptr: int, length: int, size: int) -> str:
    return f"out-of-bounds memory access: {length} bytes at {ptr} in a memory of {size} bytes"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "unknown error"


class _BigStackRunner:
    """A thread with a stack big enough for the deepest call, for calls from threads whose stack is unknown."""

    def __init__(self, stack_size: int) -> None:
        self.stack_size = stack_size
        self._job: Callable[[], CallOutcome] | None = None
        self._result: CallOutcome | None = None
        self._error: BaseException | None = None
        self._start = threading.Semaphore(0)
        self._done = threading.Semaphore(0)
        previous = threading.stack_size()
        threading.stack_size(stack_size)
        try:
            self._thread = threading.Thread(target=self._loop, name="trellis-contracts", daemon=True)
            self._thread.start()
        finally:
            threading.stack_size(previous)

    def _loop(self) -> None:
        while True:
            self._start.acquire()
            job = self._job
            if job is None:
                return
            try:
                self._result = job()
            except BaseException as exc:
                self._error = exc
            self._done.release()

    def run(self, job: Callable[[], CallOutcome]) -> CallOutcome:
        """Run ``job`` on the thread and return its result (or raise its exception)."""
        self._job = job
        self._result = None
        self._error = None
        self._start.release()
        self._done.acquire()
        self._job = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        assert self._result is not None
        return self._result

    def close(self) -> None:
        """Stop the thread."""
        self._job = None
        self._start.release()


def measure_call_overhead(n: int = 10_000, *, method: str = "empty") -> float:
    """Microseconds per call of a trivial method, through ``WasmEngine.call`` on an in-memory host.

    Args:
        n: calls to time (after a warm-up).
        method: ``"empty"`` (a method that does nothing) or ``"storage_set"`` (one 8-byte key, 8-byte value).

    Returns:
        The mean wall-clock time of one call, in microseconds (the best of three rounds).
    """
    from trellis.app.modules.contracts.memhost import MemoryContractHost

    module = wasmtime.wat2wasm(
        """
        (module
          (import "trellis" "storage_set" (func $set (param i32 i32 i32 i32)))
          (memory (export "memory") 1)
          (data (i32.const 0) "counter_value___")
          (func (export "empty"))
          (func (export "storage_set") (call $set (i32.const 0) (i32.const 8) (i32.const 8) (i32.const 8))))
        """
    )
    engine = WasmEngine()
    host = MemoryContractHost()
    address = host.deploy(engine, bytes(module))
    caller = bytes(20)
    for _ in range(min(n, 200)):
        engine.call(host, address, caller, method, b"", 1_000_000)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(n):
            engine.call(host, address, caller, method, b"", 1_000_000)
        best = min(best, (time.perf_counter() - start) / n * 1e6)
    return best
