// The contract ABI (docs/spec/contracts.md, section 5): values concatenated in the order the ABI lists them.
//
//   u32      4 bytes little-endian      address  20 bytes
//   u64      8 bytes little-endian      bytes32  32 bytes
//   bool     1 byte, 0 or 1             bytes    u32 length, then the bytes
//                                       string   u32 length, then UTF-8
//
// Too few bytes, trailing bytes and a bool other than 0 or 1 revert the call with a message naming the field.

import { input, revert } from "./env";
import { fromUtf8, utf8 } from "./bytes";

/**
 * The offset of the first byte of `b` that is not part of valid UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF), or -1 when all of `b` is valid.
 */
export function invalidUtf8At(b: Uint8Array): i32 {
  const n = b.length;
  let i = 0;
  while (i < n) {
    const c = <u32>unchecked(b[i]);
    if (c < 0x80) {
      i++;
      continue;
    }
    let len = 0;
    let lo: u32 = 0x80;
    let hi: u32 = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      if (c == 0xe0) lo = 0xa0; // no overlong 3-byte forms
      if (c == 0xed) hi = 0x9f; // no surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      if (c == 0xf0) lo = 0x90; // no overlong 4-byte forms
      if (c == 0xf4) hi = 0x8f; // nothing above U+10FFFF
    } else {
      return i;
    }
    if (i + len > n) return i;
    const second = <u32>unchecked(b[i + 1]);
    if (second < lo || second > hi) return i;
    for (let k = 2; k < len; k++) {
      const cont = <u32>unchecked(b[i + k]);
      if (cont < 0x80 || cont > 0xbf) return i;
    }
    i += len;
  }
  return -1;
}

/** Decodes ABI values from a byte string, in order; `done()` checks nothing is left over. */
export class Reader {
  private pos: i32 = 0;

  constructor(public data: Uint8Array) {}

  /** A reader over the call's argument bytes. */
  static fromInput(): Reader {
    return new Reader(input());
  }

  /** Bytes not yet read. */
  get remaining(): i32 {
    return this.data.length - this.pos;
  }

  private take(n: i32, what: string): usize {
    if (n < 0 || n > this.remaining) {
      revert(
        "abi: " + what + " needs " + n.toString() + " bytes at offset " + this.pos.toString() + ", " +
          this.remaining.toString() + " left",
      );
    }
    const at = this.data.dataStart + <usize>this.pos;
    this.pos += n;
    return at;
  }

  private copy(n: i32, what: string): Uint8Array {
    const at = this.take(n, what);
    const out = new Uint8Array(n);
    memory.copy(out.dataStart, at, <usize>n);
    return out;
  }

  /** A `u32` (4 bytes little-endian). */
  u32(what: string = "u32"): u32 {
    return load<u32>(this.take(4, what));
  }

  /** A `u64` (8 bytes little-endian). */
  u64(what: string = "u64"): u64 {
    return load<u64>(this.take(8, what));
  }

  /** A `bool` (1 byte, 0 or 1). */
  bool(what: string = "bool"): bool {
    const v = load<u8>(this.take(1, what));
    if (v > 1) revert("abi: " + what + " must be 0 or 1, got " + v.toString());
    return v == 1;
  }

  /** An `address` (20 bytes). */
  address(what: string = "address"): Uint8Array {
    return this.copy(20, what);
  }

  /** A `bytes32` (32 bytes). */
  bytes32(what: string = "bytes32"): Uint8Array {
    return this.copy(32, what);
  }

  /** A `bytes` (u32 length, then the bytes). */
  bytes(what: string = "bytes"): Uint8Array {
    const n = this.u32(what + " length");
    if (n > <u32>this.remaining) {
      revert("abi: " + what + " declares " + n.toString() + " bytes, " + this.remaining.toString() + " left");
    }
    return this.copy(<i32>n, what);
  }

  /** A `string` (u32 length, then UTF-8; reverts on bytes that are not valid UTF-8). */
  string(what: string = "string"): string {
    const b = this.bytes(what);
    const bad = invalidUtf8At(b);
    if (bad >= 0) revert("abi: " + what + " is not valid UTF-8 (at byte " + bad.toString() + ")");
    return fromUtf8(b);
  }

  /** Revert if bytes are left after the last value (trailing bytes are an error, spec section 5). */
  done(): void {
    if (this.remaining != 0) {
      revert("abi: " + this.remaining.toString() + " unexpected trailing bytes after the last argument");
    }
  }
}

/** Encodes ABI values, in order, into a growing buffer; `finish()` returns the bytes. */
export class Writer {
  private buf: Uint8Array;
  private len: i32 = 0;

  constructor(capacity: i32 = 64) {
    this.buf = new Uint8Array(capacity > 0 ? capacity : 64);
  }

  private reserve(n: i32): usize {
    const need = this.len + n;
    if (need > this.buf.length) {
      let cap = this.buf.length << 1;
      if (cap < need) cap = need;
      const grown = new Uint8Array(cap);
      memory.copy(grown.dataStart, this.buf.dataStart, <usize>this.len);
      this.buf = grown;
    }
    const at = this.buf.dataStart + <usize>this.len;
    this.len = need;
    return at;
  }

  private raw(b: Uint8Array): Writer {
    memory.copy(this.reserve(b.length), b.dataStart, <usize>b.length);
    return this;
  }

  /** A `u32`. */
  u32(v: u32): Writer {
    store<u32>(this.reserve(4), v);
    return this;
  }

  /** A `u64`. */
  u64(v: u64): Writer {
    store<u64>(this.reserve(8), v);
    return this;
  }

  /** A `bool`. */
  bool(v: bool): Writer {
    store<u8>(this.reserve(1), v ? 1 : 0);
    return this;
  }

  /** An `address`; reverts unless it is 20 bytes. */
  address(a: Uint8Array): Writer {
    if (a.length != 20) revert("abi: an address must be 20 bytes, got " + a.length.toString());
    return this.raw(a);
  }

  /** A `bytes32`; reverts unless it is 32 bytes. */
  bytes32(b: Uint8Array): Writer {
    if (b.length != 32) revert("abi: a bytes32 must be 32 bytes, got " + b.length.toString());
    return this.raw(b);
  }

  /** A `bytes`. */
  bytes(b: Uint8Array): Writer {
    this.u32(<u32>b.length);
    return this.raw(b);
  }

  /** A `string`. */
  string(s: string): Writer {
    return this.bytes(utf8(s));
  }

  /** The encoded bytes. */
  finish(): Uint8Array {
    const out = new Uint8Array(this.len);
    memory.copy(out.dataStart, this.buf.dataStart, <usize>this.len);
    return out;
  }
}
