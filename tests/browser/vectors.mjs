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

console.log(`${passes} passed, ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
