// Byte helpers: UTF-8 conversion, concatenation, comparison, hex and little-endian integers.

/** The UTF-8 bytes of `s`. */
export function utf8(s: string): Uint8Array {
  return Uint8Array.wrap(String.UTF8.encode(s));
}

/** The string whose UTF-8 bytes are `b`. */
export function fromUtf8(b: Uint8Array): string {
  return String.UTF8.decodeUnsafe(b.dataStart, <usize>b.length);
}

/** `a` followed by `b`. */
export function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  memory.copy(out.dataStart, a.dataStart, <usize>a.length);
  memory.copy(out.dataStart + <usize>a.length, b.dataStart, <usize>b.length);
  return out;
}

/** `a`, `b` and `c` in sequence (composite storage keys). */
export function concat3(a: Uint8Array, b: Uint8Array, c: Uint8Array): Uint8Array {
  return concat(concat(a, b), c);
}

/** True when `a` and `b` hold the same bytes. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): bool {
  if (a.length != b.length) return false;
  return memory.compare(a.dataStart, b.dataStart, <usize>a.length) == 0;
}

/** True when every byte of `b` is zero (the zero address, an unset hash). */
export function isZero(b: Uint8Array): bool {
  for (let i = 0; i < b.length; i++) {
    if (unchecked(b[i]) != 0) return false;
  }
  return true;
}

/** A copy of `b[start, start + len)`. */
export function slice(b: Uint8Array, start: i32, len: i32): Uint8Array {
  const out = new Uint8Array(len);
  memory.copy(out.dataStart, b.dataStart + <usize>start, <usize>len);
  return out;
}

const HEX_DIGITS = "0123456789abcdef";

/** `0x` and the lower-case hex digits of `b` (for messages). */
export function toHex(b: Uint8Array): string {
  let s = "0x";
  for (let i = 0; i < b.length; i++) {
    const v = unchecked(b[i]);
    s += HEX_DIGITS.charAt(v >> 4) + HEX_DIGITS.charAt(v & 15);
  }
  return s;
}

/** 8 bytes little-endian. */
export function u64Bytes(v: u64): Uint8Array {
  const out = new Uint8Array(8);
  store<u64>(out.dataStart, v);
  return out;
}

/** 4 bytes little-endian. */
export function u32Bytes(v: u32): Uint8Array {
  const out = new Uint8Array(4);
  store<u32>(out.dataStart, v);
  return out;
}

/** 8 bytes big-endian: keys that sort by number (storage_range walks keys in byte order). */
export function u64KeyBytes(v: u64): Uint8Array {
  const out = new Uint8Array(8);
  store<u64>(out.dataStart, bswap<u64>(v));
  return out;
}

/** The number in 8 little-endian bytes (`b` must be 8 bytes long). */
export function readU64(b: Uint8Array): u64 {
  return load<u64>(b.dataStart);
}
