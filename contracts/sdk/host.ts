// The raw host interface of Trellis contracts (docs/spec/contracts.md, section 4).
//
// Every function here is imported from module "trellis" with exactly the signature the chain checks at
// deployment. Pointers and lengths are i32 offsets into this module's exported `memory`. Contract code should
// use the typed wrappers in `env.ts`, `storage.ts` and `abi.ts` instead of calling these directly.

/** Length of the call's argument bytes. */
@external("trellis", "input_len")
export declare function input_len(): i32;

/** Copy the call's argument bytes to `dst`. */
@external("trellis", "input_read")
export declare function input_read(dst: usize): void;

/** Set the call's return data (at most 16 KiB; the last call wins). */
@external("trellis", "return_data")
export declare function return_data(ptr: usize, len: i32): void;

/** Stop: the transaction fails with REVERTED and this UTF-8 message. */
@external("trellis", "revert")
export declare function revert(ptr: usize, len: i32): void;

/** Copy the frame's result buffer (filled by storage_get, storage_range and call) to `dst`. */
@external("trellis", "result_read")
export declare function result_read(dst: usize): void;

/** Read a storage value into the result buffer; returns its length, or -1 if the key is absent. */
@external("trellis", "storage_get")
export declare function storage_get(key_ptr: usize, key_len: i32): i32;

/** Write a storage value (key at most 256 bytes, value at most 16 KiB). */
@external("trellis", "storage_set")
export declare function storage_set(key_ptr: usize, key_len: i32, val_ptr: usize, val_len: i32): void;

/** Delete a storage value. */
@external("trellis", "storage_delete")
export declare function storage_delete(key_ptr: usize, key_len: i32): void;

/**
 * Up to `limit` (at most 100) entries with start <= key < end, in key order (end_len < 0: no upper bound).
 * The result buffer holds `u32 count`, then per entry `u32 klen, key, u32 vlen, value`; returns its length.
 */
@external("trellis", "storage_range")
export declare function storage_range(start_ptr: usize, start_len: i32, end_ptr: usize, end_len: i32, limit: i32): i32;

/** Write the immediate caller's 20-byte address (the sender, or the calling contract) to `dst`. */
@external("trellis", "caller")
export declare function caller(dst: usize): void;

/** Write the transaction sender's 20-byte address to `dst`. */
@external("trellis", "origin")
export declare function origin(dst: usize): void;

/** Write this contract's 20-byte address to `dst`. */
@external("trellis", "self_address")
export declare function self_address(dst: usize): void;

/** The block's height. */
@external("trellis", "block_height")
export declare function block_height(): i64;

/** The block's time, milliseconds since the epoch. */
@external("trellis", "block_time")
export declare function block_time(): i64;

/** Emit event `contract.<topic>` with attributes `contract` and `data` (topic: 1-32 of [A-Za-z0-9_]). */
@external("trellis", "emit")
export declare function emit(topic_ptr: usize, topic_len: i32, data_ptr: usize, data_len: i32): void;

/** Write the chain suite's 32-byte hash of the bytes at `ptr` to `dst`. */
@external("trellis", "hash")
export declare function hash(ptr: usize, len: i32, dst: usize): void;

/** 1 if the 64-byte signature at `sig_ptr` verifies `msg` under the public key, else 0. */
@external("trellis", "verify")
export declare function verify(pk_ptr: usize, pk_len: i32, msg_ptr: usize, msg_len: i32, sig_ptr: usize): i32;

/**
 * Run another contract's method with at most `gas` (0: all that is left). Returns the length of its return
 * data, which is in the result buffer. A failing callee fails the whole transaction.
 */
@external("trellis", "call")
export declare function call(addr_ptr: usize, method_ptr: usize, method_len: i32, args_ptr: usize, args_len: i32, gas: i64): i32;
