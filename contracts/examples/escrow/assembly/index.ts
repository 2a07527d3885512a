// Multi-party token escrow with M-of-N arbiter approval and a refund deadline.
//
// A depositor first approves this contract on a token contract (token.approve(escrow, amount)), then calls
// `create`: the escrow pulls the tokens with a nested token.transferFrom and records who is to be paid, by
// which arbiters (N addresses) and how many of them must approve (M). Once M arbiters have approved, any party
// (depositor, payee or arbiter) may `release`: a nested token.transfer pays the payee. If the escrow has not
// been released by its deadline (block time, ms), the depositor may `refund` it.

import {
  Reader,
  U64Value,
  BytesMap,
  Writer,
  blockTime,
  bytesEqual,
  call,
  caller,
  emit,
  ensure,
  returnData,
  revert,
  selfAddress,
  slice,
  toHex,
  u64KeyBytes,
} from "../../../sdk";

const OPEN: u32 = 0;
const RELEASED: u32 = 1;
const REFUNDED: u32 = 2;
const MAX_ARBITERS: i32 = 16;

const NEXT_ID = new U64Value("next");
/** id (8 bytes big-endian) -> the escrow record. */
const ESCROWS = new BytesMap("esc:");
/** id || arbiter -> marker: this arbiter has approved. */
const APPROVALS = new BytesMap("apv:");
const MARK = new Uint8Array(1);

class Escrow {
  token: Uint8Array = new Uint8Array(20);
  depositor: Uint8Array = new Uint8Array(20);
  payee: Uint8Array = new Uint8Array(20);
  amount: u64 = 0;
  deadline: u64 = 0;
  threshold: u32 = 0;
  approvals: u32 = 0;
  state: u32 = OPEN;
  /** N arbiters' addresses, concatenated. */
  arbiters: Uint8Array = new Uint8Array(0);

  encode(w: Writer): Writer {
    return w
      .address(this.token)
      .address(this.depositor)
      .address(this.payee)
      .u64(this.amount)
      .u64(this.deadline)
      .u32(this.threshold)
      .u32(this.approvals)
      .u32(this.state)
      .bytes(this.arbiters);
  }

  static decode(r: Reader): Escrow {
    const e = new Escrow();
    e.token = r.address();
    e.depositor = r.address();
    e.payee = r.address();
    e.amount = r.u64();
    e.deadline = r.u64();
    e.threshold = r.u32();
    e.approvals = r.u32();
    e.state = r.u32();
    e.arbiters = r.bytes();
    r.done();
    return e;
  }

  isArbiter(who: Uint8Array): bool {
    for (let i = 0; i < this.arbiters.length; i += 20) {
      if (bytesEqual(slice(this.arbiters, i, 20), who)) return true;
    }
    return false;
  }

  isParty(who: Uint8Array): bool {
    return bytesEqual(who, this.depositor) || bytesEqual(who, this.payee) || this.isArbiter(who);
  }
}

function load(id: u64): Escrow {
  const raw = ESCROWS.get(u64KeyBytes(id));
  if (raw === null) {
    revert("no escrow " + id.toString());
  }
  return Escrow.decode(new Reader(changetype<Uint8Array>(raw)));
}

function save(id: u64, e: Escrow): void {
  ESCROWS.set(u64KeyBytes(id), e.encode(new Writer(160)).finish());
}

function ensureOpen(id: u64, e: Escrow): void {
  if (e.state == RELEASED) revert("escrow " + id.toString() + " was already released");
  if (e.state == REFUNDED) revert("escrow " + id.toString() + " was already refunded");
}

/** The token contract's `transfer`/`transferFrom` return a bool; anything but true fails the escrow. */
function ensureTokenOk(result: Uint8Array, what: string): void {
  const r = new Reader(result);
  const ok = r.bool("token " + what + " result");
  r.done();
  ensure(ok, "token " + what + " returned false");
}

/**
 * create(token: address, payee: address, amount: u64, arbiters: bytes, threshold: u32, deadline: u64) -> u64:
 * pull `amount` tokens from the caller (who must have approved this contract) and open an escrow.
 */
export function create(): void {
  const args = Reader.fromInput();
  const e = new Escrow();
  e.token = args.address("token");
  e.payee = args.address("payee");
  e.amount = args.u64("amount");
  e.arbiters = args.bytes("arbiters");
  e.threshold = args.u32("threshold");
  e.deadline = args.u64("deadline");
  args.done();
  e.depositor = caller();

  const n = e.arbiters.length / 20;
  ensure(e.arbiters.length % 20 == 0, "arbiters must be 20-byte addresses, concatenated");
  ensure(n >= 1 && n <= MAX_ARBITERS, "an escrow needs 1 to " + MAX_ARBITERS.toString() + " arbiters");
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < i; j++) {
      ensure(
        !bytesEqual(slice(e.arbiters, i * 20, 20), slice(e.arbiters, j * 20, 20)),
        "arbiter " + toHex(slice(e.arbiters, i * 20, 20)) + " is listed twice",
      );
    }
  }
  ensure(e.threshold >= 1 && e.threshold <= <u32>n, "threshold must be 1 to " + n.toString());
  ensure(e.amount > 0, "amount must be positive");
  const now = blockTime();
  ensure(e.deadline > now, "deadline " + e.deadline.toString() + " is not after the block time " + now.toString());

  const id = NEXT_ID.get() + 1;
  NEXT_ID.set(id);
  save(id, e);
  // Effects first, then the interaction: the escrow is recorded before tokens move.
  const pulled = call(
    e.token,
    "transferFrom",
    new Writer().address(e.depositor).address(selfAddress()).u64(e.amount).finish(),
  );
  ensureTokenOk(pulled, "transferFrom");
  emit("Created", new Writer().u64(id).address(e.depositor).address(e.payee).u64(e.amount).finish());
  returnData(new Writer().u64(id).finish());
}

/** approve(id: u64) -> u32: an arbiter approves the release; returns the number of approvals so far. */
export function approve(): void {
  const args = Reader.fromInput();
  const id = args.u64("id");
  args.done();
  const e = load(id);
  ensureOpen(id, e);
  const who = caller();
  ensure(e.isArbiter(who), toHex(who) + " is not an arbiter of escrow " + id.toString());
  const key = new Writer(28).u64(id).address(who).finish();
  ensure(!APPROVALS.has(key), toHex(who) + " has already approved escrow " + id.toString());
  APPROVALS.set(key, MARK);
  e.approvals += 1;
  save(id, e);
  emit("Approved", new Writer().u64(id).address(who).u32(e.approvals).finish());
  returnData(new Writer().u32(e.approvals).finish());
}

/** release(id: u64) -> bool: once enough arbiters approved, any party pays the payee. */
export function release(): void {
  const args = Reader.fromInput();
  const id = args.u64("id");
  args.done();
  const e = load(id);
  ensureOpen(id, e);
  const who = caller();
  ensure(e.isParty(who), toHex(who) + " is not a party to escrow " + id.toString());
  ensure(
    e.approvals >= e.threshold,
    "escrow " + id.toString() + " needs " + e.threshold.toString() + " approvals, has " + e.approvals.toString(),
  );
  e.state = RELEASED;
  save(id, e);
  ensureTokenOk(call(e.token, "transfer", new Writer().address(e.payee).u64(e.amount).finish()), "transfer");
  emit("Released", new Writer().u64(id).address(e.payee).u64(e.amount).finish());
  returnData(new Writer().bool(true).finish());
}

/** refund(id: u64) -> bool: after the deadline, the depositor takes back an escrow not released. */
export function refund(): void {
  const args = Reader.fromInput();
  const id = args.u64("id");
  args.done();
  const e = load(id);
  ensureOpen(id, e);
  const who = caller();
  ensure(bytesEqual(who, e.depositor), "only the depositor may refund escrow " + id.toString());
  const now = blockTime();
  ensure(
    now >= e.deadline,
    "escrow " + id.toString() + " cannot be refunded before its deadline " + e.deadline.toString() +
      " (block time " + now.toString() + ")",
  );
  e.state = REFUNDED;
  save(id, e);
  ensureTokenOk(call(e.token, "transfer", new Writer().address(e.depositor).u64(e.amount).finish()), "transfer");
  emit("Refunded", new Writer().u64(id).address(e.depositor).u64(e.amount).finish());
  returnData(new Writer().bool(true).finish());
}

/**
 * get(id: u64) -> (token, depositor, payee: address, amount, deadline: u64, threshold, approvals,
 * state: u32 (0 open, 1 released, 2 refunded), arbiters: bytes)
 */
export function get(): void {
  const args = Reader.fromInput();
  const id = args.u64("id");
  args.done();
  returnData(load(id).encode(new Writer(160)).finish());
}
