// Typed wrappers around the host interface: call context, block facts, events, crypto, nested calls,
// return data and reverts.

import * as host from "./host";
import { utf8 } from "./bytes";

/** Length of an address. */
export const ADDRESS_LENGTH: i32 = 20;
/** Length of a hash. */
export const HASH_LENGTH: i32 = 32;

/**
 * Stop and fail the transaction with REVERTED and `message`. Every write, nested calls' included, is
 * discarded. Never returns (the host stops the instance); code after it does not run.
 */
export function revert(message: string): void {
  const b = utf8(message);
  host.revert(b.dataStart, b.length);
  unreachable();
}

/** Revert with `message` unless `condition` holds. */
export function ensure(condition: bool, message: string): void {
  if (!condition) revert(message);
}

/** The call's argument bytes. */
export function input(): Uint8Array {
  const out = new Uint8Array(host.input_len());
  host.input_read(out.dataStart);
  return out;
}

/** Set the call's return data (at most 16 KiB; the last call wins). */
export function returnData(data: Uint8Array): void {
  host.return_data(data.dataStart, data.length);
}

/** The frame's result buffer, `len` bytes long (after storage_get, storage_range or call). */
export function readResult(len: i32): Uint8Array {
  const out = new Uint8Array(len);
  if (len > 0) host.result_read(out.dataStart);
  return out;
}

/** The immediate caller: the transaction's sender, or the contract that called this one. */
export function caller(): Uint8Array {
  const out = new Uint8Array(ADDRESS_LENGTH);
  host.caller(out.dataStart);
  return out;
}

/** The transaction's sender (unchanged through nested calls). */
export function origin(): Uint8Array {
  const out = new Uint8Array(ADDRESS_LENGTH);
  host.origin(out.dataStart);
  return out;
}

/** This contract's own address. */
export function selfAddress(): Uint8Array {
  const out = new Uint8Array(ADDRESS_LENGTH);
  host.self_address(out.dataStart);
  return out;
}

/** The block's height. */
export function blockHeight(): u64 {
  return <u64>host.block_height();
}

/** The block's time in milliseconds since the epoch (the only clock a contract has). */
export function blockTime(): u64 {
  return <u64>host.block_time();
}

/** Emit event `contract.<topic>` carrying `data` (ABI-encoded fields; at most 1,024 bytes). */
export function emit(topic: string, data: Uint8Array): void {
  const t = utf8(topic);
  host.emit(t.dataStart, t.length, data.dataStart, data.length);
}

/** The chain suite's 32-byte hash of `data`. */
export function hash(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(HASH_LENGTH);
  host.hash(data.dataStart, data.length, out.dataStart);
  return out;
}

/** True if the 64-byte `signature` of `message` verifies under `publicKey` in the chain's suite. */
export function verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): bool {
  if (signature.length != 64) return false;
  return host.verify(publicKey.dataStart, publicKey.length, message.dataStart, message.length, signature.dataStart) == 1;
}

/**
 * Run `method` of the contract at `contract` with ABI-encoded `args` and at most `gas` (0: all that is left);
 * returns its return data. A failing callee fails the whole transaction, so there is no error to handle.
 */
export function call(contract: Uint8Array, method: string, args: Uint8Array, gas: u64 = 0): Uint8Array {
  if (contract.length != ADDRESS_LENGTH) revert("call: the contract address must be 20 bytes");
  const m = utf8(method);
  const len = host.call(contract.dataStart, m.dataStart, m.length, args.dataStart, args.length, <i64>gas);
  return readResult(len);
}
