// The Verify view (#/verify, ADR 0017 section 2): a file is hashed in the browser (never uploaded) and its
// notarization receipt checked entirely in JS (receipt.js) against the chain's genesis, whose hash is computed
// here and shown; a credential or presentation is checked by vc.js. `#/verify?digest=<hex>` re-runs the lookup.

import { loadGenesis, verifyReceipt, toHex, fromHex } from "./receipt.js";
import { verifyDocument } from "./vc.js";

const MAX_FILE_BYTES = 1024 * 1024 * 1024; // hashed in memory: refuse more than 1 GiB
const MAX_JSON_BYTES = 16 * 1024 * 1024;

function readBytes(file) {
  return file.arrayBuffer().then((b) => new Uint8Array(b));
}

/** A drop zone around a file input: calls onFile(file) for a dropped or chosen file. */
function dropZone(api, testid, label, onFile) {
  const input = api.el("input", { type: "file", "data-testid": `${testid}-input` });
  input.addEventListener("change", () => input.files && input.files[0] && onFile(input.files[0]));
  const zone = api.el(
    "div",
    { class: "panel dropzone", "data-testid": `${testid}-drop`, tabindex: "0" },
    api.el("div", { text: label }),
    input,
  );
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    const f = e.dataTransfer && e.dataTransfer.files && e.dataTransfer.files[0];
    if (f) onFile(f);
  });
  return zone;
}

export async function render(root, params, api) {
  const { el } = api;
  const signal = params.signal;
  let genesis = null; // loadGenesis() result
  let fileDigest = null; // Uint8Array
  let receiptBytes = null; // Uint8Array of a receipt file, or null: look up by digest

  const genesisBox = el("div", { class: "panel" }, api.loading("Reading the chain's genesis…"));
  const fileInfo = el("div", { class: "muted", "data-testid": "verify-file-info" });
  const receiptInfo = el("div", { class: "muted", "data-testid": "verify-receipt-info", text: "No receipt file: it is looked up by the file's digest." });
  const digestInput = el("input", { type: "text", size: "70", placeholder: "or a digest: 64 hex digits", "data-testid": "verify-digest-input" });
  const resultBox = el("div", { "data-testid": "verify-result-box" });
  const vcBox = el("div", { "data-testid": "vc-result-box" });
  const vcText = el("textarea", { rows: "6", cols: "80", placeholder: "or paste a credential / presentation (JSON)", "data-testid": "vc-text" });
  const challenge = el("input", { type: "text", placeholder: "challenge (presentations, optional)", "data-testid": "vc-challenge" });
  const domain = el("input", { type: "text", placeholder: "domain (presentations, optional)", "data-testid": "vc-domain" });

  async function ensureGenesis() {
    if (genesis) return genesis;
    const [text, status] = await Promise.all([api.getText("/v1/genesis", { signal }), api.get("/v1/status", { signal })]);
    const g = await loadGenesis(text);
    const computed = "0x" + toHex(g.genesisHash);
    const match = computed === status.genesis_hash;
    genesisBox.replaceChildren(
      el("h3", { text: "Chain" }),
      api.fields([
        ["chain id", g.chainId, "verify-chain-id"],
        ["suite", g.suite.name, "verify-suite"],
        ["genesis hash (computed in this browser)", el("span", { class: "hash", text: computed }), "verify-genesis-hash"],
        [
          "node's genesis hash",
          el("span", { class: match ? "badge ok" : "badge bad", text: match ? "matches" : `differs: ${status.genesis_hash}` }),
          "verify-genesis-match",
        ],
      ]),
      el("p", { class: "muted", text: "Receipts are checked against this genesis: compare its hash with the one you trust." }),
    );
    genesis = g;
    return g;
  }

  function showResult(res, digestHex) {
    const status = res.status;
    const valid = status === "valid";
    const share = digestHex ? `#/verify?digest=${digestHex}` : null;
    resultBox.replaceChildren(
      el(
        "div",
        { class: "panel", "data-testid": "verify-result", "data-status": status },
        el("h3", {}, el("span", { class: valid ? "badge ok" : "badge bad", text: valid ? "VALID" : `INVALID: ${status}` })),
        api.fields([
          ["check", valid ? "every check of receipt.md 4.3 passed" : status, "verify-check"],
          res.reason ? ["why", res.reason, "verify-reason"] : null,
          valid ? ["height", api.link(`block/${res.height}`, String(res.height)), "verify-height"] : null,
          valid ? ["time", new Date(res.time_ms).toISOString(), "verify-time"] : null,
          digestHex ? ["digest", el("span", { class: "hash", text: digestHex }), "verify-digest"] : null,
          share ? ["link", el("a", { href: share, "data-testid": "verify-share-link", text: "shareable link (digest only)" })] : null,
        ]),
      ),
    );
  }

  async function run(digestHex, receipt) {
    resultBox.replaceChildren(api.loading("Verifying…"));
    try {
      const g = await ensureGenesis();
      let input = receipt;
      if (!input) {
        try {
          input = await api.getText(`/v1/notary/receipts/${digestHex}`, { signal });
        } catch (err) {
          if (err && err.status === 404) {
            resultBox.replaceChildren(
              el("div", { class: "panel", "data-testid": "verify-result", "data-status": "not_anchored" },
                el("span", { class: "badge bad", text: "NOT ANCHORED" }),
                el("p", { text: `No anchoring of ${digestHex} on this chain.` })),
            );
            return;
          }
          throw err;
        }
      }
      const res = await verifyReceipt(input, g, fileDigest ?? (digestHex ? fromHex(digestHex) : null));
      showResult(res, res.digest ?? digestHex);
    } catch (err) {
      if (signal && signal.aborted) return;
      resultBox.replaceChildren(api.errorBox(err));
    }
  }

  const fileZone = dropZone(api, "verify-file", "Drop a file here (hashed in this browser, never uploaded), or choose one:", async (file) => {
    if (file.size > MAX_FILE_BYTES) {
      fileInfo.textContent = "The file is larger than 1 GiB: hash it with `trellis notary verify` instead.";
      return;
    }
    try {
      const g = await ensureGenesis();
      fileDigest = await g.suite.hash(await readBytes(file));
      const hex = toHex(fileDigest);
      fileInfo.replaceChildren(`${file.name}: ${file.size} bytes, ${g.suite.alg} `, el("span", { class: "hash", "data-testid": "verify-file-digest", text: hex }));
      digestInput.value = hex;
      history.replaceState(null, "", `#/verify?digest=${hex}`); // the shareable URL (the digest only)
      await run(hex, receiptBytes);
    } catch (err) {
      fileInfo.replaceChildren(api.errorBox(err));
    }
  });
  const receiptZone = dropZone(api, "verify-receipt", "Optionally, its receipt (FILE.receipt.json or .msgpack):", async (file) => {
    if (file.size > MAX_JSON_BYTES) {
      receiptInfo.textContent = "A receipt is at most 16 MiB.";
      return;
    }
    receiptBytes = await readBytes(file);
    receiptInfo.textContent = `${file.name}: ${file.size} bytes`;
    if (fileDigest) await run(toHex(fileDigest), receiptBytes);
  });
  const digestButton = el("button", {
    type: "button",
    "data-testid": "verify-digest-button",
    text: "Verify",
    onclick: () => {
      const hex = api.normHex(digestInput.value, 64);
      if (!hex && !receiptBytes) {
        resultBox.replaceChildren(api.errorBox({ code: "bad_digest", detail: "a digest is 64 hex digits" }));
        return;
      }
      if (hex) history.replaceState(null, "", `#/verify?digest=${hex}`); // the shareable URL, no re-render
      if (!fileDigest || (hex && hex !== toHex(fileDigest))) fileDigest = null;
      run(hex, receiptBytes);
    },
  });

  async function runVc(text) {
    vcBox.replaceChildren(api.loading("Verifying…"));
    let doc;
    try {
      if (text.length > MAX_JSON_BYTES) throw new Error("more than 16 MiB");
      doc = JSON.parse(text);
    } catch (err) {
      vcBox.replaceChildren(
        el("div", { class: "panel", "data-testid": "vc-result", "data-status": "invalid" },
          el("span", { class: "badge bad", text: "INVALID" }),
          el("div", { "data-testid": "vc-check", "data-check": "format", "data-ok": "false", "data-code": "malformed", text: `format: not JSON (${err.message})` })),
      );
      return;
    }
    try {
      const status = await api.get("/v1/status", { signal });
      const now = typeof status.time_ms === "number" && status.time_ms > 0 ? status.time_ms : Date.now();
      const opts = { now };
      if (challenge.value) opts.challenge = challenge.value;
      if (domain.value) opts.domain = domain.value;
      const get = (path) => api.get(path, { signal });
      const res = await verifyDocument(doc, get, opts);
      const rows = [];
      const row = (prefix, c) =>
        el("tr", { "data-testid": "vc-check", "data-check": c.check, "data-ok": String(c.ok), "data-code": c.code || "" },
          el("td", { text: prefix + c.check }),
          el("td", {}, el("span", { class: c.ok ? "badge ok" : "badge bad", text: c.ok ? "pass" : `fail: ${c.code}` })),
          el("td", { text: c.detail || "" }));
      for (const c of res.checks) rows.push(row(res.kind === "presentation" ? "presentation " : "", c));
      (res.credentials || []).forEach((cr, i) => {
        for (const c of cr.checks) rows.push(row(`credential ${i + 1} `, c));
      });
      vcBox.replaceChildren(
        el("div", { class: "panel", "data-testid": "vc-result", "data-status": res.status, "data-kind": res.kind },
          el("h3", {}, el("span", { class: res.status === "valid" ? "badge ok" : "badge bad", text: res.status.toUpperCase() }), ` ${res.kind}`),
          el("p", { class: "muted", text: `Validity judged at the latest block's time, ${new Date(now).toISOString()}.` }),
          el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, el("tr", {}, el("th", { text: "check" }), el("th", { text: "result" }), el("th", { text: "detail" }))), el("tbody", {}, rows)))),
      );
    } catch (err) {
      if (signal && signal.aborted) return;
      vcBox.replaceChildren(api.errorBox(err));
    }
  }
  const vcZone = dropZone(api, "vc", "Drop a credential or presentation (JSON), or choose one:", async (file) => {
    if (file.size > MAX_JSON_BYTES) {
      vcBox.replaceChildren(api.errorBox({ code: "too_large", detail: "at most 16 MiB" }));
      return;
    }
    const text = await file.text();
    vcText.value = text;
    await runVc(text);
  });

  root.replaceChildren(
    el("h2", { text: "Verify" }),
    genesisBox,
    el("h3", { text: "A notarized file" }),
    fileZone,
    fileInfo,
    receiptZone,
    receiptInfo,
    el("div", { class: "panel" }, digestInput, " ", digestButton),
    resultBox,
    el("h3", { text: "A credential or presentation" }),
    vcZone,
    el("div", { class: "panel" }, vcText, el("div", {}, challenge, " ", domain, " ",
      el("button", { type: "button", "data-testid": "vc-verify-button", text: "Verify", onclick: () => runVc(vcText.value) }))),
    vcBox,
  );

  try {
    await ensureGenesis();
  } catch (err) {
    if (!(signal && signal.aborted)) genesisBox.replaceChildren(api.errorBox(err));
  }
  const q = params.query && params.query.digest ? api.normHex(params.query.digest, 64) : null;
  if (q) {
    digestInput.value = q;
    await run(q, null);
  } else if (params.query && params.query.digest) {
    resultBox.replaceChildren(api.errorBox({ code: "bad_digest", detail: "the link's digest is not 64 hex digits" }));
  }
}
