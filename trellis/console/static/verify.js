// The Verify view (#/verify, ADR 0017 section 2): a file is hashed in the browser (never uploaded) and its
// notarization receipt checked entirely in JS (receipt.js) against the chain's genesis, whose hash is computed
// here and shown; a credential or presentation is checked by vc.js. `#/verify?digest=<hex>&genesis=<hex>` re-runs
// the lookup.
//
// A receipt proves an anchoring on the chain of a genesis, and anyone can make a chain (`trellis init`): a receipt
// is VALID (data-status "valid") only when that genesis's hash is the one the user pinned (typed, or read from a
// genesis.json they hold; kept in localStorage; a share link carries it as &genesis=). Otherwise a verified
// receipt is "valid_unpinned", shown as such. Credential checks trust the serving node (vc.js).

import { loadGenesis, verifyReceipt, toHex, fromHex } from "./receipt.js";
import { verifyDocument } from "./vc.js";

const MAX_FILE_BYTES = 1024 * 1024 * 1024; // hashed in memory: refuse more than 1 GiB
const MAX_JSON_BYTES = 16 * 1024 * 1024;

/** The localStorage key of the pinned (trusted) genesis hash: 64 lower-case hex digits. */
export const PIN_KEY = "trellis.console.trustedGenesis";
/** Validity is judged at the node's latest block time: a warning when it is further than this from the browser's. */
export const CLOCK_SLACK_MS = 5 * 60 * 1000;

/** The status shown for a receipt result: "valid" only when the genesis it verified against is the pinned one. */
export function pinnedStatus(status, genesisHex, pinnedHex) {
  if (status !== "valid") return status;
  return pinnedHex && genesisHex && pinnedHex === genesisHex ? "valid" : "valid_unpinned";
}

/** How far (ms) the node's block time is behind (> 0) or ahead (< 0) of the browser's clock, when that is more
 * than CLOCK_SLACK_MS; 0 otherwise. */
export function clockSkewMs(blockTimeMs, nowMs) {
  const lag = nowMs - blockTimeMs;
  return Math.abs(lag) > CLOCK_SLACK_MS ? lag : 0;
}

/** Bidi embedding/override/isolate controls shown escaped (\u{202e}) so a claim cannot reorder what is around it. */
export function escapeBidi(text) {
  return String(text).replace(/[\u202a-\u202e\u2066-\u2069]/gu, (c) => `\\u{${c.codePointAt(0).toString(16)}}`);
}

function minutes(ms) {
  const m = Math.round(Math.abs(ms) / 60000);
  return m < 120 ? `${m} min` : `${Math.round(m / 60)} h`;
}

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
  let last = null; // [res, digestHex] of the last receipt check: shown again when the pin changes

  // The pinned genesis hash: the user's own (localStorage), else the one a share link carries (not saved).
  const readStored = () => {
    try {
      return api.normHex(localStorage.getItem(PIN_KEY) || "", 64);
    } catch (_) {
      return null; // storage disabled: pin for this page only
    }
  };
  const linkPin = params.query && params.query.genesis ? api.normHex(params.query.genesis, 64) : null;
  let pin = readStored();
  let pinSource = pin ? "saved in this browser" : null;
  if (!pin && linkPin) {
    pin = linkPin;
    pinSource = "from the link you opened (not saved)";
  }
  const shareHash = (hex) => `#/verify?digest=${hex}${pin ? `&genesis=${pin}` : ""}`;

  const genesisBox = el("div", { class: "panel" }, api.loading("Reading the chain's genesis…"));
  const pinState = el("div", { "data-testid": "verify-pin-state" });
  const pinMessage = el("div", { class: "muted", "data-testid": "verify-pin-message" });
  const pinInput = el("input", { type: "text", size: "70", placeholder: "trusted genesis hash: 0x + 64 hex digits", "data-testid": "verify-pin-input" });
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
    );
    genesis = g;
    showPin();
    return g;
  }

  function showPin() {
    const computed = genesis ? toHex(genesis.genesisHash) : null;
    const state = !pin ? "none" : computed === null ? "pinned" : pin === computed ? "match" : "mismatch";
    const text = {
      none: "No genesis pinned: a receipt can only be shown valid on an unpinned chain.",
      pinned: `Pinned: 0x${pin} (${pinSource}).`,
      match: `Pinned: 0x${pin} (${pinSource}): this node's chain is the pinned one.`,
      mismatch: `Pinned: 0x${pin} (${pinSource}): this node's chain (0x${computed}) is NOT the pinned one.`,
    }[state];
    const parts = [el("span", { class: state === "match" ? "badge ok" : "badge warn", "data-state": state, "data-pin": pin || "", text })];
    if (linkPin && linkPin !== pin) {
      parts.push(el("div", { class: "warning", text: `The link you opened names genesis 0x${linkPin}, which is not the one you pinned.` }));
    }
    pinState.replaceChildren(...parts);
    if (last) showResult(...last);
  }

  function setPin(hex, source) {
    pin = hex;
    pinSource = hex ? source : null;
    try {
      if (hex) localStorage.setItem(PIN_KEY, hex);
      else localStorage.removeItem(PIN_KEY);
    } catch (_) {
      pinSource = hex ? `${source}, for this page only (storage is disabled)` : null;
    }
    pinMessage.textContent = hex ? "" : "The pin is forgotten.";
    showPin();
  }

  const pinBox = el(
    "div",
    { class: "panel", "data-testid": "verify-pin" },
    el("h3", { text: "Trusted genesis" }),
    el("p", {
      text:
        "Anyone can start a chain and notarize on it. A receipt is VALID only on the chain whose genesis hash you pin " +
        "here: get it from the network's operator (or its genesis.json) by a channel you trust, not from this page.",
    }),
    pinState,
    el("div", {}, pinInput, " ",
      el("button", {
        type: "button",
        "data-testid": "verify-pin-button",
        text: "Pin",
        onclick: () => {
          const hex = api.normHex(pinInput.value, 64);
          if (!hex) pinMessage.textContent = "A genesis hash is 64 hex digits (0x optional).";
          else setPin(hex, "saved in this browser");
        },
      }), " ",
      el("button", { type: "button", "data-testid": "verify-pin-clear", text: "Forget", onclick: () => setPin(null, null) })),
    dropZone(api, "verify-pin-genesis", "Or pin the hash of a genesis.json you hold (read in this browser):", async (file) => {
      try {
        if (file.size > MAX_JSON_BYTES) throw new Error("a genesis file is at most 16 MiB");
        const g = await loadGenesis(await file.text());
        setPin(toHex(g.genesisHash), `from ${file.name}, saved in this browser`);
      } catch (err) {
        pinMessage.textContent = `Not pinned: ${file.name} is not a genesis (${err && err.message ? err.message : err}).`;
      }
    }),
    pinMessage,
  );

  function showResult(res, digestHex) {
    last = [res, digestHex];
    const computed = genesis ? toHex(genesis.genesisHash) : null;
    const status = pinnedStatus(res.status, computed, pin);
    const verified = res.status === "valid"; // every check passed, pinned or not
    const valid = status === "valid";
    const share = digestHex ? shareHash(digestHex) : null;
    const headline = valid
      ? el("span", { class: "badge ok", text: "VALID" })
      : verified
        ? el("span", { class: "badge warn", text: "VALID ON A CHAIN YOU HAVE NOT PINNED" })
        : el("span", { class: "badge bad", text: `INVALID: ${status}` });
    const unpinned = verified && !valid
      ? el(
          "div",
          { class: "warning", role: "alert", "data-testid": "verify-unpinned" },
          el("strong", {
            text: pin
              ? `Valid on chain 0x${computed}, which is NOT the chain you pinned (0x${pin}).`
              : `Valid on chain 0x${computed}, which you have not pinned.`,
          }),
          el("div", {
            text: "Anyone can make a chain and anchor this file on it: this says nothing about the network you trust until you pin its genesis hash (above).",
          }),
        )
      : null;
    resultBox.replaceChildren(
      el(
        "div",
        { class: "panel", "data-testid": "verify-result", "data-status": status },
        el("h3", {}, headline),
        unpinned,
        api.fields([
          [
            "check",
            valid ? "every check of receipt.md 4.3 passed, on the pinned chain" : verified ? "every check of receipt.md 4.3 passed, on an unpinned chain" : status,
            "verify-check",
          ],
          res.reason ? ["why", res.reason, "verify-reason"] : null,
          verified ? ["chain (genesis hash)", el("span", { class: "hash", text: `0x${computed}` }), "verify-chain"] : null,
          verified ? ["height", api.link(`block/${res.height}`, String(res.height)), "verify-height"] : null,
          verified ? ["time", new Date(res.time_ms).toISOString(), "verify-time"] : null,
          digestHex ? ["digest", el("span", { class: "hash", text: digestHex }), "verify-digest"] : null,
          share
            ? ["link", el("a", { href: share, "data-testid": "verify-share-link", text: pin ? "shareable link (digest and pinned genesis)" : "shareable link (digest only)" })]
            : null,
        ]),
      ),
    );
  }

  async function run(digestHex, receipt) {
    last = null;
    resultBox.replaceChildren(api.loading("Verifying…"));
    try {
      const g = await ensureGenesis();
      let input = receipt;
      if (!input) {
        try {
          input = await api.getText(`/v1/notary/receipts/${digestHex}`, { signal });
        } catch (err) {
          if (err && err.status === 404) {
            last = null;
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
      history.replaceState(null, "", shareHash(hex)); // the shareable URL (the digest, the pinned genesis)
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
      if (hex) history.replaceState(null, "", shareHash(hex)); // the shareable URL, no re-render
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
      const skew = typeof status.time_ms === "number" && status.time_ms > 0 ? clockSkewMs(status.time_ms, Date.now()) : 0;
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
      // What was verified: the subject's claims as the issuer signed them (disclosed claims restored from their
      // signed digests by vc.js), never the pasted text.
      const subjects = res.kind === "presentation" ? (res.credentials || []).map((c) => [c.subject, c.status]) : [[res.subject, res.status]];
      const claims = subjects.map(([subject, st], i) => {
        const label = res.kind === "presentation" ? `Credential ${i + 1}` : "Credential";
        const head = st === "valid" ? `${label}: the verified claims` : `${label}: claims NOT verified (${st})`;
        const claimRows = subject
          ? Object.entries(subject).map(([name, value]) =>
              el("tr", { "data-testid": "vc-claim", "data-name": name },
                el("td", { text: escapeBidi(name) }),
                el("td", { class: typeof value === "string" ? "" : "mono", text: escapeBidi(typeof value === "string" ? value : JSON.stringify(value)) })))
          : [];
        return el("div", { class: "panel", "data-testid": "vc-subject", "data-credential": String(i + 1), "data-status": st },
          el("h4", { text: head }),
          claimRows.length
            ? el("div", { class: "table-wrap" }, el("table", {}, el("tbody", {}, claimRows)))
            : el("p", { class: "muted", text: "No claims could be read from this credential." }));
      });
      const warnings = [];
      if (skew > 0) {
        warnings.push(el("div", { class: "warning", role: "alert", "data-testid": "clock-warning", "data-skew-ms": String(skew) },
          `The node's latest block is ${minutes(skew)} old: validity, expiry and status are judged at that time (${new Date(now).toISOString()}), not now. A node that stopped (or is held back) can show a credential that expired or was revoked since as valid.`));
      } else if (skew < 0) {
        warnings.push(el("div", { class: "warning", role: "alert", "data-testid": "clock-warning", "data-skew-ms": String(skew) },
          `The node's latest block time is ${minutes(skew)} ahead of this computer's clock: validity is judged at ${new Date(now).toISOString()}.`));
      }
      if (res.kind === "presentation" && !challenge.value) {
        warnings.push(el("div", { class: "warning", role: "alert", "data-testid": "vc-challenge-warning" },
          "No challenge given: anyone who has seen this presentation can replay it. Give the holder a fresh challenge and enter it here."));
      }
      vcBox.replaceChildren(
        el("div", { class: "panel", "data-testid": "vc-result", "data-status": res.status, "data-kind": res.kind },
          el("h3", {}, el("span", { class: res.status === "valid" ? "badge ok" : "badge bad", text: res.status.toUpperCase() }), ` ${res.kind}`),
          warnings,
          claims,
          el("p", { class: "muted", text: `Validity judged at the latest block's time, ${new Date(now).toISOString()}.` }),
          el("p", { "data-testid": "vc-trust", text: "These checks trust the node serving this console for DID documents (the issuer's and holder's keys), the issuer registry, the status list bits and the time: use a node you trust." }),
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
    pinBox,
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
