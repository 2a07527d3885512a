// Notarization receipt verification in the browser (docs/spec/receipt.md 4.3), written from the spec:
// a strict canonical msgpack decoder (docs/spec/encoding.md 1.3), the genesis hash (encoding.md 2.9), Merkle proofs
// (encoding.md 4), commit certificates (encoding.md 2.5), the walk of validator-set changes (light-client.md 6).
// SHA-256 and Ed25519 by WebCrypto; SM3 and SM2 from sm3.js. No DOM: tests/browser/vectors.mjs imports it.

import { sm3, sm2Verify } from "./sm3.js";

const enc = new TextEncoder();
const utf8 = new TextDecoder("utf-8", { fatal: true });

export const MAX_RECEIPT_BYTES = 16 * 1024 * 1024;

// --- bytes -------------------------------------------------------------------------------------------------

export function toHex(bytes) {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

export function fromHex(s) {
  if (s.startsWith("0x")) s = s.slice(2);
  if (!/^([0-9a-fA-F]{2})*$/.test(s)) throw new Error("not hex");
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function equal(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function compare(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

// --- hashes and signatures (the chain's suite) -------------------------------------------------------------

export async function sha256(data) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", data));
}

async function ed25519Verify(publicKey, message, signature) {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
    return await crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
  } catch {
    return false;
  }
}

/** The suite's hash (async), signature check (async) and digest algorithm name. */
export function suiteOf(name) {
  if (name === "ed25519") return { name, hash: sha256, verify: ed25519Verify, alg: "sha-256" };
  if (name === "sm") return { name, hash: async (d) => sm3(d), verify: async (k, m, s) => sm2Verify(k, m, s), alg: "sm3" };
  throw new Error(`unknown suite ${name}`);
}

/** tagged_hash(tag, data) = H(len(tag) || tag || data) (encoding.md 3.1). */
export async function tagged(suite, tag, data) {
  const t = enc.encode(tag);
  return suite.hash(concat(new Uint8Array([t.length]), t, data));
}

// --- msgpack: a strict decoder of the canonical form, and an encoder ---------------------------------------

class Malformed extends Error {}

/** Decode one msgpack value that must be in its one canonical form (encoding.md 1.1 and 1.3): shortest forms,
 * no maps, booleans, floats or ext (unless `allowMaps`), valid UTF-8, no trailing bytes. Integers above 2^53
 * come back as BigInt; bytes as Uint8Array; nil as null. Throws on anything else. */
export function unpack(data, { allowMaps = false } = {}) {
  let pos = 0;
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const need = (n) => {
    if (pos + n > data.length) throw new Malformed("truncated");
  };
  const u = (n) => {
    need(n);
    let v;
    if (n === 1) v = dv.getUint8(pos);
    else if (n === 2) v = dv.getUint16(pos);
    else if (n === 4) v = dv.getUint32(pos);
    else {
      const big = dv.getBigUint64(pos);
      v = big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
    }
    pos += n;
    return v;
  };
  const bytes = (n) => {
    need(n);
    const out = data.slice(pos, pos + n);
    pos += n;
    return out;
  };
  const str = (n) => {
    try {
      return utf8.decode(bytes(n));
    } catch {
      throw new Malformed("invalid UTF-8");
    }
  };
  const shortest = (ok) => {
    if (!ok) throw new Malformed("not the shortest form");
  };
  let depth = 0;
  const value = () => {
    need(1);
    const m = data[pos++];
    if (m <= 0x7f) return m;
    if (m >= 0xe0) return m - 0x100;
    if (m >= 0xa0 && m <= 0xbf) return str(m - 0xa0);
    if (m >= 0x90 && m <= 0x9f) return array(m - 0x90);
    if (m >= 0x80 && m <= 0x8f) return map(m - 0x80);
    switch (m) {
      case 0xc0:
        return null;
      case 0xc2:
      case 0xc3:
        if (!allowMaps) throw new Malformed("booleans are not used");
        return m === 0xc3;
      case 0xcc: {
        const v = u(1);
        shortest(v > 0x7f);
        return v;
      }
      case 0xcd: {
        const v = u(2);
        shortest(v > 0xff);
        return v;
      }
      case 0xce: {
        const v = u(4);
        shortest(v > 0xffff);
        return v;
      }
      case 0xcf: {
        const v = u(8);
        shortest(v > 0xffffffff);
        return v;
      }
      case 0xd0: {
        need(1);
        const v = dv.getInt8(pos);
        pos += 1;
        shortest(v < -32);
        return v;
      }
      case 0xd1: {
        need(2);
        const v = dv.getInt16(pos);
        pos += 2;
        shortest(v < -128);
        return v;
      }
      case 0xd2: {
        need(4);
        const v = dv.getInt32(pos);
        pos += 4;
        shortest(v < -32768);
        return v;
      }
      case 0xd3: {
        need(8);
        const big = dv.getBigInt64(pos);
        pos += 8;
        shortest(big < -2147483648n);
        return big >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(big) : big;
      }
      case 0xd9: {
        const n = u(1);
        shortest(n > 31);
        return str(n);
      }
      case 0xda: {
        const n = u(2);
        shortest(n > 0xff);
        return str(n);
      }
      case 0xdb: {
        const n = u(4);
        shortest(n > 0xffff);
        return str(n);
      }
      case 0xc4:
        return bytes(u(1));
      case 0xc5: {
        const n = u(2);
        shortest(n > 0xff);
        return bytes(n);
      }
      case 0xc6: {
        const n = u(4);
        shortest(n > 0xffff);
        return bytes(n);
      }
      case 0xdc: {
        const n = u(2);
        shortest(n > 15);
        return array(n);
      }
      case 0xdd: {
        const n = u(4);
        shortest(n > 0xffff);
        return array(n);
      }
      case 0xde: {
        const n = u(2);
        shortest(n > 15);
        return map(n);
      }
      case 0xdf: {
        const n = u(4);
        shortest(n > 0xffff);
        return map(n);
      }
      default:
        throw new Malformed(`msgpack type 0x${m.toString(16)} is not used`);
    }
  };
  const array = (n) => {
    if (n > data.length - pos) throw new Malformed("truncated");
    if (++depth > 64) throw new Malformed("nested too deep");
    const out = [];
    for (let i = 0; i < n; i++) out.push(value());
    depth--;
    return out;
  };
  const map = (n) => {
    if (!allowMaps) throw new Malformed("maps are not used");
    if (++depth > 64) throw new Malformed("nested too deep");
    const out = new Map();
    for (let i = 0; i < n; i++) {
      const k = value();
      out.set(k, value());
    }
    depth--;
    return out;
  };
  const v = value();
  if (pos !== data.length) throw new Malformed("trailing bytes");
  return v;
}

/** Encode in the canonical form: numbers/BigInt as shortest ints, strings as str, Uint8Array as bin, arrays,
 * Map or plain objects as maps (insertion order), booleans, null. */
export function pack(value) {
  const out = [];
  const push = (...b) => out.push(...b);
  const be = (n, width) => {
    const big = BigInt(n);
    for (let i = width - 1; i >= 0; i--) out.push(Number((big >> BigInt(8 * i)) & 0xffn));
  };
  const len = (n, fix, fixMax, m8, m16, m32) => {
    if (fix !== null && n <= fixMax) push(fix + n);
    else if (m8 !== null && n <= 0xff) push(m8, n);
    else if (n <= 0xffff) {
      push(m16);
      be(n, 2);
    } else {
      push(m32);
      be(n, 4);
    }
  };
  const write = (v) => {
    if (v === null || v === undefined) push(0xc0);
    else if (v === true) push(0xc3);
    else if (v === false) push(0xc2);
    else if (typeof v === "number" || typeof v === "bigint") {
      if (typeof v === "number" && !Number.isInteger(v)) throw new Error("floats are not used");
      const n = BigInt(v);
      if (n >= 0n) {
        if (n <= 0x7fn) push(Number(n));
        else if (n <= 0xffn) push(0xcc, Number(n));
        else if (n <= 0xffffn) (push(0xcd), be(n, 2));
        else if (n <= 0xffffffffn) (push(0xce), be(n, 4));
        else if (n <= 0xffffffffffffffffn) (push(0xcf), be(n, 8));
        else throw new Error("integer too large");
      } else if (n >= -32n) push(Number(n) & 0xff);
      else if (n >= -128n) (push(0xd0), be(BigInt.asUintN(8, n), 1));
      else if (n >= -32768n) (push(0xd1), be(BigInt.asUintN(16, n), 2));
      else if (n >= -2147483648n) (push(0xd2), be(BigInt.asUintN(32, n), 4));
      else (push(0xd3), be(BigInt.asUintN(64, n), 8));
    } else if (typeof v === "string") {
      const b = enc.encode(v);
      len(b.length, 0xa0, 31, 0xd9, 0xda, 0xdb);
      for (const x of b) out.push(x);
    } else if (v instanceof Uint8Array) {
      len(v.length, null, 0, 0xc4, 0xc5, 0xc6);
      for (const x of v) out.push(x);
    } else if (Array.isArray(v)) {
      len(v.length, 0x90, 15, null, 0xdc, 0xdd);
      for (const x of v) write(x);
    } else {
      const entries = v instanceof Map ? [...v.entries()] : Object.entries(v);
      len(entries.length, 0x80, 15, null, 0xde, 0xdf);
      for (const [k, x] of entries) {
        write(k);
        write(x);
      }
    }
  };
  write(value);
  return new Uint8Array(out);
}

// --- the spec's struct tables (encoding.md 2, the types a receipt needs) -----------------------------------

const U8 = ["uint", 2 ** 8 - 1];
const U16 = ["uint", 2 ** 16 - 1];
const U32 = ["uint", 2 ** 32 - 1];
const U64 = ["uint", 2n ** 64n - 1n];
const HASH = ["bytes", 32, 32];
const ADDRESS = ["bytes", 20, 20];
const PUBKEY = ["bytes", 32, 65];
const SIG = ["bytes", 64, 64];
const SHORT = ["str", 0, 64, null];
const CHAIN_ID = ["str", 1, 64, /^[a-z0-9][a-z0-9._-]*$/];
const BIG = ["bytes", 0, 256 * 1024];

const STRUCTS = {
  Header: [
    ["chain_id", CHAIN_ID],
    ["height", U64],
    ["time_ms", U64],
    ["parent_hash", HASH],
    ["tx_root", HASH],
    ["results_root", HASH],
    ["state_root", HASH],
    ["tx_count", U32],
    ["proposer", ADDRESS],
    ["validators_hash", HASH],
    ["next_validators_hash", HASH],
  ],
  Event: [
    ["type", SHORT],
    ["attributes", ["list", ["tuple", [SHORT, ["bytes", 0, 1024]]], 0, 16]],
  ],
  Receipt: [
    ["tx_hash", HASH],
    ["code", U32],
    ["message", ["str", 0, 512, null]],
    ["events", ["list", "Event", 0, 64]],
    ["gas_used", U64],
    ["data", ["bytes", 0, 16 * 1024]],
  ],
  Validator: [
    ["public_key", PUBKEY],
    ["power", U64],
    ["name", SHORT],
  ],
  ValidatorSet: [["validators", ["list", "Validator", 1, 1000]]],
  CommitSig: [
    ["validator", ADDRESS],
    ["signature", SIG],
  ],
  Commit: [
    ["height", U64],
    ["round", U32],
    ["block_hash", HASH],
    ["signatures", ["list", "CommitSig", 0, 1000]],
  ],
  MerkleProof: [
    ["index", U64],
    ["size", U64],
    ["siblings", ["list", HASH, 0, 64]],
  ],
  TxBody: [
    ["chain_id", CHAIN_ID],
    ["sender", PUBKEY],
    ["nonce", U64],
    ["payload", ["any-array"]],
    ["memo", ["str", 0, 256, null]],
  ],
  SignedTx: [
    ["body", "TxBody"],
    ["signature", SIG],
  ],
  SetChangeBytes: [
    ["header", BIG],
    ["commit", BIG],
    ["next_validators", BIG],
  ],
  ReceiptV2: [
    ["version", U64],
    ["chain_id", SHORT],
    ["genesis_hash", HASH],
    ["digest_alg", SHORT],
    ["digest", HASH],
    ["record_proof", "MerkleProof"],
    ["batch_root", HASH],
    ["tx", BIG],
    ["tx_proof", "MerkleProof"],
    ["result", BIG],
    ["result_proof", "MerkleProof"],
    ["header", BIG],
    ["commit", BIG],
    ["validators", BIG],
    ["set_changes", ["list", "SetChangeBytes", 0, 10000]],
  ],
};

const NOTARY_ANCHOR = [
  ["digests", ["list", HASH, 0, 2048]],
  ["record_type", SHORT],
  ["owner", ["str", 0, 160, null]],
  ["ref", ["str", 0, 256, null]],
];

const isInt = (v) => (typeof v === "number" && Number.isInteger(v)) || typeof v === "bigint";

/** Check a decoded value against a spec type and return it as an object (structs by field name). */
export function read(value, t, path = "$") {
  const fail = (why) => {
    throw new Malformed(`${path}: ${why}`);
  };
  if (typeof t === "string") {
    const fields = STRUCTS[t];
    if (!Array.isArray(value) || value.length !== fields.length) fail(`${t} is an array of ${fields.length}`);
    const out = {};
    fields.forEach(([name, ft], i) => {
      out[name] = read(value[i], ft, `${path}.${name}`);
    });
    return out;
  }
  switch (t[0]) {
    case "uint":
      if (!isInt(value) || value < 0 || BigInt(value) > BigInt(t[1])) fail("integer out of range");
      return value;
    case "bytes":
      if (!(value instanceof Uint8Array) || value.length < t[1] || value.length > t[2]) fail("bytes of the wrong size");
      return value;
    case "str": {
      if (typeof value !== "string") fail("a str");
      const n = [...value].length;
      if (n < t[1] || n > t[2]) fail("string length");
      if (t[3] && !t[3].test(value)) fail("string pattern");
      return value;
    }
    case "list":
      if (!Array.isArray(value) || value.length < t[2] || value.length > t[3]) fail("list length");
      return value.map((v, i) => read(v, t[1], `${path}[${i}]`));
    case "tuple":
      if (!Array.isArray(value) || value.length !== t[1].length) fail("tuple");
      return value.map((v, i) => read(v, t[1][i], `${path}[${i}]`));
    case "any-array":
      if (!Array.isArray(value) || value.length === 0 || typeof value[0] !== "string") fail("[tag, fields...]");
      return value;
    default:
      throw new Error(`unknown spec type ${t}`);
  }
}

/** Decode canonical bytes as spec type `t`; throws Malformed otherwise. */
export function decodeAs(bytes, t) {
  return read(unpack(bytes), t);
}

function tryDecode(bytes, t) {
  try {
    return decodeAs(bytes, t);
  } catch (e) {
    if (e instanceof Malformed) return null;
    throw e;
  }
}

// --- a JSON parser that keeps large integers exact (BigInt) ------------------------------------------------

/** JSON.parse, except that integers outside the safe range are BigInt and floats are refused when `noFloats`. */
export function parseJson(text, { noFloats = false } = {}) {
  let i = 0;
  const ws = () => {
    while (i < text.length && " \t\n\r".includes(text[i])) i++;
  };
  const fail = (why) => {
    throw new SyntaxError(`JSON: ${why} at ${i}`);
  };
  let depth = 0;
  const value = () => {
    ws();
    const c = text[i];
    if (c === "{") {
      if (++depth > 128) fail("nested too deep");
      i++;
      const out = {};
      ws();
      if (text[i] === "}") {
        i++;
        depth--;
        return out;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail("a member name");
        const k = string();
        ws();
        if (text[i++] !== ":") fail("':'");
        if (Object.prototype.hasOwnProperty.call(out, k)) fail(`duplicate member ${k}`);
        Object.defineProperty(out, k, { value: value(), enumerable: true, writable: true, configurable: true });
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "}") {
          i++;
          depth--;
          return out;
        } else fail("',' or '}'");
      }
    }
    if (c === "[") {
      if (++depth > 128) fail("nested too deep");
      i++;
      const out = [];
      ws();
      if (text[i] === "]") {
        i++;
        depth--;
        return out;
      }
      for (;;) {
        out.push(value());
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "]") {
          i++;
          depth--;
          return out;
        } else fail("',' or ']'");
      }
    }
    if (c === '"') return string();
    if (text.startsWith("true", i)) return (i += 4), true;
    if (text.startsWith("false", i)) return (i += 5), false;
    if (text.startsWith("null", i)) return (i += 4), null;
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 400));
    if (!m) fail("a value");
    i += m[0].length;
    if (m[2] || m[3]) {
      if (noFloats) fail("a float");
      return Number(m[0]);
    }
    const n = Number(m[0]);
    return Number.isSafeInteger(n) ? n : BigInt(m[0]);
  };
  const string = () => {
    const start = i;
    i++;
    for (;;) {
      if (i >= text.length) fail("unterminated string");
      const c = text[i];
      if (c === '"') break;
      if (c === "\\") i += 2;
      else {
        if (c < " ") fail("control character in a string");
        i++;
      }
    }
    i++;
    return JSON.parse(text.slice(start, i));
  };
  const v = value();
  ws();
  if (i !== text.length) fail("trailing text");
  return v;
}

// --- the genesis hash and validator set (encoding.md 2.9) --------------------------------------------------

const GENESIS_DEFAULTS = [
  ["chain_id", undefined],
  ["genesis_time_ms", undefined],
  ["suite", "ed25519"],
  ["validators", undefined],
  ["mint_authority", undefined],
  ["accounts", []],
  [
    "limits",
    [
      ["max_tx_bytes", 65536],
      ["max_block_txs", 20000],
      ["max_block_bytes", 33554432],
    ],
  ],
  ["orgs", []],
  [
    "contracts",
    [
      ["governance", null],
      ["gas_price", 0],
      ["max_code_bytes", 61440],
      ["max_block_gas", 2000000000],
      ["max_memory_pages", 16],
      ["max_call_depth", 8],
    ],
  ],
  [
    "membership",
    [
      ["enforce", false],
      ["admin_threshold", null],
    ],
  ],
];

function filled(doc, keys, where) {
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) throw new Error(`genesis: ${where} is an object`);
  const known = new Set(keys.map(([k]) => k));
  for (const k of Object.keys(doc)) if (!known.has(k)) throw new Error(`genesis: unknown member ${where}.${k}`);
  const out = new Map();
  for (const [k, d] of keys) {
    if (Array.isArray(d) && d.length && Array.isArray(d[0])) out.set(k, filled(doc[k] ?? {}, d, `${where}.${k}`));
    else if (Object.prototype.hasOwnProperty.call(doc, k)) out.set(k, doc[k]);
    else if (d === undefined) throw new Error(`genesis: ${where}.${k} is required`);
    else out.set(k, d);
  }
  return out;
}

/** Parse a genesis document: its chain id, suite, genesis hash (hex) and canonical genesis validator set. */
export async function loadGenesis(text) {
  const doc = parseJson(text, { noFloats: true });
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) throw new Error("genesis: not a JSON object");
  const rest = { ...doc };
  const bench = rest.bench_network;
  const interchain = rest.interchain;
  const hub = rest.hub;
  delete rest.bench_network;
  delete rest.interchain;
  delete rest.hub;
  const full = filled(rest, GENESIS_DEFAULTS, "$");
  if (interchain !== undefined) {
    const ic = { ...interchain };
    const optional = {};
    for (const k of ["max_consensus_states", "hub"]) {
      if (k in ic) {
        optional[k] = ic[k];
        delete ic[k];
      }
    }
    const m = filled(ic, [
      ["client_policy", "governed"],
      ["max_trusting_period_ms", 1209600000],
    ], "interchain");
    if ("max_consensus_states" in optional) m.set("max_consensus_states", optional.max_consensus_states);
    if ("hub" in optional) m.set("hub", filled(optional.hub, [["chain_id", undefined], ["genesis_hash", undefined]], "interchain.hub"));
    full.set("interchain", m);
  }
  if (hub !== undefined) {
    const keys = [
      ["chain_id", undefined],
      ["operator_org", undefined],
      ["genesis_hash", undefined],
    ];
    full.set("hub", new Map([["subchains", (hub.subchains ?? []).map((sc) => filled(sc, keys, "hub.subchains[]"))]]));
  }
  if (bench !== undefined) {
    if (bench !== true) throw new Error("genesis: bench_network is true or absent");
    full.set("bench_network", true);
  }
  if (!Array.isArray(full.get("validators"))) throw new Error("genesis: validators is an array");
  full.set(
    "validators",
    full.get("validators").map((v) => {
      const { org, ...base } = v;
      const m = filled(base, [
        ["name", undefined],
        ["public_key", undefined],
        ["power", 1],
      ], "validators[]");
      if (org !== undefined) m.set("org", org);
      return m;
    }),
  );
  full.set("accounts", full.get("accounts").map((a) => filled(a, [["address", undefined], ["balance", undefined]], "accounts[]")));
  full.set("orgs", full.get("orgs").map((o) => filled(o, [["name", undefined], ["ca_cert", undefined]], "orgs[]")));
  const suite = suiteOf(full.get("suite"));
  const genesisHash = await tagged(suite, "trellis/genesis/v1", pack(full));
  // The genesis validator set: [public_key, power, name] sorted by address (encoding.md 2.9, 3.3).
  const vals = [];
  for (const v of full.get("validators")) {
    const pk = fromHex(v.get("public_key"));
    vals.push({ item: [pk, v.get("power"), v.get("name")], addr: (await tagged(suite, "trellis/address", pk)).slice(0, 20) });
  }
  vals.sort((a, b) => compare(a.addr, b.addr));
  return {
    chainId: full.get("chain_id"),
    suite,
    genesisHash,
    validatorSet: pack([vals.map((v) => v.item)]),
  };
}

// --- Merkle trees (encoding.md 4) --------------------------------------------------------------------------

export async function merkleRoot(suite, items) {
  if (items.length === 0) return new Uint8Array(32);
  if (items.length === 1) return tagged(suite, "trellis/merkle/leaf", items[0]);
  let k = 1;
  while (k * 2 < items.length) k *= 2;
  const left = await merkleRoot(suite, items.slice(0, k));
  const right = await merkleRoot(suite, items.slice(k));
  return tagged(suite, "trellis/merkle/node", concat(left, right));
}

export async function merkleVerify(suite, item, proof, root) {
  const index = BigInt(proof.index);
  const size = BigInt(proof.size);
  if (!(index >= 0n && index < size)) return false;
  let node = await tagged(suite, "trellis/merkle/leaf", item);
  let i = index;
  let w = size;
  let used = 0;
  while (w > 1n) {
    if ((i ^ 1n) < w) {
      if (used >= proof.siblings.length) return false;
      const s = proof.siblings[used++];
      node = await tagged(suite, "trellis/merkle/node", i % 2n ? concat(s, node) : concat(node, s));
    }
    i /= 2n;
    w = (w + 1n) / 2n;
  }
  return used === proof.siblings.length && equal(node, root);
}

// --- commit certificates (encoding.md 2.5) and set changes (light-client.md 6) -----------------------------

async function verifyCommit(suite, chainId, valsetRaw, headerRaw, commitRaw) {
  const header = tryDecode(headerRaw, "Header");
  const commit = tryDecode(commitRaw, "Commit");
  const valset = tryDecode(valsetRaw, "ValidatorSet");
  if (!header || !commit || !valset) return false;
  const blockId = await tagged(suite, "trellis/header/v1", headerRaw);
  if (BigInt(commit.height) !== BigInt(header.height) || !equal(commit.block_hash, blockId)) return false;
  if (!equal(header.validators_hash, await tagged(suite, "trellis/validators/v1", valsetRaw))) return false;
  const members = new Map();
  let total = 0n;
  for (const v of valset.validators) {
    members.set(toHex((await tagged(suite, "trellis/address", v.public_key)).slice(0, 20)), v);
    total += BigInt(v.power);
  }
  const message = concat(enc.encode("\x0ftrellis/vote/v1"), pack([chainId, 2, commit.height, commit.round, blockId]));
  let signed = 0n;
  let last = new Uint8Array(0);
  for (const sig of commit.signatures) {
    const m = members.get(toHex(sig.validator));
    if ((last.length && compare(sig.validator, last) <= 0) || !m) return false;
    last = sig.validator;
    if (!(await suite.verify(m.public_key, message, sig.signature))) return false;
    signed += BigInt(m.power);
  }
  return signed * 3n > total * 2n;
}

async function followSetChanges(suite, chainId, genesisSet, changes, target) {
  let s = genesisSet;
  let start = 1n;
  for (const c of changes) {
    const header = tryDecode(c.header, "Header");
    const commit = tryDecode(c.commit, "Commit");
    const next = tryDecode(c.next_validators, "ValidatorSet");
    if (!header || !commit || !next) return { failed: "validator_changes", set: s, start };
    const n = BigInt(header.height);
    if (header.chain_id !== chainId) return { failed: "wrong_chain", set: s, start };
    if (n < start || n + 1n > target) return { failed: "validator_changes", set: s, start };
    const addrs = [];
    for (const v of next.validators) addrs.push((await tagged(suite, "trellis/address", v.public_key)).slice(0, 20));
    for (let i = 1; i < addrs.length; i++) {
      if (compare(addrs[i - 1], addrs[i]) >= 0) return { failed: "validator_changes", set: s, start };
    }
    if (!(await verifyCommit(suite, chainId, s, c.header, c.commit))) return { failed: "validator_changes", set: s, start };
    if (!equal(header.next_validators_hash, await tagged(suite, "trellis/validators/v1", c.next_validators))) {
      return { failed: "validator_changes", set: s, start };
    }
    s = c.next_validators;
    start = n + 1n;
  }
  return { failed: null, set: s, start };
}

// --- parsing a receipt (4.1 binary form, 4.2 JSON form) ----------------------------------------------------

/** The canonical JSON rendering of receipt.md 4.2 (Python's json.dumps(sort_keys, indent=2, ensure_ascii=False)). */
export function renderCanonicalJson(value, indent = "") {
  const inner = indent + "  ";
  if (value === null) return "null";
  if (typeof value === "bigint" || typeof value === "number" || typeof value === "boolean") return String(value);
  if (typeof value === "string") {
    return JSON.stringify(value); // escapes exactly ", \ and control characters, as Python's json.dumps
  }
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    return "[\n" + value.map((v) => inner + renderCanonicalJson(v, inner)).join(",\n") + "\n" + indent + "]";
  }
  const keys = Object.keys(value).sort((a, b) => compare(enc.encode(a), enc.encode(b)));
  if (keys.length === 0) return "{}";
  return (
    "{\n" +
    keys.map((k) => inner + JSON.stringify(k) + ": " + renderCanonicalJson(value[k], inner)).join(",\n") +
    "\n" +
    indent +
    "}"
  );
}

const RECEIPT_MEMBERS = [
  "batch_root", "chain_id", "commit", "digest", "digest_alg", "format", "genesis_hash", "header",
  "record_proof", "result", "result_proof", "set_changes", "tx", "tx_proof", "validators", "version",
];

function jsonBytes(v) {
  if (typeof v !== "string" || !/^0x([0-9a-f]{2})*$/.test(v)) throw new Malformed("bytes as 0x lower-case hex");
  return fromHex(v);
}

function jsonProof(p) {
  if (p === null || typeof p !== "object" || Array.isArray(p)) throw new Malformed("a MerkleProof object");
  const keys = Object.keys(p).sort().join(",");
  if (keys !== "index,siblings,size" || !Array.isArray(p.siblings)) throw new Malformed("MerkleProof members");
  return [p.index, p.size, p.siblings.map(jsonBytes)];
}

/** Parse a receipt in either form into the decoded ReceiptV2 (fields by name), or throw
 * {check: "malformed"|"unsupported_version", reason}. */
export function parseReceipt(input) {
  const bytes = typeof input === "string" ? enc.encode(input) : input;
  if (bytes.length > MAX_RECEIPT_BYTES) throw { check: "malformed", reason: "more than 16 MiB" };
  let k = 0;
  while (k < bytes.length && [0x20, 0x09, 0x0a, 0x0d].includes(bytes[k])) k++;
  if (bytes[k] === 0x7b) {
    let text;
    let obj;
    try {
      text = typeof input === "string" ? input : utf8.decode(bytes);
      obj = parseJson(text);
    } catch (e) {
      throw { check: "malformed", reason: `not JSON: ${e.message}` };
    }
    if (obj && typeof obj === "object" && obj.format === "trellis-notary-receipt" && obj.version !== 2) {
      throw { check: "unsupported_version", reason: `version ${obj.version}` };
    }
    try {
      if (Object.keys(obj).sort().join(",") !== RECEIPT_MEMBERS.join(",")) throw new Malformed("members of 4.2");
      if (obj.format !== "trellis-notary-receipt") throw new Malformed("format");
      if (!Array.isArray(obj.set_changes)) throw new Malformed("set_changes is an array");
      const arr = [
        obj.version, obj.chain_id, jsonBytes(obj.genesis_hash), obj.digest_alg, jsonBytes(obj.digest),
        jsonProof(obj.record_proof), jsonBytes(obj.batch_root), jsonBytes(obj.tx), jsonProof(obj.tx_proof),
        jsonBytes(obj.result), jsonProof(obj.result_proof), jsonBytes(obj.header), jsonBytes(obj.commit),
        jsonBytes(obj.validators),
        obj.set_changes.map((c) => {
          if (c === null || typeof c !== "object" || Object.keys(c).sort().join(",") !== "commit,header,next_validators") {
            throw new Malformed("set_changes members");
          }
          return [jsonBytes(c.header), jsonBytes(c.commit), jsonBytes(c.next_validators)];
        }),
      ];
      const r = read(arr, "ReceiptV2");
      if (renderCanonicalJson(obj) + "\n" !== text) throw new Malformed("not the canonical rendering (4.2)");
      return r;
    } catch (e) {
      if (e instanceof Malformed) throw { check: "malformed", reason: e.message };
      throw e;
    }
  }
  let value;
  try {
    value = unpack(bytes);
  } catch (e) {
    if (e instanceof Malformed) throw { check: "malformed", reason: e.message };
    throw e;
  }
  if (Array.isArray(value) && isInt(value[0]) && value[0] !== 2) {
    throw { check: "unsupported_version", reason: `version ${value[0]}` };
  }
  try {
    return read(value, "ReceiptV2");
  } catch (e) {
    if (e instanceof Malformed) throw { check: "malformed", reason: e.message };
    throw e;
  }
}

// --- verification (receipt.md 4.3) --------------------------------------------------------------------------

/**
 * Verify a receipt (text, bytes, or an already parsed receipt) against a genesis (its text, or loadGenesis()'s
 * result) and optionally a file digest (Uint8Array, the suite's hash of the file).
 * Returns {status: "valid" | the failed check, reason?, height?, time_ms?, chain_id?, digest?}.
 */
export async function verifyReceipt(receiptInput, genesisInput, fileDigest = null) {
  let r;
  try {
    r = receiptInput instanceof Uint8Array || typeof receiptInput === "string" ? parseReceipt(receiptInput) : receiptInput;
  } catch (e) {
    if (e && e.check) return { status: e.check, reason: e.reason };
    throw e;
  }
  const g = typeof genesisInput === "string" ? await loadGenesis(genesisInput) : genesisInput;
  const suite = g.suite;
  const fail = (status, reason) => ({ status, reason });
  if (r.version !== 2) return fail("unsupported_version", `version ${r.version}`);
  if (r.digest_alg !== "sha-256" && r.digest_alg !== "sm3") return fail("unsupported_digest_algorithm", r.digest_alg);
  if (r.chain_id !== g.chainId || !equal(r.genesis_hash, g.genesisHash)) return fail("wrong_chain", "not this chain's receipt");
  if (r.digest_alg !== suite.alg) return fail("wrong_chain", `the chain's digest algorithm is ${suite.alg}`);
  if (!tryDecode(r.validators, "ValidatorSet")) return fail("validator_set", "validators does not decode");
  if (fileDigest !== null && !equal(fileDigest, r.digest)) return fail("file_digest", "the file's digest is not the receipt's");
  const tx = tryDecode(r.tx, "SignedTx");
  if (!tx) return fail("tx_inclusion", "tx does not decode as a SignedTx");
  const payload = tx.body.payload;
  if (payload[0] !== "notary.anchor") return fail("merkle_path", "the transaction is not a notary.anchor");
  let anchor;
  try {
    if (payload.length !== 1 + NOTARY_ANCHOR.length) throw new Malformed("notary.anchor fields");
    anchor = {};
    NOTARY_ANCHOR.forEach(([name, t], i) => {
      anchor[name] = read(payload[i + 1], t, `payload.${name}`);
    });
  } catch (e) {
    if (e instanceof Malformed) return fail("tx_inclusion", e.message);
    throw e;
  }
  const prefix = enc.encode("trellis/notary/v1");
  if (!(await merkleVerify(suite, concat(prefix, r.digest), r.record_proof, r.batch_root))) {
    return fail("merkle_path", "record_proof does not lead to batch_root");
  }
  const idx = Number(r.record_proof.index);
  if (BigInt(r.record_proof.size) !== BigInt(anchor.digests.length) || !equal(anchor.digests[idx], r.digest)) {
    return fail("merkle_path", "the anchor's digest at the proof's index is not the receipt's");
  }
  const items = anchor.digests.map((d) => concat(prefix, d));
  if (!equal(await merkleRoot(suite, items), r.batch_root)) return fail("merkle_path", "batch_root is not the anchor's root");
  const header = tryDecode(r.header, "Header");
  if (!header) return fail("commit_certificate", "header does not decode");
  const walk = await followSetChanges(suite, g.chainId, g.validatorSet, r.set_changes, BigInt(header.height));
  if (walk.failed !== null) return fail("validator_changes", "the set changes do not follow from genesis");
  if (!equal(await tagged(suite, "trellis/validators/v1", r.validators), await tagged(suite, "trellis/validators/v1", walk.set))) {
    return fail("validator_set", "validators is not the set reached from genesis");
  }
  if (header.chain_id !== g.chainId || tx.body.chain_id !== g.chainId) return fail("wrong_chain", "header or tx of another chain");
  if (BigInt(r.tx_proof.size) !== BigInt(header.tx_count) || !(await merkleVerify(suite, r.tx, r.tx_proof, header.tx_root))) {
    return fail("tx_inclusion", "tx_proof does not lead to the header's tx_root");
  }
  const result = tryDecode(r.result, "Receipt");
  if (!result) return fail("tx_result", "result does not decode");
  if (
    BigInt(r.result_proof.size) !== BigInt(header.tx_count) ||
    !(await merkleVerify(suite, r.result, r.result_proof, header.results_root))
  ) {
    return fail("tx_result", "result_proof does not lead to the header's results_root");
  }
  if (
    BigInt(r.result_proof.index) !== BigInt(r.tx_proof.index) ||
    !equal(result.tx_hash, await tagged(suite, "trellis/tx/v1", r.tx))
  ) {
    return fail("tx_result", "the result is not the transaction's");
  }
  if (result.code !== 0) return fail("tx_result", `the transaction failed (code ${result.code})`);
  if (!tryDecode(r.commit, "Commit")) return fail("commit_certificate", "commit does not decode");
  if (BigInt(header.height) < walk.start || !(await verifyCommit(suite, g.chainId, walk.set, r.header, r.commit))) {
    return fail("commit_certificate", "the commit does not prove the header under the set reached from genesis");
  }
  return {
    status: "valid",
    height: Number(header.height),
    time_ms: Number(header.time_ms),
    chain_id: r.chain_id,
    digest: toHex(r.digest),
  };
}
