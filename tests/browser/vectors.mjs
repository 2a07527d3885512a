// Runs the console's in-browser verifiers (trellis/console/static/{receipt,vc,sm3,jcs}.js) under node against
// tests/vectors/: receipt/* (every receipt valid with its file and genesis, the named failures of receipt.md 7,
// and one flipped byte in many places of every receipt), vc/eddsa-jcs-2022.json (JCS and the signature, and a
// tampered credential) and the SM3/SM2 vectors of sm_suite.json. Prints one line per check; exits 1 on any
// mismatch. Run: node tests/browser/vectors.mjs   (run by tests/unit/test_console_verifiers.py)

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const vectors = join(root, "tests", "vectors");
const staticDir = join(root, "trellis", "console", "static");

const receipt = await import(join(staticDir, "receipt.js"));
const sm = await import(join(staticDir, "sm3.js"));
const vc = await import(join(staticDir, "vc.js"));
const jcsMod = await import(join(staticDir, "jcs.js"));

let failures = 0;
let passes = 0;
function check(name, ok, detail = "") {
  if (ok) passes++;
  else {
    failures++;
    console.log(`FAIL ${name}${detail ? ": " + detail : ""}`);
  }
}
const hex = receipt.toHex;
const h = receipt.fromHex;
const text = (p) => readFileSync(join(vectors, p), "utf8");
const bin = (p) => new Uint8Array(readFileSync(join(vectors, p)));

// --- SM3 and SM2 (sm_suite.json) ---------------------------------------------------------------------------
const smv = JSON.parse(text("sm_suite.json"));
for (const c of smv.sm3) check(`sm3 ${c.data.slice(0, 16)}`, hex(sm.sm3(h(c.data))) === c.digest);
check("sm3 of a flipped input differs", hex(sm.sm3(h("616264"))) !== smv.sm3[1].digest);
const smSuite = receipt.suiteOf("sm");
for (const c of smv.tagged_hash) {
  check(`sm3 tagged ${c.domain}`, hex(await receipt.tagged(smSuite, c.domain, h(c.data))) === c.digest);
}
{
  const ex = smv.standard_example;
  check("sm2 Z_A", hex(sm.sm2Za(h(ex.public_key))) === ex.za);
  check("sm2 standard example verifies", sm.sm2Verify(h(ex.public_key), h(ex.message), h(ex.signature)));
  const msg = h(ex.message);
  msg[0] ^= 1;
  check("sm2 standard example, flipped message, fails", !sm.sm2Verify(h(ex.public_key), msg, h(ex.signature)));
  const sig = h(ex.signature);
  sig[40] ^= 1;
  check("sm2 standard example, flipped signature, fails", !sm.sm2Verify(h(ex.public_key), h(ex.message), sig));
  const t = smv.transaction;
  check("sm2 transaction signature", sm.sm2Verify(h(t.public_key), h(t.signing_bytes), h(t.signature)));
  const g = smv.genesis;
  const loaded = await receipt.loadGenesis(g.genesis_json);
  check("sm genesis hash", hex(loaded.genesisHash) === g.genesis_hash, hex(loaded.genesisHash));
  check("sm genesis validator set", hex(loaded.validatorSet) === g.validator_set_bytes);
}

// --- genesis hashes (genesis_hash.json) --------------------------------------------------------------------
for (const c of JSON.parse(text("genesis_hash.json")).cases ?? []) {
  if (!c.genesis_json && !c.genesis) continue;
  const src = c.genesis_json ?? JSON.stringify(c.genesis);
  const loaded = await receipt.loadGenesis(src);
  check(`genesis hash ${c.name ?? ""}`, hex(loaded.genesisHash) === (c.genesis_hash ?? "").replace(/^0x/, ""), hex(loaded.genesisHash));
}

// --- receipts (receipt/) ----------------------------------------------------------------------------------
const genesisText = text("receipt/genesis.json");
const genesis = await receipt.loadGenesis(genesisText);
const otherDigest = await receipt.sha256(new TextEncoder().encode("another file"));

async function expect(name, want, receiptInput, g, digest = null) {
  const got = await receipt.verifyReceipt(receiptInput, g, digest);
  check(`${name} -> ${want}`, got.status === want, `got ${got.status} (${got.reason ?? ""})`);
  return got;
}

for (let i = 0; i < 4; i++) {
  const digest = await receipt.sha256(bin(`receipt/file${i}.bin`));
  for (const form of ["json", "msgpack"]) {
    const raw = form === "json" ? text(`receipt/file${i}.receipt.json`) : bin(`receipt/file${i}.receipt.msgpack`);
    const ok = await expect(`file${i}.receipt.${form}`, "valid", raw, genesis, digest);
    if (ok.status === "valid") check(`file${i} height/time`, ok.height > 0 && ok.time_ms > 1700000000000);
    await expect(`file${i}.receipt.${form} without the file`, "valid", raw, genesisText);
    await expect(`file${i}.receipt.${form} with another file`, "file_digest", raw, genesis, otherDigest);
    // One flipped byte anywhere fails a named check (receipt.md 7): every position of the small binary form is
    // too slow through WebCrypto, so a spread of positions covering every field.
    const bytes = form === "json" ? new TextEncoder().encode(raw) : raw;
    const step = Math.max(1, Math.floor(bytes.length / (form === "json" ? 150 : 250)));
    let flipsValid = 0;
    let flips = 0;
    for (let p = 0; p < bytes.length; p += step) {
      const copy = bytes.slice();
      copy[p] ^= form === "json" ? 0x01 : 0x40;
      flips++;
      const got = await receipt.verifyReceipt(copy, genesis, digest);
      if (got.status === "valid") {
        flipsValid++;
        console.log(`FAIL file${i}.receipt.${form}: byte ${p} flipped still verifies`);
      }
    }
    check(`file${i}.receipt.${form}: ${flips} flipped bytes all fail`, flipsValid === 0 && flips > 100);
  }
  const genesisFlip = genesisText.replace('"balance": 1000', '"balance": 1001');
  check("genesis edited", genesisFlip !== genesisText);
  await expect(`file${i} against an edited genesis`, "wrong_chain", text(`receipt/file${i}.receipt.json`), genesisFlip);
}
await expect("other-chain.receipt.json", "wrong_chain", text("receipt/other-chain.receipt.json"), genesis);
await expect("v1-file0.receipt.json", "unsupported_version", text("receipt/v1-file0.receipt.json"), genesis);
await expect("not JSON", "malformed", "{ nope", genesis);
await expect(
  "a non-canonical rendering (a space added)",
  "malformed",
  text("receipt/file0.receipt.json").replace('"format": ', '"format":  '),
  genesis,
);
await expect(
  "upper-case hex",
  "malformed",
  text("receipt/file0.receipt.json").replace(/"digest": "0x([0-9a-f]+)"/, (m, x) => `"digest": "0x${x.toUpperCase()}"`),
  genesis,
);
{
  const msgpack = bin("receipt/file0.receipt.msgpack");
  const trailing = new Uint8Array(msgpack.length + 1);
  trailing.set(msgpack);
  await expect("msgpack with a trailing byte", "malformed", trailing, genesis);
}

// Commit certificates re-made from the vector's signatures: two of four is not more than 2/3; three of four is.
{
  const r = receipt.parseReceipt(bin("receipt/file0.receipt.msgpack"));
  const c = receipt.decodeAs(r.commit, "Commit");
  check("the vector's commit has 4 signatures", c.signatures.length === 4);
  const remade = (sigs) => receipt.pack([c.height, c.round, c.block_hash, sigs.map((s) => [s.validator, s.signature])]);
  check("a re-made commit is byte-identical", receipt.equal(remade(c.signatures), r.commit));
  await expect("commit with 3 of 4 signatures", "valid", { ...r, commit: remade(c.signatures.slice(0, 3)) }, genesis);
  await expect("commit with 2 of 4 signatures", "commit_certificate", { ...r, commit: remade(c.signatures.slice(0, 2)) }, genesis);
  await expect(
    "commit with one signature twice",
    "commit_certificate",
    { ...r, commit: remade([c.signatures[0], c.signatures[0], c.signatures[1]]) },
    genesis,
  );
}

// After a validator-set change (set-change.*): valid, and the named failures of receipt.md 7.
{
  const scGenesisText = text("receipt/set-change.genesis.json");
  const scGenesis = await receipt.loadGenesis(scGenesisText);
  const digest = await receipt.sha256(bin("receipt/file1.bin"));
  for (const [form, raw] of [
    ["json", text("receipt/set-change.receipt.json")],
    ["msgpack", bin("receipt/set-change.receipt.msgpack")],
  ]) {
    await expect(`set-change.receipt.${form}`, "valid", raw, scGenesis, digest);
  }
  const r = receipt.parseReceipt(bin("receipt/set-change.receipt.msgpack"));
  check("set-change has one change", r.set_changes.length === 1);
  await expect("set-change without its set change", "validator_set", { ...r, set_changes: [] }, scGenesis);
  await expect(
    "set-change with the genesis set in place of the change",
    "commit_certificate",
    { ...r, set_changes: [], validators: scGenesis.validatorSet },
    scGenesis,
  );
  await expect(
    "set-change with a forged next set",
    "validator_changes",
    { ...r, set_changes: [{ ...r.set_changes[0], next_validators: scGenesis.validatorSet }] },
    scGenesis,
  );
  await expect("set-change receipt against the other genesis", "wrong_chain", bin("receipt/set-change.receipt.msgpack"), genesis);
}

// Forged set-change walks, signed here with the fixture's validator keys (tests/notary_fixture.py: the Ed25519
// seed of "validator-i" is sha256("validator-i")) and a second set B of keys of our own: the order and target
// rule of followSetChanges (a change at height n needs start <= n and n + 1 <= the receipt's height) and the
// commit check's `header.height < walk.start`.
{
  const enc = new TextEncoder();
  const suite = genesis.suite;
  const key = async (name) => {
    const seed = await receipt.sha256(enc.encode(name));
    const pkcs8 = receipt.concat(h("302e020100300506032b657004220420"), seed);
    const sk = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "Ed25519" }, true, ["sign"]);
    const pub = new Uint8Array(Buffer.from((await crypto.subtle.exportKey("jwk", sk)).x, "base64url"));
    return { name, sk, pub, addr: (await receipt.tagged(suite, "trellis/address", pub)).slice(0, 20) };
  };
  const G = await Promise.all([0, 1, 2, 3].map((i) => key(`validator-${i}`)));
  const B = await Promise.all([0, 1, 2, 3].map((i) => key(`set-b-validator-${i}`)));
  const byAddr = (ks) => [...ks].sort((a, b) => (hex(a.addr) < hex(b.addr) ? -1 : 1));
  const valset = (ks) => receipt.pack([byAddr(ks).map((k) => [k.pub, 1, k.name])]);
  const gRaw = valset(G);
  check("the fixture's validator keys are the genesis set", receipt.equal(gRaw, genesis.validatorSet));
  const bRaw = valset(B);
  const vhash = (raw) => receipt.tagged(suite, "trellis/validators/v1", raw);
  const r0 = receipt.parseReceipt(bin("receipt/file0.receipt.msgpack"));
  const base = receipt.decodeAs(r0.header, "Header");
  const FIELDS = ["chain_id", "height", "time_ms", "parent_hash", "tx_root", "results_root", "state_root", "tx_count", "proposer", "validators_hash", "next_validators_hash"];
  const header = async (height, cur, next) => {
    const fields = { ...base, height, validators_hash: await vhash(cur), next_validators_hash: await vhash(next) };
    return receipt.pack(FIELDS.map((f) => fields[f]));
  };
  const commitOf = async (headerRaw, signers) => {
    const height = receipt.decodeAs(headerRaw, "Header").height;
    const blockId = await receipt.tagged(suite, "trellis/header/v1", headerRaw);
    const msg = receipt.concat(enc.encode("\x0ftrellis/vote/v1"), receipt.pack([genesis.chainId, 2, height, 0, blockId]));
    const sigs = [];
    for (const k of byAddr(signers)) sigs.push([k.addr, new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, k.sk, msg))]);
    return receipt.pack([height, 0, blockId, sigs]);
  };
  const change = async (height, signers, cur, next) => {
    const hd = await header(height, cur, next);
    return { header: hd, commit: await commitOf(hd, signers), next_validators: next };
  };
  const forged = async (height, changes) => {
    const hd = await header(height, gRaw, gRaw);
    return { ...r0, header: hd, commit: await commitOf(hd, G), validators: gRaw, set_changes: changes };
  };
  await expect("re-made by the fixture's keys: the receipt at height 4, no changes", "valid", await forged(4, []), genesis);
  await expect(
    "re-made: G->B at 2, B->G at 3, the receipt at 4",
    "valid",
    await forged(4, [await change(2, G, gRaw, bRaw), await change(3, B, bRaw, gRaw)]),
    genesis,
  );
  // Out of order (n < start): G->B at 3, then B->G "at 2".
  await expect(
    "set changes out of order (G->B at 3, B->G at 2)",
    "validator_changes",
    await forged(4, [await change(3, G, gRaw, bRaw), await change(2, B, bRaw, gRaw)]),
    genesis,
  );
  // A change at or after the receipt's block (n + 1 > target): G->B at 2, B->G at 5, an old G receipt at 3 replayed.
  await expect(
    "a set change after the receipt's block (G->B at 2, B->G at 5, receipt at 3)",
    "validator_changes",
    await forged(3, [await change(2, G, gRaw, bRaw), await change(5, B, bRaw, gRaw)]),
    genesis,
  );
  // The walk starts at height 1: a header at height 0 is before it (with the rule above, the only header a
  // walk's start can be past).
  await expect("a header at height 0, signed by the genesis set", "commit_certificate", await forged(0, []), genesis);
}

// --- credentials (vc/eddsa-jcs-2022.json) -----------------------------------------------------------------
{
  const v = JSON.parse(text("vc/eddsa-jcs-2022.json"));
  check("jcs(unsigned) is the canonical document", jcsMod.jcs(v.unsigned) === v.canonicalDocument);
  check(
    "jcs orders by UTF-16 code units and formats numbers per ECMAScript",
    jcsMod.jcs({ b: [1, 1e21, -0, 0.1, "é\n\u2028"], a: null, "\u20ac": true, "\ud83d\ude00": false, c: { y: 1, x: 2 } }) ===
      '{"a":null,"b":[1,1e+21,0,0.1,"é\\n\u2028"],"c":{"x":2,"y":1},"\u20ac":true,"\ud83d\ude00":false}',
  );
  check("document hash", hex(await receipt.sha256(new TextEncoder().encode(v.canonicalDocument))) === v.documentHashHex);
  const pub = vc.multikeyEd25519(v.keyPair.publicKeyMultibase);
  check("multikey decodes", pub !== null && pub.length === 32);
  const proofOk = await vc.verifyProof(v.signed, { publicKey: pub });
  check("the published signed credential verifies", proofOk.ok, proofOk.code);
  const tampered = structuredClone(v.signed);
  tampered.credentialSubject.alumniOf = "The School of Forgeries";
  const bad = await vc.verifyProof(tampered, { publicKey: pub });
  check("a tampered credential fails bad_signature", !bad.ok && bad.code === "bad_signature", bad.code);
  const badSig = structuredClone(v.signed);
  badSig.proof.proofValue = badSig.proof.proofValue.slice(0, -2) + (badSig.proof.proofValue.endsWith("a") ? "bb" : "aa");
  const bad2 = await vc.verifyProof(badSig, { publicKey: pub });
  check("a changed proofValue fails", !bad2.ok, bad2.code);
  const ctx = structuredClone(v.signed);
  ctx.proof["@context"] = ["https://example.org/other"];
  const bad3 = await vc.verifyProof(ctx, { publicKey: pub });
  check("a proof context that is not the document's prefix fails context_mismatch", bad3.code === "context_mismatch", bad3.code);

  // The status list bitstring: "u" + base64url(gzip(bits)), W3C order (index 0 = left-most bit).
  const bits = new Uint8Array(16384);
  bits[0] = 0b10000000; // index 0
  bits[1] = 0b00000101; // indexes 13 and 15
  const gz = new Uint8Array(await new Response(new Blob([bits]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer());
  const encoded = "u" + Buffer.from(gz).toString("base64url");
  const decoded = await vc.decodeStatusList(encoded);
  check("status list decodes", decoded.length === 16384);
  check(
    "status bits in W3C order",
    vc.statusBit(decoded, 0) && !vc.statusBit(decoded, 1) && vc.statusBit(decoded, 13) && vc.statusBit(decoded, 15) && !vc.statusBit(decoded, 14),
  );
  check("set bits counted", vc.countSetBits(decoded) === 3);
}

// --- a credential and a presentation signed here (did:key), checked with a stand-in node --------------------
{
  const enc = new TextEncoder();
  const B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
  const b58 = (bytes) => {
    let n = 0n;
    for (const b of bytes) n = (n << 8n) | BigInt(b);
    let s = "";
    while (n > 0n) {
      s = B58[Number(n % 58n)] + s;
      n /= 58n;
    }
    for (const b of bytes) {
      if (b !== 0) break;
      s = "1" + s;
    }
    return s;
  };
  const b64url = (bytes) => Buffer.from(bytes).toString("base64url");
  async function party() {
    const kp = await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]);
    const pub = new Uint8Array(await crypto.subtle.exportKey("raw", kp.publicKey));
    const mk = "z" + b58(new Uint8Array([0xed, 0x01, ...pub]));
    return { kp, did: `did:key:${mk}`, vm: `did:key:${mk}#${mk}` };
  }
  async function sign(doc, who, purpose, extra = {}) {
    const options = {
      type: "DataIntegrityProof",
      cryptosuite: "eddsa-jcs-2022",
      created: "2026-01-01T00:00:00Z",
      verificationMethod: who.vm,
      proofPurpose: purpose,
      ...extra,
      "@context": doc["@context"],
    };
    const hashData = receipt.concat(await receipt.sha256(enc.encode(jcsMod.jcs(options))), await receipt.sha256(enc.encode(jcsMod.jcs(doc))));
    const sig = new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, who.kp.privateKey, hashData));
    return { ...doc, proof: { ...options, proofValue: "z" + b58(sig) } };
  }
  const disclosure = (name, value) => b64url(enc.encode(jcsMod.jcs([b64url(crypto.getRandomValues(new Uint8Array(16))), name, value])));
  const issuer = await party();
  const holder = await party();
  const dName = disclosure("name", "Ada");
  const dGrade = disclosure("grade", "A");
  const subject = {
    id: holder.did,
    degree: { type: "BachelorDegree", name: "BSc" },
    _sd: [await vc.disclosureDigest("sha-256", dName), await vc.disclosureDigest("sha-256", dGrade)].sort(),
    _sd_alg: "sha-256",
  };
  const unsignedCred = {
    "@context": ["https://www.w3.org/ns/credentials/v2"],
    type: ["VerifiableCredential", "UniversityDegreeCredential"],
    issuer: issuer.did,
    validFrom: "2026-01-01T00:00:00Z",
    credentialSubject: subject,
    credentialStatus: {
      type: "BitstringStatusListEntry",
      statusPurpose: "revocation",
      statusListIndex: "42",
      statusListCredential: "https://node.example/v1/status-lists/uni",
    },
  };
  const cred = await sign(unsignedCred, issuer, "assertionMethod");
  const gzipList = async (setIndexes) => {
    const bits = new Uint8Array(16384);
    for (const i of setIndexes) bits[i >> 3] |= 1 << (7 - (i & 7));
    const gz = await new Response(new Blob([bits]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer();
    return "u" + b64url(new Uint8Array(gz));
  };
  const node = async ({ set = [], purpose = "revocation", registered = true, listIssuer = issuer.did } = {}) => {
    const encodedList = await gzipList(set);
    return async (path) => {
      if (path === "/v1/issuers") {
        return { issuers: registered ? [{ did: issuer.did, types: ["UniversityDegreeCredential"], controller: "0x00", updated_height: 1 }] : [], height: 3 };
      }
      if (path === "/v1/status-lists/uni") return { issuer: listIssuer, credentialSubject: { statusPurpose: purpose, encodedList }, height: 3 };
      throw Object.assign(new Error("not found"), { status: 404, detail: path });
    };
  };
  const now = Date.parse("2026-06-01T00:00:00Z");
  const codes = (r) => r.checks.filter((c) => !c.ok).map((c) => c.code).join(",");
  const allCodes = (r) => [codes(r), ...(r.credentials || []).map(codes)].join(",");
  const cv = async (name, want, doc, get, opts = {}, code = null) => {
    const r = await vc.verifyDocument(doc, get, { now, ...opts });
    const ok = r.status === want && (code === null || allCodes(r).split(",").includes(code));
    check(`${name} -> ${want}${code ? " " + code : ""}`, ok, `got ${r.status} (${allCodes(r)})`);
    return r;
  };
  await cv("signed credential, index clear", "valid", cred, await node());
  await cv("signed credential, index 42 set (revocation)", "revoked", cred, await node({ set: [42] }));
  const suspendable = await sign(
    { ...unsignedCred, credentialStatus: { ...unsignedCred.credentialStatus, statusPurpose: "suspension" } },
    issuer,
    "assertionMethod",
  );
  await cv("on a suspension list, index 42 set", "suspended", suspendable, await node({ set: [42], purpose: "suspension" }));
  await cv("an entry's purpose that is not the list's", "invalid", cred, await node({ purpose: "suspension" }));
  await cv("signed credential, index 41 set", "valid", cred, await node({ set: [41, 43] }));
  await cv("issuer not registered", "invalid", cred, await node({ registered: false }), {}, "issuer_not_registered");
  await cv("status list of another issuer", "invalid", cred, await node({ listIssuer: holder.did }));
  await cv("expired", "expired", await sign({ ...unsignedCred, validUntil: "2026-03-01T00:00:00Z" }, issuer, "assertionMethod"), await node());
  await cv("not yet valid", "invalid", await sign({ ...unsignedCred, validFrom: "2027-01-01T00:00:00Z" }, issuer, "assertionMethod"), await node());
  await cv("signed by the holder, not the issuer", "invalid", await sign(unsignedCred, holder, "assertionMethod"), await node());
  await cv("a claim added after signing", "invalid", { ...cred, credentialSubject: { ...cred.credentialSubject, grade: "A+" } }, await node());
  const schemaBad = { ...unsignedCred, credentialSubject: { id: holder.did, _sd: subject._sd, _sd_alg: "sha-256" } };
  await cv("a required claim missing (schema)", "invalid", await sign(schemaBad, issuer, "assertionMethod"), await node());

  const present = async (disclosures, extra = { challenge: "c1", domain: "d.example" }, creds = [cred]) =>
    sign(
      { "@context": ["https://www.w3.org/ns/credentials/v2"], type: ["VerifiablePresentation"], holder: holder.did, verifiableCredential: creds, disclosures },
      holder,
      "authentication",
      extra,
    );
  const vpOk = await present([dName]);
  const r = await cv("presentation disclosing name", "valid", vpOk, await node(), { challenge: "c1", domain: "d.example" });
  check("the disclosed claim is restored, the other stays hidden", r.credentials[0].subject?.name === "Ada" && !("grade" in (r.credentials[0].subject || {})));
  await cv("presentation, wrong challenge", "invalid", vpOk, await node(), { challenge: "c2", domain: "d.example" });
  await cv("presentation, credential revoked", "revoked", vpOk, await node({ set: [42] }), { challenge: "c1", domain: "d.example" });
  await cv("presentation, a disclosure changed after signing", "invalid", { ...vpOk, disclosures: [dGrade] }, await node());
  await cv("presentation, a forged disclosure", "invalid", await present([disclosure("name", "Eve")]), await node(), {}, "tampered_disclosure");
  const revealCode = async (ds) => vc.reveal(subject, ds).then(() => "ok", (e) => e.code);
  check("reveal: a forged disclosure is tampered_disclosure", (await revealCode([disclosure("name", "Eve")])) === "tampered_disclosure");
  check("reveal: a disclosure twice is duplicate_disclosure", (await revealCode([dGrade, dGrade])) === "duplicate_disclosure");
  check("reveal: not base64url JCS is malformed_disclosure", (await revealCode([b64url(enc.encode('["s", "name", 1]'))])) === "malformed_disclosure");
  check("reveal: both disclosures restore both claims", (await vc.reveal(subject, [dName, dGrade])).grade === "A");
  await cv("presentation, a disclosure twice", "invalid", await present([dName, dName]), await node(), {}, "duplicate_disclosure");
  const other = await party();
  const stolen = await sign(
    { "@context": ["https://www.w3.org/ns/credentials/v2"], type: ["VerifiablePresentation"], holder: other.did, verifiableCredential: [cred] },
    other,
    "authentication",
  );
  await cv("presentation by someone who is not the subject", "invalid", stolen, await node());

  // verifiableCredential is a list of 1 to 16 (trellis/vc/verifier.py): anything else is malformed, signed or not.
  const vpWith = (creds) =>
    sign(
      {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        type: ["VerifiablePresentation"],
        holder: holder.did,
        ...(creds === undefined ? {} : { verifiableCredential: creds }),
      },
      holder,
      "authentication",
    );
  await cv("presentation, verifiableCredential a single object", "invalid", await vpWith(cred), await node(), {}, "malformed");
  await cv("presentation, verifiableCredential missing", "invalid", await vpWith(undefined), await node(), {}, "malformed");
  await cv("presentation, verifiableCredential empty", "invalid", await vpWith([]), await node(), {}, "malformed");
  await cv("presentation, 17 credentials", "invalid", await vpWith(Array(17).fill(cred)), await node(), {}, "malformed");
  await cv("presentation, 16 credentials", "valid", await vpWith(Array(16).fill(cred)), await node());

  // proofPurpose: an issuer's proof must be assertionMethod (did:key resolves every purpose, so only this check
  // refuses a credential signed for authentication).
  await cv("a credential proof with proofPurpose authentication", "invalid", await sign(unsignedCred, issuer, "authentication"), await node(), {}, "wrong_proof_purpose");

  // A did:trellis issuer, resolved through the stand-in node's /1.0/identifiers: the key must be listed under the
  // proof's purpose, and a deactivated DID (metadata flag, or the resolver's 410) is refused.
  const tk = await party();
  const tDid = "did:trellis:0x00112233445566778899aabbccddeeff00112233";
  const tVm = `${tDid}#key-1`;
  const tIssuer = { kp: tk.kp, did: tDid, vm: tVm };
  const { credentialStatus: _noStatus, ...noStatus } = unsignedCred;
  const tSigned = await sign({ ...noStatus, issuer: tDid }, tIssuer, "assertionMethod");
  const trellisNode = ({ purposes = ["assertionMethod", "authentication"], deactivated = false, gone = false } = {}) => async (path) => {
    if (path === "/v1/issuers") return { issuers: [{ did: tDid, types: ["UniversityDegreeCredential"], controller: "0x00", updated_height: 1 }], height: 3 };
    if (path.startsWith(`/1.0/identifiers/${encodeURIComponent(tDid)}`)) {
      if (gone) throw Object.assign(new Error("gone"), { status: 410, detail: "deactivated" });
      const doc = {
        id: tDid,
        verificationMethod: [{ id: tVm, type: "Multikey", controller: tDid, publicKeyMultibase: tk.did.slice("did:key:".length) }],
      };
      for (const p of purposes) doc[p] = [tVm];
      return { didDocument: doc, didDocumentMetadata: deactivated ? { deactivated: true } : {} };
    }
    throw Object.assign(new Error("not found"), { status: 404, detail: path });
  };
  await cv("did:trellis issuer, key under assertionMethod", "valid", tSigned, trellisNode());
  await cv(
    "did:trellis issuer, key only under authentication",
    "invalid",
    tSigned,
    trellisNode({ purposes: ["authentication"] }),
    {},
    "key_not_authorised",
  );
  await cv("did:trellis issuer deactivated (metadata)", "invalid", tSigned, trellisNode({ deactivated: true }), {}, "did_deactivated");
  await cv("did:trellis issuer deactivated (410)", "invalid", tSigned, trellisNode({ gone: true }), {}, "did_deactivated");
}

// --- api.hexText: bidi controls are shown escaped, not applied ---------------------------------------------
{
  const api = await import(join(staticDir, "api.js"));
  const asHex = (t) => "0x" + hex(new TextEncoder().encode(t));
  check("hexText shows printable UTF-8 as text", api.hexText(asHex("invoice é")) === "invoice é");
  check(
    "hexText escapes bidi controls (U+202E, U+2066)",
    api.hexText(asHex("pay \u202eusd 01\u2066x")) === "pay \\u{202e}usd 01\\u{2066}x",
    api.hexText(asHex("pay \u202eusd 01\u2066x")),
  );
  check("hexText shows control bytes as hex", api.hexText("0x0001") === "0x0001");
}

// --- the verify view's verdicts (verify.js, no DOM at import) ---------------------------------------------
{
  const verify = await import(join(staticDir, "verify.js"));
  const g = "ab".repeat(32);
  check("a verified receipt on the pinned chain is valid", verify.pinnedStatus("valid", g, g) === "valid");
  check("a verified receipt with no pin is valid_unpinned", verify.pinnedStatus("valid", g, null) === "valid_unpinned");
  check("a verified receipt on another chain than the pinned is valid_unpinned", verify.pinnedStatus("valid", g, "cd".repeat(32)) === "valid_unpinned");
  check("a failed check stays the failed check", verify.pinnedStatus("file_digest", g, g) === "file_digest");
  const now = Date.parse("2026-06-01T00:00:00Z");
  check("block time 4 min behind: no clock warning", verify.clockSkewMs(now - 4 * 60000, now) === 0);
  check("block time 6 min behind: a clock warning", verify.clockSkewMs(now - 6 * 60000, now) === 6 * 60000);
  check("block time 6 min ahead: a clock warning", verify.clockSkewMs(now + 6 * 60000, now) === -6 * 60000);
  check("claims: bidi controls escaped", verify.escapeBidi("a\u202eb\u2069") === "a\\u{202e}b\\u{2069}");
}

console.log(`${passes} passed, ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
