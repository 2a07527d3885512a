// A test contract that exercises the SDK's wrappers one by one (tests/contracts/test_examples_sdk.py).

import {
  Reader,
  U64Map,
  Writer,
  blockHeight,
  blockTime,
  call,
  caller,
  hash,
  origin,
  returnData,
  selfAddress,
  storageRange,
  prefixEnd,
  u64KeyBytes,
  utf8,
  concat,
  verify,
} from "../../../../contracts/sdk";

const COUNTS = new U64Map("cnt:");

/** echo(all seven types) -> the same values, decoded and re-encoded by the SDK. */
export function echo(): void {
  const r = Reader.fromInput();
  const a = r.u32("a");
  const b = r.u64("b");
  const c = r.bool("c");
  const d = r.address("d");
  const e = r.bytes32("e");
  const f = r.bytes("f");
  const g = r.string("g");
  r.done();
  returnData(new Writer(1).u32(a).u64(b).bool(c).address(d).bytes32(e).bytes(f).string(g).finish());
}

/** hashOf(data: bytes) -> bytes32 */
export function hashOf(): void {
  const r = Reader.fromInput();
  const data = r.bytes("data");
  r.done();
  returnData(new Writer().bytes32(hash(data)).finish());
}

/** verifySig(publicKey: bytes, message: bytes, signature: bytes) -> bool */
export function verifySig(): void {
  const r = Reader.fromInput();
  const pk = r.bytes("publicKey");
  const msg = r.bytes("message");
  const sig = r.bytes("signature");
  r.done();
  returnData(new Writer().bool(verify(pk, msg, sig)).finish());
}

function context(): Uint8Array {
  return new Writer()
    .address(caller())
    .address(origin())
    .address(selfAddress())
    .u64(blockHeight())
    .u64(blockTime())
    .finish();
}

/** whoami() -> (caller, origin, self: address, height, time: u64) */
export function whoami(): void {
  Reader.fromInput().done();
  returnData(context());
}

/** callWhoami(target: address) -> what target's whoami returned (a nested call). */
export function callWhoami(): void {
  const r = Reader.fromInput();
  const target = r.address("target");
  r.done();
  returnData(call(target, "whoami", new Uint8Array(0)));
}

/** fill(prefix: string, n: u32): counters prefix || i (big-endian) = i + 1 for i < n. */
export function fill(): void {
  const r = Reader.fromInput();
  const prefix = r.string("prefix");
  const n = r.u32("n");
  r.done();
  for (let i: u32 = 0; i < n; i++) {
    COUNTS.set(concat(utf8(prefix), u64KeyBytes(<u64>i)), <u64>i + 1);
  }
}

/** scan(prefix: string, limit: u32) -> (count: u32, sum: u64) over counters under prefix, in key order. */
export function scan(): void {
  const r = Reader.fromInput();
  const prefix = r.string("prefix");
  const limit = r.u32("limit");
  r.done();
  const lo = COUNTS.keyOf(utf8(prefix));
  const rows = storageRange(lo, prefixEnd(lo), <i32>limit);
  let sum: u64 = 0;
  for (let i = 0; i < rows.length; i++) {
    sum += new Reader(rows[i].value).u64();
  }
  returnData(new Writer().u32(<u32>rows.length).u64(sum).finish());
}
