"""Direct bindings to the few wasmtime C API functions on the engine's hot path.

wasmtime's Python classes cost tens of microseconds per call (a ``FuncType`` built per call, ``Val`` boxing,
a ``Caller`` object per host call). The engine instead calls the C API through prototypes declared here, all
taking and returning plain integers (pointers as ``c_void_p``), on the library wasmtime-py has loaded. The
engine still uses the Python classes for everything off the hot path (``Config``, ``Engine``, ``Module``,
``Linker``, ``InstancePre``, traps and errors).

Misuse aborts the process (an object of one store used with another panics inside wasmtime), so only
``engine.py`` uses these, in the patterns its tests cover.
"""

from __future__ import annotations

import ctypes
from ctypes import POINTER, c_bool, c_char_p, c_int64, c_size_t, c_uint64, c_void_p
from typing import Any

from wasmtime import Trap, WasmtimeError
from wasmtime import _ffi as ffi

_dll = ffi.dll


def _bind(name: str, restype: Any, *argtypes: Any) -> Any:
    function = ctypes.cast(getattr(_dll, name), c_void_p).value
    if function is None:
        raise ImportError(f"libwasmtime has no {name}")
    return ctypes.CFUNCTYPE(restype, *argtypes)(function)


store_new = _bind("wasmtime_store_new", c_void_p, c_void_p, c_void_p, c_void_p)
"""(engine, data, finalizer) -> store."""
store_context = _bind("wasmtime_store_context", c_void_p, c_void_p)
"""(store) -> context."""
store_delete = _bind("wasmtime_store_delete", None, c_void_p)
"""(store) -> None: frees the store and every instance and memory in it."""
store_limiter = _bind("wasmtime_store_limiter", None, c_void_p, c_int64, c_int64, c_int64, c_int64, c_int64)
"""(store, memory_size, table_elements, instances, tables, memories) -> None."""
context_set_fuel = _bind("wasmtime_context_set_fuel", c_void_p, c_void_p, c_uint64)
"""(context, fuel) -> error."""
context_get_fuel = _bind("wasmtime_context_get_fuel", c_void_p, c_void_p, c_void_p)
"""(context, *u64 out) -> error."""
instance_pre_instantiate = _bind("wasmtime_instance_pre_instantiate", c_void_p, c_void_p, c_void_p, c_void_p, c_void_p)
"""(instance_pre, context, *instance out, *trap out) -> error."""
instance_export_get = _bind("wasmtime_instance_export_get", c_bool, c_void_p, c_void_p, c_char_p, c_size_t, c_void_p)
"""(context, *instance, name, name_len, *extern out) -> found."""
caller_export_get = _bind("wasmtime_caller_export_get", c_bool, c_void_p, c_char_p, c_size_t, c_void_p)
"""(caller, name, name_len, *extern out) -> found: an export of the instance calling a host function."""
func_call_unchecked = _bind("wasmtime_func_call_unchecked", c_void_p, c_void_p, c_void_p, c_void_p, c_size_t, c_void_p)
"""(context, *func, *args_and_results, count, *trap out) -> error."""
memory_data = _bind("wasmtime_memory_data", c_void_p, c_void_p, c_void_p)
"""(context, *memory) -> base address of the linear memory."""
memory_data_size = _bind("wasmtime_memory_data_size", c_size_t, c_void_p, c_void_p)
"""(context, *memory) -> its size in bytes."""
linker_define_func_unchecked = _bind(
    "wasmtime_linker_define_func_unchecked",
    c_void_p,
    c_void_p,
    c_char_p,
    c_size_t,
    c_char_p,
    c_size_t,
    c_void_p,
    c_void_p,
    c_void_p,
    c_void_p,
)
"""(linker, module, module_len, name, name_len, functype, callback, env, finalizer) -> error."""
trap_new = _bind("wasmtime_trap_new", c_void_p, c_char_p, c_size_t)
"""(message, len) -> a new trap, owned by whoever receives it."""

ValRaw = ffi.wasmtime_val_raw_t
"""One argument or result slot of an unchecked host call (a 16-byte union)."""
HostCallback = ctypes.CFUNCTYPE(c_size_t, c_void_p, c_void_p, POINTER(ValRaw), c_size_t)
"""A host function: (env, caller, args_and_results, count) -> a trap pointer, or 0 to return normally."""
Instance = ffi.wasmtime_instance_t
"""An instance handle (store id and index)."""
Extern = ffi.wasmtime_extern_t
"""An export handle (kind and union)."""
EXTERN_OF_OFFSET: int = ffi.wasmtime_extern_t.of.offset
"""Offset of the handle inside ``Extern`` (a ``wasmtime_func_t`` or ``wasmtime_memory_t``)."""


def address(obj: Any) -> int:
    """The address of a ctypes object or of the object a wasmtime-py wrapper (``.ptr()``) points to."""
    if hasattr(obj, "ptr"):
        obj = obj.ptr()
    value = ctypes.cast(obj, c_void_p).value
    assert value is not None
    return value


def take_trap(trap: int) -> Trap:
    """Own the trap at ``trap`` as a wasmtime-py ``Trap`` (freed with it)."""
    return Trap._from_ptr(ctypes.cast(c_void_p(trap), POINTER(ffi.wasm_trap_t)))


def take_error(error: int) -> WasmtimeError:
    """Own the error at ``error`` as a wasmtime-py ``WasmtimeError`` (freed with it)."""
    return WasmtimeError._from_ptr(ctypes.cast(c_void_p(error), POINTER(ffi.wasmtime_error_t)))
