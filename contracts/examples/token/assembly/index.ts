// An ERC-20-like token with allowances.
//
// init(name, symbol, supply) mints the whole supply to the deployer. Holders move tokens with `transfer`, or
// let a spender (a person or a contract, e.g. the escrow example) move up to an allowance with `approve` and
// `transferFrom`. Every movement emits Transfer(from, to, amount); every approval Approval(owner, spender, amount).

import {
  Reader,
  StringValue,
  U64Map,
  U64Value,
  Writer,
  caller,
  concat,
  emit,
  ensure,
  returnData,
  toHex,
} from "../../../sdk";

const NAME = new StringValue("meta:name");
const SYMBOL = new StringValue("meta:symbol");
const SUPPLY = new U64Value("meta:supply");
const BALANCES = new U64Map("bal:");
/** Keyed by owner || spender. */
const ALLOWANCES = new U64Map("alw:");

const ZERO_ADDRESS = new Uint8Array(20);

function move(from: Uint8Array, to: Uint8Array, amount: u64): void {
  const have = BALANCES.get(from);
  ensure(
    have >= amount,
    "insufficient balance: " + toHex(from) + " has " + have.toString() + ", needs " + amount.toString(),
  );
  BALANCES.set(from, have - amount);
  // Cannot overflow: the sum of all balances is the fixed total supply, a u64.
  BALANCES.set(to, BALANCES.get(to) + amount);
  emit("Transfer", new Writer().address(from).address(to).u64(amount).finish());
}

function setAllowance(owner: Uint8Array, spender: Uint8Array, amount: u64): void {
  ALLOWANCES.set(concat(owner, spender), amount);
  emit("Approval", new Writer().address(owner).address(spender).u64(amount).finish());
}

/** init(name: string, symbol: string, supply: u64): mint `supply` to the deployer. */
export function init(): void {
  const args = Reader.fromInput();
  const name = args.string("name");
  const symbol = args.string("symbol");
  const supply = args.u64("supply");
  args.done();
  ensure(name.length > 0 && name.length <= 64, "name must be 1 to 64 characters");
  ensure(symbol.length > 0 && symbol.length <= 16, "symbol must be 1 to 16 characters");
  const owner = caller();
  NAME.set(name);
  SYMBOL.set(symbol);
  SUPPLY.set(supply);
  BALANCES.set(owner, supply);
  emit("Transfer", new Writer().address(ZERO_ADDRESS).address(owner).u64(supply).finish());
}

/** name() -> string */
export function name(): void {
  Reader.fromInput().done();
  returnData(new Writer().string(NAME.get()).finish());
}

/** symbol() -> string */
export function symbol(): void {
  Reader.fromInput().done();
  returnData(new Writer().string(SYMBOL.get()).finish());
}

/** totalSupply() -> u64 */
export function totalSupply(): void {
  Reader.fromInput().done();
  returnData(new Writer().u64(SUPPLY.get()).finish());
}

/** balanceOf(owner: address) -> u64 */
export function balanceOf(): void {
  const args = Reader.fromInput();
  const owner = args.address("owner");
  args.done();
  returnData(new Writer().u64(BALANCES.get(owner)).finish());
}

/** allowance(owner: address, spender: address) -> u64 */
export function allowance(): void {
  const args = Reader.fromInput();
  const owner = args.address("owner");
  const spender = args.address("spender");
  args.done();
  returnData(new Writer().u64(ALLOWANCES.get(concat(owner, spender))).finish());
}

/** transfer(to: address, amount: u64) -> bool: move the caller's tokens. */
export function transfer(): void {
  const args = Reader.fromInput();
  const to = args.address("to");
  const amount = args.u64("amount");
  args.done();
  move(caller(), to, amount);
  returnData(new Writer().bool(true).finish());
}

/** approve(spender: address, amount: u64) -> bool: let `spender` move up to `amount` of the caller's tokens. */
export function approve(): void {
  const args = Reader.fromInput();
  const spender = args.address("spender");
  const amount = args.u64("amount");
  args.done();
  setAllowance(caller(), spender, amount);
  returnData(new Writer().bool(true).finish());
}

/** transferFrom(from: address, to: address, amount: u64) -> bool: spend the caller's allowance from `from`. */
export function transferFrom(): void {
  const args = Reader.fromInput();
  const from = args.address("from");
  const to = args.address("to");
  const amount = args.u64("amount");
  args.done();
  const spender = caller();
  const key = concat(from, spender);
  const allowed = ALLOWANCES.get(key);
  ensure(
    allowed >= amount,
    "insufficient allowance: " + toHex(spender) + " may spend " + allowed.toString() + " of " + toHex(from) +
      "'s tokens, needs " + amount.toString(),
  );
  ALLOWANCES.set(key, allowed - amount);
  move(from, to, amount);
  returnData(new Writer().bool(true).finish());
}
