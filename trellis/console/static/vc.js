// Credential and presentation verification in the browser (docs/spec/credentials.md): the eddsa-jcs-2022 proof
// (and sm2-jcs-2025 on sm chains), the issuer trust registry, validity dates and the status list bit. No DOM:
// the node's answers come through a `get(path)` function (the console's api.get), so tests/browser/vectors.mjs
// imports it under node.

import { jcs } from "./jcs.js";
import { sha256, concat, fromHex } from "./receipt.js";
import { sm3, sm2Verify } from "./sm3.js";

const enc = new TextEncoder();
const B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

export function base58btcDecode(s) {
  let n = 0n;
  for (const c of s) {
    const d = B58.indexOf(c);
    if (d < 0) throw new Error("not base58btc");
    n = n * 58n + BigInt(d);
  }
  const bytes = [];
  while (n > 0n) {
    bytes.unshift(Number(n & 0xffn));
    n >>= 8n;
  }
  let zeros = 0;
  while (zeros < s.length && s[zeros] === "1") zeros++;
  return new Uint8Array([...new Array(zeros).fill(0), ...bytes]);
}

/** A Multikey (`z` + base58btc(multicodec || key)): {kind: "ed25519"|"sm2", key} or null. */
export function multikey(multibase) {
  if (typeof multibase !== "string" || !multibase.startsWith("z") || multibase.length > 200) return null;
  let raw;
  try {
    raw = base58btcDecode(multibase.slice(1));
  } catch {
    return null;
  }
  if (raw.length === 34 && raw[0] === 0xed && raw[1] === 0x01) return { kind: "ed25519", key: raw.slice(2) };
  if (raw.length === 67 && raw[0] === 0x86 && raw[1] === 0x24) return { kind: "sm2", key: raw.slice(2) };
  return null;
}

/** The Ed25519 public key of a Multikey, or null. */
export function multikeyEd25519(multibase) {
  const k = multikey(multibase);
  return k && k.kind === "ed25519" ? k.key : null;
}

async function ed25519Verify(publicKey, message, signature) {
  try {
    const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
    return await crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
  } catch {
    return false;
  }
}

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

/**
 * Check a document's Data Integrity proof (credentials.md 1). `key` is {publicKey, kind?} (kind "ed25519" by
 * default). Returns {ok, code?, reason?}.
 */
export async function verifyProof(doc, key) {
  const proof = doc && doc.proof;
  if (!isObject(proof)) return { ok: false, code: "malformed_proof", reason: "no proof object" };
  if (proof.type !== "DataIntegrityProof" || typeof proof.proofValue !== "string") {
    return { ok: false, code: "malformed_proof", reason: "not a DataIntegrityProof with a proofValue" };
  }
  const suite = proof.cryptosuite;
  if (suite !== "eddsa-jcs-2022" && suite !== "sm2-jcs-2025") {
    return { ok: false, code: "unknown_cryptosuite", reason: String(suite) };
  }
  const kind = key.kind ?? "ed25519";
  if ((suite === "eddsa-jcs-2022") !== (kind === "ed25519")) {
    return { ok: false, code: "bad_signature", reason: `${suite} needs a key of its own kind, not ${kind}` };
  }
  const { proofValue, ...options } = proof;
  const { proof: _drop, ...document } = doc;
  if ("@context" in options) {
    const pc = options["@context"];
    const dc = document["@context"];
    const prefix =
      Array.isArray(pc) && Array.isArray(dc) && pc.length <= dc.length && pc.every((c, i) => jcs(c) === jcs(dc[i]));
    if (!prefix) return { ok: false, code: "context_mismatch", reason: "the proof's @context is not a prefix of the document's" };
    document["@context"] = pc;
  }
  if (!proofValue.startsWith("z")) return { ok: false, code: "malformed_proof", reason: "proofValue is not base58btc" };
  let signature;
  try {
    signature = base58btcDecode(proofValue.slice(1));
  } catch {
    return { ok: false, code: "malformed_proof", reason: "proofValue is not base58btc" };
  }
  if (signature.length !== 64) return { ok: false, code: "malformed_proof", reason: "a signature is 64 bytes" };
  let hashData;
  try {
    if (kind === "ed25519") {
      hashData = concat(await sha256(enc.encode(jcs(options))), await sha256(enc.encode(jcs(document))));
    } else {
      hashData = concat(sm3(enc.encode(jcs(options))), sm3(enc.encode(jcs(document))));
    }
  } catch (e) {
    return { ok: false, code: "malformed", reason: e.message };
  }
  const ok = kind === "ed25519" ? await ed25519Verify(key.publicKey, hashData, signature) : sm2Verify(key.publicKey, hashData, signature);
  return ok ? { ok: true } : { ok: false, code: "bad_signature", reason: "the signature does not verify" };
}

// --- status lists (credentials.md 3.2 and 6: "u" + base64url(GZIP(bits)), index 0 the left-most bit) ---------

export const MAX_STATUS_LIST_BYTES = 2 ** 23 / 8; // the largest list the chain allows (2^23 entries)

/** Decode an encodedList to its bitstring (Uint8Array); refuses one larger than the chain allows. */
export async function decodeStatusList(encodedList) {
  if (typeof encodedList !== "string" || !encodedList.startsWith("u") || !/^u[A-Za-z0-9_-]*$/.test(encodedList)) {
    throw new Error("encodedList is not multibase base64url ('u...')");
  }
  const b64 = encodedList.slice(1).replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  const gz = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  const stream = new Blob([gz]).stream().pipeThrough(new DecompressionStream("gzip"));
  const reader = stream.getReader();
  const parts = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > MAX_STATUS_LIST_BYTES) {
      await reader.cancel();
      throw new Error("the status list is larger than any list the chain allows");
    }
    parts.push(value);
  }
  return concat(...parts);
}

/** The bit of entry `index` (W3C order: index 0 is the left-most bit of byte 0). */
export function statusBit(bits, index) {
  return ((bits[index >> 3] >> (7 - (index & 7))) & 1) === 1;
}

export function countSetBits(bits) {
  let n = 0;
  for (const b of bits) {
    let x = b;
    while (x) {
      n += x & 1;
      x >>= 1;
    }
  }
  return n;
}

// --- selective disclosure (credentials.md 4) and schemas (5.1) ---------------------------------------------

export const MAX_DISCLOSURES = 64;
export const MAX_CREDENTIALS = 16; // in a presentation (trellis/vc/verifier.py MAX_CREDENTIALS)
const MAX_DISCLOSURE_CHARS = 8192;
const RESERVED = new Set(["id", "_sd", "_sd_alg"]);

function b64url(bytes) {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function unb64url(text) {
  if (typeof text !== "string" || text.length > MAX_DISCLOSURE_CHARS || !/^[A-Za-z0-9_-]*$/.test(text)) {
    throw { code: "malformed_disclosure", reason: "a disclosure is a base64url string of at most 8192 characters" };
  }
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  try {
    return Uint8Array.from(atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4)), (c) => c.charCodeAt(0));
  } catch {
    throw { code: "malformed_disclosure", reason: "a disclosure is not base64url" };
  }
}

/** base64url(H(ASCII(disclosure))) with H the credential's _sd_alg ("sha-256" or "sm3"). */
export async function disclosureDigest(alg, disclosure) {
  const data = enc.encode(disclosure);
  if (alg === "sha-256") return b64url(await sha256(data));
  if (alg === "sm3") return b64url(sm3(data));
  throw { code: "unknown_sd_alg", reason: `unsupported _sd_alg ${alg}` };
}

/** The subject with the disclosed claims restored and _sd/_sd_alg removed (credentials.md 4). Throws {code, reason}. */
export async function reveal(subject, disclosures) {
  const out = {};
  for (const [k, v] of Object.entries(subject)) if (k !== "_sd" && k !== "_sd_alg") out[k] = v;
  if (!disclosures.length && !("_sd" in subject)) return out;
  const alg = subject._sd_alg;
  if (alg !== "sha-256" && alg !== "sm3") throw { code: "unknown_sd_alg", reason: `unsupported _sd_alg ${alg}` };
  const signed = subject._sd;
  if (!Array.isArray(signed) || !signed.every((d) => typeof d === "string")) {
    throw { code: "malformed_disclosure", reason: "credentialSubject._sd must be a list of digests" };
  }
  const seen = new Set();
  for (const disclosure of disclosures) {
    const raw = unb64url(disclosure);
    let text;
    let item;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(raw);
      item = JSON.parse(text);
    } catch {
      throw { code: "malformed_disclosure", reason: "a disclosure is not UTF-8 JSON" };
    }
    if (!(Array.isArray(item) && item.length === 3 && typeof item[0] === "string" && typeof item[1] === "string")) {
      throw { code: "malformed_disclosure", reason: "a disclosure is the array [salt, name, value]" };
    }
    let canonical;
    try {
      canonical = jcs(item);
    } catch (e) {
      throw { code: "malformed_disclosure", reason: `not canonical JSON: ${e.message}` };
    }
    if (canonical !== text) throw { code: "malformed_disclosure", reason: "a disclosure is not in JCS canonical form" };
    const digest = await disclosureDigest(alg, disclosure);
    if (!signed.includes(digest)) throw { code: "tampered_disclosure", reason: `disclosure of ${item[1]} matches no signed digest` };
    if (seen.has(digest)) throw { code: "duplicate_disclosure", reason: `disclosure of ${item[1]} is given twice` };
    seen.add(digest);
    const name = item[1];
    if (RESERVED.has(name) || Object.prototype.hasOwnProperty.call(out, name)) {
      throw { code: "claim_conflict", reason: `disclosure of ${name} conflicts with a visible claim` };
    }
    out[name] = item[2];
  }
  return out;
}

/** credentialSubject schemas by credential type (credentials.md 5.1; types without one pass). */
export const SCHEMAS = {
  UniversityDegreeCredential: {
    type: "object",
    required: ["id", "degree"],
    properties: {
      id: { type: "string" },
      degree: { type: "object", required: ["type", "name"], properties: { type: { type: "string" }, name: { type: "string" } } },
      name: { type: "string" },
      dateOfBirth: { type: "string" },
      grade: { type: "string" },
      graduationYear: { type: "integer" },
    },
  },
  AlumniCredential: {
    type: "object",
    required: ["id", "alumniOf"],
    properties: { id: { type: "string" }, alumniOf: { type: "string" } },
  },
};

function schemaError(value, schema, path) {
  const t = schema.type;
  const ok = {
    string: (v) => typeof v === "string",
    integer: (v) => Number.isInteger(v),
    object: isObject,
    array: Array.isArray,
  };
  if (t && !ok[t](value)) return `${path} must be of type ${t}`;
  if (isObject(value)) {
    for (const name of schema.required || []) if (!(name in value)) return `${path}.${name} is required`;
    for (const [name, sub] of Object.entries(schema.properties || {})) {
      if (name in value) {
        const e = schemaError(value[name], sub, `${path}.${name}`);
        if (e) return e;
      }
    }
  }
  return null;
}

export function schemaCheck(subject, types) {
  for (const t of types) {
    if (SCHEMAS[t]) {
      const e = schemaError(subject, SCHEMAS[t], "credentialSubject");
      if (e) return e;
    }
  }
  return null;
}

// --- key resolution (credentials.md 2) ----------------------------------------------------------------------

function didOf(url) {
  return typeof url === "string" ? url.split("#")[0] : "";
}

/** Resolve a verification method URL to {publicKey, kind} for `purpose` ("assertionMethod" or "authentication"),
 * at time `created` (did:trellis: the version in force then). Throws {code, reason}. */
export async function resolveKey(get, vmUrl, purpose, created) {
  const did = didOf(vmUrl);
  if (did.startsWith("did:key:")) {
    const mk = did.slice("did:key:".length);
    const k = multikey(mk);
    if (!k || vmUrl !== `${did}#${mk}`) throw { code: "unresolvable_key", reason: `cannot read did:key ${vmUrl}` };
    return { publicKey: k.key, kind: k.kind };
  }
  if (!did.startsWith("did:trellis:")) throw { code: "unresolvable_key", reason: `the browser resolves did:trellis and did:key, not ${did}` };
  const q = created ? `?versionTime=${encodeURIComponent(created)}` : "";
  let res;
  try {
    res = await get(`/1.0/identifiers/${encodeURIComponent(did)}${q}`);
  } catch (e) {
    const code = e && e.status === 410 ? "did_deactivated" : "unresolvable_key";
    throw { code, reason: `${did}: ${(e && (e.detail || e.message)) || "not resolved"}` };
  }
  const doc = res && res.didDocument;
  if (!isObject(doc)) throw { code: "unresolvable_key", reason: `${did} has no document` };
  if (res.didDocumentMetadata && res.didDocumentMetadata.deactivated) throw { code: "did_deactivated", reason: `${did} is deactivated` };
  const vm = (doc.verificationMethod ?? []).find((m) => m.id === vmUrl);
  if (!vm) throw { code: "unresolvable_key", reason: `${vmUrl} is not in ${did}'s document` };
  if (!(doc[purpose] ?? []).includes(vmUrl)) throw { code: "key_not_authorised", reason: `${vmUrl} is not an ${purpose} key` };
  const k = multikey(vm.publicKeyMultibase);
  if (!k) throw { code: "unresolvable_key", reason: `cannot read the key of ${vmUrl}` };
  return { publicKey: k.key, kind: k.kind };
}

// --- credentials and presentations --------------------------------------------------------------------------

function dateMs(s) {
  if (typeof s !== "string" || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(s)) return NaN;
  return Date.parse(s);
}

const pass = (check, detail = "") => ({ check, ok: true, detail });
const failed = (check, code, detail = "") => ({ check, ok: false, code, detail });

async function proofCheck(get, doc, purpose, owner, ownerName) {
  const proof = doc.proof;
  if (!isObject(proof)) return failed("proof", "malformed_proof", "no proof");
  if (proof.proofPurpose !== purpose) return failed("proof", "wrong_proof_purpose", `proofPurpose is not ${purpose}`);
  if (didOf(proof.verificationMethod) !== owner) {
    return failed("proof", purpose === "assertionMethod" ? "key_not_issuers" : "key_not_holders", `the key is not the ${ownerName}'s`);
  }
  if (proof.created !== undefined) {
    const t = dateMs(proof.created);
    if (Number.isNaN(t)) return failed("proof", "invalid_date", "created is not a date-time");
    if (t > Date.now() + 5 * 60 * 1000) return failed("proof", "proof_in_future", `created ${proof.created}`);
  }
  let key;
  try {
    key = await resolveKey(get, proof.verificationMethod, purpose, proof.created);
  } catch (e) {
    if (e && e.code) return failed("proof", e.code, e.reason);
    throw e;
  }
  const r = await verifyProof(doc, key);
  return r.ok ? pass("proof", `${proof.cryptosuite} by ${proof.verificationMethod}`) : failed("proof", r.code, r.reason);
}

/**
 * Verify one credential: proof, issuer registry, validity dates, status. `get(path)` fetches the node's JSON;
 * `now` the time validity is judged at (ms); `disclosures` those a presentation gives this credential. Returns
 * {status, checks: [{check, ok, code?, detail}], subject} where status is "valid", "revoked", "suspended",
 * "expired" or "invalid", and subject the credentialSubject with the disclosed claims restored.
 */
export async function verifyCredential(cred, get, { now = Date.now(), disclosures = [] } = {}) {
  const checks = [];
  if (!isObject(cred) || !Array.isArray(cred["@context"]) || cred["@context"][0] !== "https://www.w3.org/ns/credentials/v2") {
    checks.push(failed("format", "malformed", "not a VC 2.0 credential (@context)"));
    return { status: "invalid", checks };
  }
  const issuer = isObject(cred.issuer) ? cred.issuer.id : cred.issuer;
  const types = Array.isArray(cred.type) ? cred.type : [cred.type];
  if (typeof issuer !== "string" || !types.includes("VerifiableCredential")) {
    checks.push(failed("format", "malformed", "no issuer or not a VerifiableCredential"));
    return { status: "invalid", checks };
  }
  checks.push(pass("format"));
  checks.push(await proofCheck(get, cred, "assertionMethod", issuer, "issuer"));
  // The trust registry (credentials.md 3): the issuer registered for every type but VerifiableCredential.
  try {
    const reg = await get("/v1/issuers");
    const rec = (reg.issuers ?? []).find((i) => i.did === issuer);
    const missing = types.filter((t) => t !== "VerifiableCredential" && !(rec && rec.types.includes(t)));
    if (!rec) checks.push(failed("issuer", "issuer_not_registered", `${issuer} is not in the registry`));
    else if (missing.length) checks.push(failed("issuer", "type_not_authorised", `not authorised for ${missing.join(", ")}`));
    else checks.push(pass("issuer", `${issuer} registered for ${rec.types.join(", ")}`));
  } catch (e) {
    checks.push(failed("issuer", "issuer_not_registered", `the registry could not be read: ${e.detail || e.message}`));
  }
  // Validity dates.
  const from = cred.validFrom === undefined ? -Infinity : dateMs(cred.validFrom);
  const until = cred.validUntil === undefined ? Infinity : dateMs(cred.validUntil);
  if (Number.isNaN(from) || Number.isNaN(until)) checks.push(failed("validity", "invalid_date", "validFrom/validUntil"));
  else if (now < from) checks.push(failed("validity", "not_yet_valid", `valid from ${cred.validFrom}`));
  else if (now > until) checks.push(failed("validity", "expired", `expired ${cred.validUntil}`));
  else checks.push(pass("validity", cred.validUntil ? `until ${cred.validUntil}` : "no expiry"));
  // Selective disclosure: the disclosures given to this credential (by a presentation) restore their claims.
  let subject = null;
  if (!isObject(cred.credentialSubject)) checks.push(failed("schema", "schema_violation", "credentialSubject is an object"));
  else {
    try {
      subject = await reveal(cred.credentialSubject, disclosures);
      const hidden = Array.isArray(cred.credentialSubject._sd) ? cred.credentialSubject._sd.length - disclosures.length : 0;
      if ("_sd" in cred.credentialSubject || disclosures.length) {
        checks.push(pass("disclosures", `${disclosures.length} disclosed, ${hidden} hidden`));
      }
    } catch (e) {
      if (!(e && e.code)) throw e;
      checks.push(failed("disclosures", e.code, e.reason));
    }
    if (subject) {
      const e = schemaCheck(subject, types);
      checks.push(e ? failed("schema", "schema_violation", e) : pass("schema"));
    }
  }
  // Status (BitstringStatusListEntry, or a list of up to 4).
  if (cred.credentialStatus !== undefined) {
    const entries = Array.isArray(cred.credentialStatus) ? cred.credentialStatus : [cred.credentialStatus];
    if (entries.length > 4) checks.push(failed("status", "malformed_status", "more than 4 status entries"));
    else for (const entry of entries) checks.push(await statusCheck(get, entry, issuer));
  }
  return { status: overall(checks), checks, subject };
}

async function statusCheck(get, entry, issuer) {
  if (!isObject(entry) || typeof entry.statusListCredential !== "string" || typeof entry.statusListIndex !== "string") {
    return failed("status", "malformed_status", "not a BitstringStatusListEntry");
  }
  const m = /\/status-lists\/([A-Za-z0-9._-]{1,64})$/.exec(entry.statusListCredential);
  if (!m || !/^(0|[1-9][0-9]{0,7})$/.test(entry.statusListIndex)) {
    return failed("status", "malformed_status", "statusListCredential or statusListIndex");
  }
  const index = Number(entry.statusListIndex);
  let list;
  try {
    list = await get(`/v1/status-lists/${m[1]}`);
  } catch (e) {
    return failed("status", "unknown_status_list", `${m[1]}: ${e.detail || e.message}`);
  }
  if (list.issuer !== issuer) return failed("status", "status_list_not_issuers", `list ${m[1]} is ${list.issuer}'s`);
  const purpose = list.credentialSubject && list.credentialSubject.statusPurpose;
  if (entry.statusPurpose !== undefined && entry.statusPurpose !== purpose) {
    return failed("status", "malformed_status", `statusPurpose ${entry.statusPurpose} is not the list's ${purpose}`);
  }
  let bits;
  try {
    bits = await decodeStatusList(list.credentialSubject.encodedList);
  } catch (e) {
    return failed("status", "malformed_status", e.message);
  }
  if (index >= bits.length * 8) return failed("status", "status_index_out_of_range", `index ${index} of ${bits.length * 8}`);
  if (statusBit(bits, index)) {
    return failed("status", purpose === "suspension" ? "suspended" : "revoked", `list ${m[1]} index ${index} is set (height ${list.height})`);
  }
  return pass("status", `list ${m[1]} (${purpose}) index ${index} is clear at height ${list.height}`);
}

function overall(checks) {
  const bad = checks.filter((c) => !c.ok);
  if (!bad.length) return "valid";
  const codes = bad.map((c) => c.code);
  if (codes.includes("revoked")) return "revoked";
  if (codes.includes("suspended")) return "suspended";
  if (bad.every((c) => c.code === "expired")) return "expired";
  return "invalid";
}

/**
 * Verify a presentation: the holder's proof (authentication), holder binding and each credential. The verifier's
 * challenge and domain, if given, must be the proof's. Returns {status, checks, credentials: [{status, checks}]}.
 */
export async function verifyPresentation(vp, get, { challenge, domain, now = Date.now() } = {}) {
  const checks = [];
  const types = Array.isArray(vp && vp.type) ? vp.type : [];
  if (!isObject(vp) || !types.includes("VerifiablePresentation") || typeof vp.holder !== "string" || !vp.holder) {
    checks.push(failed("format", "malformed", "not a VerifiablePresentation with a holder"));
    return { status: "invalid", checks, credentials: [] };
  }
  // As trellis/vc/verifier.py: verifiableCredential is a list of 1 to 16 credentials. A single object or a
  // missing member is refused, not read as zero credentials (which would pass holder binding vacuously).
  const creds = vp.verifiableCredential;
  if (!Array.isArray(creds) || creds.length < 1 || creds.length > MAX_CREDENTIALS) {
    checks.push(failed("format", "malformed", `verifiableCredential must hold 1 to ${MAX_CREDENTIALS} credentials`));
    return { status: "invalid", checks, credentials: [] };
  }
  checks.push(pass("format"));
  let holder = await proofCheck(get, vp, "authentication", vp.holder, "holder");
  if (holder.ok && challenge !== undefined && vp.proof.challenge !== challenge) holder = failed("proof", "wrong_challenge", "");
  if (holder.ok && domain !== undefined && vp.proof.domain !== domain) holder = failed("proof", "wrong_domain", "");
  checks.push({ ...holder, check: "holder_proof" });
  const notSubject = creds.filter((c) => !(isObject(c) && isObject(c.credentialSubject) && c.credentialSubject.id === vp.holder));
  checks.push(notSubject.length ? failed("holder_binding", "holder_not_subject", "a credential's subject is not the holder") : pass("holder_binding"));
  // The presentation's disclosures, each given to the credential whose _sd holds its digest (credentials.md 4).
  const given = creds.map(() => []);
  const ds = vp.disclosures === undefined ? [] : vp.disclosures;
  if (!Array.isArray(ds) || ds.length > MAX_DISCLOSURES || !ds.every((d) => typeof d === "string" && /^[\x20-\x7e]*$/.test(d))) {
    checks.push(failed("disclosures", "malformed_disclosure", `disclosures is a list of at most ${MAX_DISCLOSURES} ASCII strings`));
  } else {
    let unmatched = null;
    for (const d of ds) {
      let found = -1;
      for (let i = 0; i < creds.length && found < 0; i++) {
        const sub = isObject(creds[i]) ? creds[i].credentialSubject : null;
        if (!isObject(sub) || !Array.isArray(sub._sd)) continue;
        try {
          if (sub._sd.includes(await disclosureDigest(sub._sd_alg, d))) found = i;
        } catch {
          // an unusable _sd_alg: that credential's own check reports it
        }
      }
      if (found < 0) unmatched = d;
      else given[found].push(d);
    }
    if (unmatched !== null) checks.push(failed("disclosures", "tampered_disclosure", "a disclosure matches no credential's signed digests"));
    else if (ds.length) checks.push(pass("disclosures", `${ds.length} disclosures matched`));
  }
  const credentials = [];
  for (let i = 0; i < creds.length; i++) credentials.push(await verifyCredential(creds[i], get, { now, disclosures: given[i] }));
  const statuses = credentials.map((c) => c.status);
  let status = overall(checks);
  if (status === "valid") {
    for (const s of ["revoked", "suspended", "invalid", "expired"]) {
      if (statuses.includes(s)) {
        status = s;
        break;
      }
    }
  }
  return { status, checks, credentials };
}

/** A credential or a presentation, by its type. */
export async function verifyDocument(doc, get, opts = {}) {
  const types = Array.isArray(doc && doc.type) ? doc.type : [doc && doc.type];
  if (types.includes("VerifiablePresentation")) return { kind: "presentation", ...(await verifyPresentation(doc, get, opts)) };
  return { kind: "credential", ...(await verifyCredential(doc, get, opts)) };
}

export { fromHex };
