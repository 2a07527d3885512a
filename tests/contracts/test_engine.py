"""The wasmtime engine's host interface (docs/spec/contracts.md section 4), one behaviour per test.

Contracts are written in WAT. The host is the core's ``StateContractHost`` over a dict with a sorted scan, so
storage goes through the real key layout and range scan. Helpers here (``wat``, ``DictState``, ``install``)
serve the other engine test modules too.
"""

from __future__ import annotations

import struct
import threading
from dataclasses import dataclass, field

import pytest
import wasmtime

from trellis.app.modules.contracts import MemoryContractHost, WasmEngine, measure_call_overhead, query_host, run_query
from trellis.app.modules.contracts.validate import HOST_IMPORTS, I32
from trellis.core.codec import encode
from trellis.core.crypto.suite import ED25519, ed25519_keypair_from_seed, ed25519_sign
from trellis.core.execution.results import ResultCode
from trellis.core.ledger.block import Event
from trellis.core.modules.contracts.engine import CallOutcome, Gas, StateContractHost, plain_scan
from trellis.core.modules.contracts.state import ContractMeta, code_key, contract_key
from trellis.core.params import ChainParams, GenesisContracts

SENDER = bytes.fromhex("a1" * 20)
CONTRACT = bytes.fromhex("c1" * 20)
HEIGHT = 42
TIME_MS = 1_700_000_123_456
GAS = 1_000_000


def _imports() -> str:
    names = {I32: "i32", 0x7E: "i64"}
    out = []
    for (module, name), (params, results) in HOST_IMPORTS.items():
        p = f" (param {' '.join(names[t] for t in params)})" if params else ""
        r = f" (result {' '.join(names[t] for t in results)})" if results else ""
        out.append(f'(import "{module}" "{name}" (func ${name}{p}{r}))')
    return "\n".join(out)


IMPORTS = _imports()
"""Every host function, imported as ``$<name>`` (unused imports are allowed)."""


def wat(body: str, *, pages: int = 1, imports: bool = True) -> bytes:
    """A module with the host imports (if ``imports``), an exported memory of ``pages`` pages and ``body``."""
    return bytes(wasmtime.wat2wasm(f'(module {IMPORTS if imports else ""} (memory (export "memory") {pages}) {body})'))


@dataclass
class DictState:
    """Chain state in a dict: ``get``, ``put`` and a sorted ``scan`` (what the core's host needs)."""

    data: dict[bytes, bytes] = field(default_factory=dict)

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def put(self, key: bytes, value: bytes | None) -> None:
        if value is None:
            self.data.pop(key, None)
        else:
            self.data[key] = value

    def scan(self, start: bytes, end: bytes, limit: int) -> list[tuple[bytes, bytes]]:
        return sorted((k, v) for k, v in self.data.items() if start <= k < end)[:limit]


def install(engine: WasmEngine, state: DictState, code: bytes, address: bytes = CONTRACT) -> bytes:
    """Validate ``code`` and write its record and code into ``state`` at ``address``, as a deployment does."""
    engine.validate(code, GenesisContracts())
    code_hash = ED25519.hash(code)
    state.put(code_key(code_hash), code)
    meta = ContractMeta(code_hash=code_hash, deployer=SENDER, admin=None, created_height=1, updated_height=1)
    state.put(contract_key(address), encode(meta))
    return address


def host_over(
    state: DictState, *, read_only: bool = False, limits: GenesisContracts | None = None
) -> StateContractHost:
    """The core's host over ``state`` for a transaction of ``SENDER`` (or a read-only query)."""
    return StateContractHost(
        ED25519,
        limits or GenesisContracts(),
        HEIGHT,
        TIME_MS,
        SENDER,
        state,
        None if read_only else state.put,
        plain_scan(state.scan),
    )


def run(
    engine: WasmEngine,
    state: DictState,
    method: str,
    args: bytes = b"",
    *,
    gas: int = GAS,
    contract: bytes = CONTRACT,
    read_only: bool = False,
    limits: GenesisContracts | None = None,
) -> CallOutcome:
    """Call ``method`` of ``contract`` as ``SENDER``."""
    host = host_over(state, read_only=read_only, limits=limits)
    return engine.call(host, contract, SENDER, method, args, gas)


@pytest.fixture(scope="module")
def engine() -> WasmEngine:
    return WasmEngine()


# A key-value contract. Arguments are read to address 0; results are assembled from address 0x8000.
#   set:   key_len u8 | key | value        -> storage_set
#   get:   key                             -> return the value, or the single byte 0xff when absent
#   del:   key                             -> storage_delete
#   range: start_len u8 | start | end_len u8 (0xff: no end) | end | limit u8 -> return the result buffer
KV = wat(
    """
    (func $args (result i32) (local $n i32) (local.set $n (call $input_len)) (call $input_read (i32.const 0))
      (local.get $n))
    (func (export "set") (local $n i32) (local $k i32)
      (local.set $n (call $args)) (local.set $k (i32.load8_u (i32.const 0)))
      (call $storage_set (i32.const 1) (local.get $k) (i32.add (i32.const 1) (local.get $k))
        (i32.sub (i32.sub (local.get $n) (i32.const 1)) (local.get $k))))
    (func (export "get") (local $len i32)
      (local.set $len (call $storage_get (i32.const 0) (call $args)))
      (if (i32.eq (local.get $len) (i32.const -1))
        (then (i32.store8 (i32.const 0x8000) (i32.const 0xff)) (call $return_data (i32.const 0x8000) (i32.const 1)))
        (else (call $result_read (i32.const 0x8000)) (call $return_data (i32.const 0x8000) (local.get $len)))))
    (func (export "del") (call $storage_delete (i32.const 0) (call $args)))
    (func (export "range") (local $s i32) (local $e i32) (local $len i32)
      (drop (call $args))
      (local.set $s (i32.load8_u (i32.const 0)))
      (local.set $e (i32.load8_u (i32.add (i32.const 1) (local.get $s))))
      (if (i32.eq (local.get $e) (i32.const 0xff)) (then (local.set $e (i32.const -1))))
      (local.set $len (call $storage_range
        (i32.const 1) (local.get $s)
        (i32.add (i32.const 2) (local.get $s)) (local.get $e)
        (i32.load8_u (i32.add (i32.add (i32.const 2) (local.get $s)) (select (i32.const 0) (local.get $e)
          (i32.lt_s (local.get $e) (i32.const 0)))))))
      (call $result_read (i32.const 0x8000))
      (call $return_data (i32.const 0x8000) (local.get $len)))
    (func (export "echo") (call $return_data (i32.const 0) (call $args)))
    (func (export "env")
      (call $caller (i32.const 0)) (call $origin (i32.const 20)) (call $self_address (i32.const 40))
      (i64.store (i32.const 60) (call $block_height)) (i64.store (i32.const 68) (call $block_time))
      (call $return_data (i32.const 0) (i32.const 76)))
    (func (export "emit") (local $n i32) (local $t i32)
      (local.set $n (call $args)) (local.set $t (i32.load8_u (i32.const 0)))
      (call $emit (i32.const 1) (local.get $t) (i32.add (i32.const 1) (local.get $t))
        (i32.sub (i32.sub (local.get $n) (i32.const 1)) (local.get $t))))
    (func (export "emit_many") (local $i i32)
      (drop (call $args)) (local.set $i (i32.load8_u (i32.const 0)))
      (i32.store (i32.const 0x100) (i32.const 0x74666967))
      (block (loop (br_if 1 (i32.eqz (local.get $i)))
        (call $emit (i32.const 0x100) (i32.const 4) (i32.const 0) (i32.const 0))
        (local.set $i (i32.sub (local.get $i) (i32.const 1))) (br 0))))
    (func (export "hash") (call $hash (i32.const 0) (call $args) (i32.const 0x8000))
      (call $return_data (i32.const 0x8000) (i32.const 32)))
    (func (export "verify") (local $n i32)
      (local.set $n (call $args))
      (i32.store (i32.const 0x8000)
        (call $verify (i32.const 0) (i32.const 32) (i32.const 96) (i32.sub (local.get $n) (i32.const 96))
          (i32.const 32)))
      (call $return_data (i32.const 0x8000) (i32.const 4)))
    (func (export "revert") (call $revert (i32.const 0) (call $args)))
    (func (export "set_then_revert")
      (call $storage_set (i32.const 0x200) (i32.const 1) (i32.const 0x200) (i32.const 1))
      (call $revert (i32.const 0x200) (i32.const 0)))
    (func (export "big_return") (call $return_data (i32.const 0) (i32.const 16385)))
    (func (export "max_return") (call $return_data (i32.const 0) (i32.const 16384)))
    (func (export "return_twice") (call $return_data (i32.const 0) (i32.const 3))
      (call $return_data (i32.const 0) (call $args)))
    (func (export "oob_read") (call $return_data (i32.const 65530) (i32.const 10)))
    (func (export "long_key") (call $storage_set (i32.const 0) (i32.const 257) (i32.const 0) (i32.const 1)))
    (func (export "long_value") (call $storage_set (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 16385)))
    (func (export "abort")
      (call $abort (i32.const 0x304) (i32.const 0x404) (i32.const 12) (i32.const 7)))
    (func (export "abort_null") (call $abort (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))
    (func (export "not_a_method") (param i32))
    (func (export "init") (call $storage_set (i32.const 0x200) (i32.const 4) (i32.const 0x200) (i32.const 4)))
    (func (export "noop"))
    (data (i32.const 0x200) "init")
    ;; AssemblyScript strings: u32 byte length, then UTF-16LE.
    (data (i32.const 0x300) "\\0a\\00\\00\\00o\\00o\\00p\\00s\\00!\\00")
    (data (i32.const 0x400) "\\08\\00\\00\\00a\\00.\\00t\\00s\\00")
    """,
)


@pytest.fixture
def state(engine: WasmEngine) -> DictState:
    s = DictState()
    install(engine, s, KV)
    return s


def kv_set(engine: WasmEngine, state: DictState, key: bytes, value: bytes) -> CallOutcome:
    return run(engine, state, "set", bytes([len(key)]) + key + value)


def range_args(start: bytes, end: bytes | None, limit: int) -> bytes:
    tail = b"\xff" if end is None else bytes([len(end)]) + end
    return bytes([len(start)]) + start + tail + bytes([limit])


def parse_range(buf: bytes) -> list[tuple[bytes, bytes]]:
    (count,) = struct.unpack_from("<I", buf, 0)
    pos = 4
    rows = []
    for _ in range(count):
        (klen,) = struct.unpack_from("<I", buf, pos)
        key = buf[pos + 4 : pos + 4 + klen]
        pos += 4 + klen
        (vlen,) = struct.unpack_from("<I", buf, pos)
        rows.append((key, buf[pos + 4 : pos + 4 + vlen]))
        pos += 4 + vlen
    assert pos == len(buf)
    return rows


# --- arguments and return data ---------------------------------------------------------------------------


def test_input_read_and_return_data_round_trip_the_arguments(engine: WasmEngine, state: DictState) -> None:
    out = run(engine, state, "echo", b"hello, contract")
    assert out.ok and out.data == b"hello, contract"


def test_the_last_return_data_wins(engine: WasmEngine, state: DictState) -> None:
    out = run(engine, state, "return_twice", b"abcdefgh")
    assert out.ok and out.data == b"abcdefgh"


def test_return_data_of_16_kib_is_allowed(engine: WasmEngine, state: DictState) -> None:
    out = run(engine, state, "max_return")
    assert out.ok and len(out.data) == 16 * 1024


def test_return_data_over_16_kib_traps(engine: WasmEngine, state: DictState) -> None:
    out = run(engine, state, "big_return")
    assert (out.code, out.message) == (ResultCode.CONTRACT_TRAP, "return data is 16385 bytes; the limit is 16384")


def test_return_data_costs_two_gas_a_byte(engine: WasmEngine, state: DictState) -> None:
    short = run(engine, state, "echo", b"x")
    long = run(engine, state, "echo", b"x" * 101)
    assert long.gas_used - short.gas_used == 100 * Gas.RETURN_BYTE


# --- storage -----------------------------------------------------------------------------------------------


def test_storage_set_then_get_returns_the_value(engine: WasmEngine, state: DictState) -> None:
    assert kv_set(engine, state, b"colour", b"green").ok
    out = run(engine, state, "get", b"colour")
    assert out.ok and out.data == b"green"


def test_storage_get_of_an_absent_key_returns_minus_one(engine: WasmEngine, state: DictState) -> None:
    out = run(engine, state, "get", b"missing")
    assert out.ok and out.data == b"\xff"


def test_storage_delete_removes_the_key(engine: WasmEngine, state: DictState) -> None:
    kv_set(engine, state, b"k", b"v")
    assert run(engine, state, "del", b"k").ok
    assert run(engine, state, "get", b"k").data == b"\xff"


def test_storage_is_scoped_to_the_contract(engine: WasmEngine, state: DictState) -> None:
    other = install(engine, state, KV, bytes.fromhex("c2" * 20))
    kv_set(engine, state, b"k", b"mine")
    assert run(engine, state, "get", b"k", contract=other).data == b"\xff"


def test_an_empty_value_is_stored_and_read_back_empty(engine: WasmEngine, state: DictState) -> None:
    kv_set(engine, state, b"k", b"")
    out = run(engine, state, "get", b"k")
    assert out.ok and out.data == b""


def test_storage_range_returns_entries_in_key_order_within_bounds(engine: WasmEngine, state: DictState) -> None:
    for key in (b"b", b"a", b"d", b"c", b"e"):
        kv_set(engine, state, key, key.upper() * 2)
    out = run(engine, state, "range", range_args(b"b", b"e", 100))
    assert out.ok
    assert parse_range(out.data) == [(b"b", b"BB"), (b"c", b"CC"), (b"d", b"DD")]


def test_storage_range_without_end_runs_to_the_last_key(engine: WasmEngine, state: DictState) -> None:
    for key in (b"a", b"b", b"c"):
        kv_set(engine, state, key, b"v")
    out = run(engine, state, "range", range_args(b"b", None, 100))
    assert [k for k, _ in parse_range(out.data)] == [b"b", b"c"]


def test_storage_range_stops_at_the_limit(engine: WasmEngine, state: DictState) -> None:
    for i in range(10):
        kv_set(engine, state, bytes([i]), b"v")
    out = run(engine, state, "range", range_args(b"", None, 3))
    assert [k for k, _ in parse_range(out.data)] == [b"\x00", b"\x01", b"\x02"]


def test_storage_range_over_100_entries_traps(engine: WasmEngine, state: DictState) -> None:
    out = run(engine, state, "range", range_args(b"", None, 101))
    assert (out.code, out.message) == (ResultCode.CONTRACT_TRAP, "storage_range limit 101 is not within 0..100")


def test_storage_range_does_not_see_other_contracts(engine: WasmEngine, state: DictState) -> None:
    other = install(engine, state, KV, bytes.fromhex("c2" * 20))
    run(engine, state, "set", b"\x01kother", contract=other)
    kv_set(engine, state, b"k", b"mine")
    assert parse_range(run(engine, state, "range", range_args(b"", None, 100)).data) == [(b"k", b"mine")]


def test_a_key_over_256_bytes_traps(engine: WasmEngine, state: DictState) -> None:
    out = run(engine, state, "long_key")
    assert (out.code, out.message) == (ResultCode.CONTRACT_TRAP, "storage key is 257 bytes; the limit is 256")


def test_a_value_over_16_kib_traps(engine: WasmEngine, state: DictState) -> None:
    out = run(engine, state, "long_value")
    assert (out.code, out.message) == (ResultCode.CONTRACT_TRAP, "storage value is 16385 bytes; the limit is 16384")


def test_storage_write_costs_the_schedule(engine: WasmEngine, state: DictState) -> None:
    one = kv_set(engine, state, b"k", b"v")
    eleven = kv_set(engine, state, b"k", b"v" * 11)
    assert eleven.gas_used - one.gas_used == 10 * Gas.STORAGE_WRITE_BYTE
    assert one.gas_used > Gas.STORAGE_WRITE + 2 * Gas.STORAGE_WRITE_BYTE


def test_storage_read_costs_the_value_bytes(engine: WasmEngine, state: DictState) -> None:
    kv_set(engine, state, b"a", b"v")
    kv_set(engine, state, b"b", b"v" * 101)
    short = run(engine, state, "get", b"a")
    long = run(engine, state, "get", b"b")
    # 100 more bytes read, 100 more returned.
    assert long.gas_used - short.gas_used == 100 * (Gas.STORAGE_READ_BYTE + Gas.RETURN_BYTE)


# --- block and call facts ------------------------------------------------------------------------------------


def test_caller_origin_self_height_and_time(engine: WasmEngine, state: DictState) -> None:
    out = run(engine, state, "env")
    assert out.ok
    assert out.data[:20] == SENDER
    assert out.data[20:40] == SENDER
    assert out.data[40:60] == CONTRACT
    assert struct.unpack("<qq", out.data[60:76]) == (HEIGHT, TIME_MS)


# --- events -----------------------------------------------------------------------------------------------


def test_emit_records_a_contract_event(engine: WasmEngine, state: DictState) -> None:
    out = run(engine, state, "emit", b"\x08Transfer" + b"payload")
    assert out.ok
    assert out.events == [Event(type="contract.Transfer", attributes=[("contract", CONTRACT), ("data", b"payload")])]


@pytest.mark.parametrize("topic", [b"", b"has space", b"dash-ed", b"x" * 33, "é".encode()])
def test_an_invalid_topic_traps(engine: WasmEngine, state: DictState, topic: bytes) -> None:
    out = run(engine, state, "emit", bytes([len(topic)]) + topic + b"data")
    assert out.code == ResultCode.CONTRACT_TRAP
    assert "topic" in out.message


def test_event_data_over_1024_bytes_traps(engine: WasmEngine, state: DictState) -> None:
    out = run(engine, state, "emit", b"\x01t" + b"d" * 1025)
    assert (out.code, out.message) == (ResultCode.CONTRACT_TRAP, "event data is 1025 bytes; the limit is 1024")


def test_sixty_events_are_allowed(engine: WasmEngine, state: DictState) -> None:
    out = run(engine, state, "emit_many", bytes([60]))
    assert out.ok and len(out.events) == 60


def test_the_sixty_first_event_traps(engine: WasmEngine, state: DictState) -> None:
    out = run(engine, state, "emit_many", bytes([61]))
    assert (out.code, out.message) == (ResultCode.CONTRACT_TRAP, "more than 60 events in one transaction")


# --- hash and verify ----------------------------------------------------------------------------------------


def test_hash_is_the_suite_hash(engine: WasmEngine, state: DictState) -> None:
    out = run(engine, state, "hash", b"some bytes")
    assert out.ok and out.data == ED25519.hash(b"some bytes")


def _signed(message: bytes) -> tuple[bytes, bytes]:
    secret, public = ed25519_keypair_from_seed(b"\x07" * 32)
    return public, ed25519_sign(secret, message)


def test_verify_accepts_a_good_signature(engine: WasmEngine, state: DictState) -> None:
    public, signature = _signed(b"pay bob 5")
    out = run(engine, state, "verify", public + signature + b"pay bob 5")
    assert out.ok and out.data == (1).to_bytes(4, "little")


def test_verify_refuses_a_signature_of_another_message(engine: WasmEngine, state: DictState) -> None:
    public, signature = _signed(b"pay bob 5")
    out = run(engine, state, "verify", public + signature + b"pay bob 500")
    assert out.ok and out.data == (0).to_bytes(4, "little")


def test_verify_refuses_a_key_that_is_not_a_point(engine: WasmEngine, state: DictState) -> None:
    _, signature = _signed(b"m")
    out = run(engine, state, "verify", b"\xff" * 32 + signature + b"m")
    assert out.ok and out.data == (0).to_bytes(4, "little")


def test_verify_costs_the_fixed_price_plus_a_hash_of_the_message(engine: WasmEngine, state: DictState) -> None:
    public, signature = _signed(b"m")
    short = run(engine, state, "verify", public + signature + b"m")
    long = run(engine, state, "verify", public + signature + b"m" * 101)
    assert long.gas_used - short.gas_used == 100 * Gas.HASH_BYTE
    assert short.gas_used > Gas.VERIFY


# --- failures -----------------------------------------------------------------------------------------------


def test_revert_fails_with_the_contracts_message(engine: WasmEngine, state: DictState) -> None:
    out = run(engine, state, "revert", "insufficient balance ✗".encode())
    assert (out.ok, out.code, out.message) == (False, ResultCode.REVERTED, "insufficient balance ✗")
    assert 0 < out.gas_used < GAS


def test_abort_decodes_assemblyscript_strings(engine: WasmEngine, state: DictState) -> None:
    out = run(engine, state, "abort")
    assert (out.code, out.message) == (ResultCode.REVERTED, "oops! (a.ts:12:7)")


def test_abort_with_null_pointers_still_reverts(engine: WasmEngine, state: DictState) -> None:
    out = run(engine, state, "abort_null")
    assert (out.code, out.message) == (ResultCode.REVERTED, "abort")


def test_an_out_of_bounds_pointer_traps(engine: WasmEngine, state: DictState) -> None:
    out = run(engine, state, "oob_read")
    assert out.code == ResultCode.CONTRACT_TRAP
    assert out.message == "out-of-bounds memory access: 10 bytes at 65530 in a memory of 65536 bytes"


def test_unknown_method(engine: WasmEngine, state: DictState) -> None:
    out = run(engine, state, "nope")
    assert (out.code, out.message, out.gas_used) == (ResultCode.UNKNOWN_METHOD, "no method 'nope'", 0)


def test_an_export_with_parameters_is_not_a_method(engine: WasmEngine, state: DictState) -> None:
    out = run(engine, state, "not_a_method")
    assert out.code == ResultCode.UNKNOWN_METHOD
    assert out.message == "the export 'not_a_method' is not a method: methods have type () -> ()"


def test_memory_is_not_a_method(engine: WasmEngine, state: DictState) -> None:
    assert run(engine, state, "memory").code == ResultCode.UNKNOWN_METHOD


def test_init_cannot_be_called_after_deployment(engine: WasmEngine, state: DictState) -> None:
    out = run(engine, state, "init")
    assert (out.code, out.message) == (ResultCode.UNKNOWN_METHOD, "init runs only at deployment")


def test_init_runs_at_deployment(engine: WasmEngine, state: DictState) -> None:
    out = engine.call(host_over(state), CONTRACT, SENDER, "init", b"", GAS, is_init=True)
    assert out.ok
    assert run(engine, state, "get", b"init").data == b"init"


def test_init_is_a_no_op_when_the_module_does_not_export_it(engine: WasmEngine) -> None:
    state = DictState()
    install(engine, state, wat('(func (export "run"))'))
    out = engine.call(host_over(state), CONTRACT, SENDER, "init", b"", GAS, is_init=True)
    assert (out.ok, out.gas_used) == (True, 0)


def test_no_contract_at_the_address(engine: WasmEngine, state: DictState) -> None:
    out = run(engine, state, "noop", contract=bytes(20))
    assert (out.code, out.message) == (ResultCode.NOT_FOUND, f"no contract at {bytes(20).hex()}")


def test_nothing_survives_between_calls_but_storage(engine: WasmEngine) -> None:
    state = DictState()
    install(
        engine,
        state,
        wat(
            """
            (global $g (mut i32) (i32.const 0))
            (func (export "bump")
              (global.set $g (i32.add (global.get $g) (i32.const 1)))
              (i32.store (i32.const 0) (i32.add (i32.load (i32.const 4)) (i32.const 1)))
              (i32.store (i32.const 4) (i32.load (i32.const 0)))
              (i32.store (i32.const 8) (global.get $g))
              (call $return_data (i32.const 4) (i32.const 8)))
            """
        ),
    )
    first = run(engine, state, "bump")
    second = run(engine, state, "bump")
    assert first.data == second.data == struct.pack("<II", 1, 1)


# --- gas --------------------------------------------------------------------------------------------------


def test_the_same_call_uses_the_same_gas_on_another_engine(state: DictState) -> None:
    outcomes = []
    for _ in range(2):
        fresh = WasmEngine()
        s = DictState()
        install(fresh, s, KV)
        outcomes.append([kv_set(fresh, s, b"k", b"v" * 9), run(fresh, s, "get", b"k"), run(fresh, s, "env")])
    assert outcomes[0] == outcomes[1]


def test_an_infinite_loop_runs_out_of_gas_using_all_of_it(engine: WasmEngine) -> None:
    state = DictState()
    install(engine, state, wat('(func (export "spin") (loop (br 0)))'))
    out = run(engine, state, "spin", gas=50_000)
    assert (out.code, out.message, out.gas_used) == (ResultCode.OUT_OF_GAS, "out of gas", 50_000)


def test_a_host_function_beyond_the_gas_left_runs_out_of_gas(engine: WasmEngine, state: DictState) -> None:
    out = run(engine, state, "set", b"\x01kv", gas=1_000)
    assert out.code == ResultCode.OUT_OF_GAS
    assert out.message.startswith("out of gas in storage_set: it costs 2040,")
    assert out.gas_used == 1_000


def test_no_gas_at_all_runs_out_of_gas(engine: WasmEngine, state: DictState) -> None:
    out = run(engine, state, "noop", gas=0)
    assert (out.code, out.gas_used) == (ResultCode.OUT_OF_GAS, 0)


def test_a_trap_uses_all_the_gas(engine: WasmEngine) -> None:
    state = DictState()
    install(engine, state, wat('(func (export "boom") (drop (i32.div_u (i32.const 1) (i32.const 0))))'))
    out = run(engine, state, "boom", gas=70_000)
    assert (out.code, out.message, out.gas_used) == (ResultCode.CONTRACT_TRAP, "integer division by zero", 70_000)


def test_a_revert_uses_only_the_gas_spent(engine: WasmEngine, state: DictState) -> None:
    out = run(engine, state, "revert", b"no", gas=70_000)
    assert out.code == ResultCode.REVERTED
    assert out.gas_used < 1_000


# --- read-only queries ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "args", "name"),
    [("set", b"\x01kv", "storage_set"), ("del", b"k", "storage_delete"), ("emit", b"\x01td", "emit")],
)
def test_writes_and_events_trap_in_a_query(
    engine: WasmEngine, state: DictState, method: str, args: bytes, name: str
) -> None:
    out = run(engine, state, method, args, read_only=True)
    assert (out.code, out.message) == (ResultCode.CONTRACT_TRAP, f"read-only: {name} is not allowed in a query")


def test_run_query_reads_committed_state(engine: WasmEngine, state: DictState, params: ChainParams) -> None:
    kv_set(engine, state, b"k", b"committed")
    host = query_host(state, params, HEIGHT, TIME_MS)
    assert host.read_only and host.origin == bytes(20)
    out = run_query(engine, host, CONTRACT, "get", b"k", 100_000)
    assert out.ok and out.data == b"committed"


def test_run_query_cannot_write(engine: WasmEngine, state: DictState, params: ChainParams) -> None:
    host = query_host(state, params, HEIGHT, TIME_MS)
    out = run_query(engine, host, CONTRACT, "set", b"\x01kv", 100_000)
    assert (out.code, out.message) == (ResultCode.CONTRACT_TRAP, "read-only: storage_set is not allowed in a query")
    assert run(engine, state, "get", b"k").data == b"\xff"


@pytest.fixture
def params() -> ChainParams:
    from trellis.core.params import Genesis, GenesisValidator, params_from_genesis

    _, public = ed25519_keypair_from_seed(b"\x01" * 32)
    genesis = Genesis(
        chain_id="engine-test",
        genesis_time_ms=1,
        validators=[GenesisValidator(name="v", public_key=public.hex(), power=1)],
        mint_authority="00" * 20,
    )
    return params_from_genesis(genesis)


# --- the engine itself ----------------------------------------------------------------------------------------


def test_calls_from_another_thread_give_the_same_outcome(engine: WasmEngine, state: DictState) -> None:
    kv_set(engine, state, b"k", b"v")
    here = run(engine, state, "get", b"k")
    there: list[CallOutcome] = []
    thread = threading.Thread(target=lambda: there.append(run(engine, state, "get", b"k")))
    thread.start()
    thread.join()
    assert there == [here]


class _BrokenStorage(DictState):
    def get(self, key: bytes) -> bytes | None:
        if b"broken" in key:
            raise OSError("disk on fire")
        return super().get(key)


def test_a_failure_of_the_nodes_own_storage_is_raised_not_turned_into_a_receipt(engine: WasmEngine) -> None:
    state = _BrokenStorage()
    install(engine, state, KV)
    with pytest.raises(OSError, match="disk on fire"):
        run(engine, state, "get", b"broken")
    assert run(engine, state, "echo", b"still fine").data == b"still fine"


def test_a_small_module_cache_still_runs_every_contract(state: DictState) -> None:
    small = WasmEngine(cache_size=1)
    other = bytes.fromhex("c3" * 20)
    install(
        small,
        state,
        wat('(func (export "id") (call $return_data (i32.const 0) (i32.const 1))) (data (i32.const 0) "B")'),
        other,
    )
    for _ in range(3):
        assert run(small, state, "echo", b"A").data == b"A"
        assert run(small, state, "id", contract=other).data == b"B"


def test_memory_host_runs_a_contract() -> None:
    engine = WasmEngine()
    host = MemoryContractHost()
    address = host.deploy(engine, KV)
    assert engine.call(host, address, SENDER, "set", b"\x01kv", GAS).ok
    assert host.storage[address] == {b"k": b"v"}
    assert engine.call(host, address, SENDER, "range", range_args(b"", None, 10), GAS).ok


def test_measure_call_overhead_reports_microseconds() -> None:
    assert 0 < measure_call_overhead(50) < 10_000
    assert 0 < measure_call_overhead(50, method="storage_set") < 10_000


@pytest.mark.parametrize("gas", [-1, 2**63])
def test_a_gas_limit_outside_the_fuel_range_is_a_programming_error(
    engine: WasmEngine, state: DictState, gas: int
) -> None:
    with pytest.raises(ValueError, match="gas limit"):
        run(engine, state, "noop", gas=gas)
