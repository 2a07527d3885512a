// Contract storage: raw get/set/delete/range, and typed maps and values keyed by a prefix.
//
// Give every map and value a distinct prefix of which no other is a prefix (e.g. "bal:", "alw:", "doc:"),
// so that their keys can never collide. Keys are at most 256 bytes, values at most 16 KiB.

import * as host from "./host";
import { readResult, revert } from "./env";
import { concat, readU64, u64Bytes, utf8, fromUtf8 } from "./bytes";

/** The largest number of entries one range read returns. */
export const MAX_RANGE: i32 = 100;

/** One storage entry returned by `storageRange`. */
export class Entry {
  constructor(public key: Uint8Array, public value: Uint8Array) {}
}

/** The value at `key`, or null if absent. */
export function storageGet(key: Uint8Array): Uint8Array | null {
  const len = host.storage_get(key.dataStart, key.length);
  if (len < 0) return null;
  return readResult(len);
}

/** True when `key` has a value. */
export function storageHas(key: Uint8Array): bool {
  return host.storage_get(key.dataStart, key.length) >= 0;
}

/** Write `value` at `key`. */
export function storageSet(key: Uint8Array, value: Uint8Array): void {
  host.storage_set(key.dataStart, key.length, value.dataStart, value.length);
}

/** Delete `key`. */
export function storageDelete(key: Uint8Array): void {
  host.storage_delete(key.dataStart, key.length);
}

/**
 * Up to `limit` (at most 100) entries with `start <= key < end` in key order; `end` null: no upper bound.
 */
export function storageRange(start: Uint8Array, end: Uint8Array | null, limit: i32): Entry[] {
  if (limit < 0 || limit > MAX_RANGE) revert("storage range: limit must be 0 to 100");
  let len: i32;
  if (end === null) {
    len = host.storage_range(start.dataStart, start.length, 0, -1, limit);
  } else {
    const e = changetype<Uint8Array>(end);
    len = host.storage_range(start.dataStart, start.length, e.dataStart, e.length, limit);
  }
  const buf = readResult(len);
  let at = buf.dataStart;
  const count = <i32>load<u32>(at);
  at += 4;
  const out = new Array<Entry>(0);
  for (let i = 0; i < count; i++) {
    const klen = <i32>load<u32>(at);
    const key = new Uint8Array(klen);
    memory.copy(key.dataStart, at + 4, <usize>klen);
    at += 4 + <usize>klen;
    const vlen = <i32>load<u32>(at);
    const value = new Uint8Array(vlen);
    memory.copy(value.dataStart, at + 4, <usize>vlen);
    at += 4 + <usize>vlen;
    out.push(new Entry(key, value));
  }
  return out;
}

/** The smallest key greater than every key that starts with `prefix`, or null if there is none (all 0xff). */
export function prefixEnd(prefix: Uint8Array): Uint8Array | null {
  let n = prefix.length;
  while (n > 0 && prefix[n - 1] == 0xff) n--;
  if (n == 0) return null;
  const out = new Uint8Array(n);
  memory.copy(out.dataStart, prefix.dataStart, <usize>n);
  out[n - 1] = out[n - 1] + 1;
  return out;
}

/** Base of the typed maps: every key is `prefix || key`. */
export class PrefixedMap {
  readonly prefix: Uint8Array;

  constructor(prefix: string) {
    this.prefix = utf8(prefix);
  }

  /** The storage key of `key`. */
  keyOf(key: Uint8Array): Uint8Array {
    return concat(this.prefix, key);
  }

  /** True when `key` has a value. */
  has(key: Uint8Array): bool {
    return storageHas(this.keyOf(key));
  }

  /** Delete `key`. */
  delete(key: Uint8Array): void {
    storageDelete(this.keyOf(key));
  }

  /**
   * Up to `limit` entries whose keys start with `prefix || sub`, from `prefix || sub || from` on, in key order;
   * the returned keys have `prefix` stripped (they start with `sub`).
   */
  range(sub: Uint8Array, from: Uint8Array, limit: i32): Entry[] {
    const lo = concat(this.keyOf(sub), from);
    const rows = storageRange(lo, prefixEnd(this.keyOf(sub)), limit);
    const p = this.prefix.length;
    for (let i = 0; i < rows.length; i++) {
      const k = rows[i].key;
      const stripped = new Uint8Array(k.length - p);
      memory.copy(stripped.dataStart, k.dataStart + <usize>p, <usize>(k.length - p));
      rows[i].key = stripped;
    }
    return rows;
  }
}

/** A map from bytes (e.g. an address) to u64; absent keys read as 0, and setting 0 deletes. */
export class U64Map extends PrefixedMap {
  /** The number at `key` (0 if absent). */
  get(key: Uint8Array): u64 {
    const v = storageGet(this.keyOf(key));
    if (v === null) return 0;
    return readU64(changetype<Uint8Array>(v));
  }

  /** Store `value` at `key` (0 deletes the entry: no storage is kept for zero balances). */
  set(key: Uint8Array, value: u64): void {
    if (value == 0) this.delete(key);
    else storageSet(this.keyOf(key), u64Bytes(value));
  }
}

/** A map from bytes to bytes. */
export class BytesMap extends PrefixedMap {
  /** The value at `key`, or null. */
  get(key: Uint8Array): Uint8Array | null {
    return storageGet(this.keyOf(key));
  }

  /** Store `value` at `key`. */
  set(key: Uint8Array, value: Uint8Array): void {
    storageSet(this.keyOf(key), value);
  }
}

/** A map from bytes to strings (stored as UTF-8). */
export class StringMap extends PrefixedMap {
  /** The string at `key`, or null. */
  get(key: Uint8Array): string | null {
    const v = storageGet(this.keyOf(key));
    if (v === null) return null;
    return fromUtf8(changetype<Uint8Array>(v));
  }

  /** Store `value` at `key`. */
  set(key: Uint8Array, value: string): void {
    storageSet(this.keyOf(key), utf8(value));
  }
}

/** A single u64 stored under one key (a counter, a total); absent reads as 0. */
export class U64Value {
  readonly key: Uint8Array;

  constructor(key: string) {
    this.key = utf8(key);
  }

  /** The stored number (0 if absent). */
  get(): u64 {
    const v = storageGet(this.key);
    if (v === null) return 0;
    return readU64(changetype<Uint8Array>(v));
  }

  /** Store `value`. */
  set(value: u64): void {
    storageSet(this.key, u64Bytes(value));
  }
}

/** A single string stored under one key; absent reads as "". */
export class StringValue {
  readonly key: Uint8Array;

  constructor(key: string) {
    this.key = utf8(key);
  }

  /** True when a value was stored. */
  has(): bool {
    return storageHas(this.key);
  }

  /** The stored string ("" if absent). */
  get(): string {
    const v = storageGet(this.key);
    if (v === null) return "";
    return fromUtf8(changetype<Uint8Array>(v));
  }

  /** Store `value`. */
  set(value: string): void {
    storageSet(this.key, utf8(value));
  }
}

/** A single byte string stored under one key. */
export class BytesValue {
  readonly key: Uint8Array;

  constructor(key: string) {
    this.key = utf8(key);
  }

  /** The stored bytes, or null. */
  get(): Uint8Array | null {
    return storageGet(this.key);
  }

  /** Store `value`. */
  set(value: Uint8Array): void {
    storageSet(this.key, value);
  }
}
