// The Identity views (ADR 0017): #/identity (resolve a DID, the issuer registry, open a status list),
// #/did/<did> (document, versions, the resolver's state proof), #/status-list/<id> (size, purpose, set bits,
// look up an index). Status-list bits are decoded in the browser (vc.js).

import { decodeStatusList, statusBit, countSetBits } from "./vc.js";

const MAX_VERSIONS_SHOWN = 20;
const DID_RE = /^did:[a-z0-9]+:[A-Za-z0-9._:%-]+$/;
const LIST_RE = /^[A-Za-z0-9._-]{1,64}$/;

function pre(api, value, testid) {
  return api.el("pre", { class: "panel", "data-testid": testid, text: JSON.stringify(value, null, 2) });
}

/** #/identity */
export async function render(root, params, api) {
  const { el } = api;
  const didInput = el("input", { type: "text", size: "70", placeholder: "did:trellis:…", "data-testid": "did-input" });
  const listInput = el("input", { type: "text", size: "40", placeholder: "status list id", "data-testid": "status-list-input" });
  const go = (route) => {
    location.hash = `#/${route}`;
  };
  const didForm = el(
    "form",
    {
      class: "panel",
      "data-testid": "did-form",
      onsubmit: (e) => {
        e.preventDefault();
        const did = didInput.value.trim();
        if (DID_RE.test(did)) go(`did/${did}`);
        else didForm.append(api.errorBox({ code: "invalidDid", detail: "a DID is did:<method>:<id>" }));
      },
    },
    el("label", { text: "Resolve a DID " }),
    didInput,
    " ",
    el("button", { type: "submit", "data-testid": "did-resolve-button", text: "Resolve" }),
  );
  const listForm = el(
    "form",
    {
      class: "panel",
      "data-testid": "status-list-form",
      onsubmit: (e) => {
        e.preventDefault();
        const id = listInput.value.trim();
        if (LIST_RE.test(id)) go(`status-list/${encodeURIComponent(id)}`);
        else listForm.append(api.errorBox({ code: "bad_list_id", detail: "1 to 64 of A-Z a-z 0-9 . _ -" }));
      },
    },
    el("label", { text: "Open a status list " }),
    listInput,
    " ",
    el("button", { type: "submit", "data-testid": "status-list-button", text: "Open" }),
  );
  const registry = el("div", {}, api.loading("Reading the issuer registry…"));
  root.replaceChildren(el("h2", { text: "Identity" }), didForm, listForm, el("h3", { text: "Issuer registry" }), registry);
  try {
    const reg = await api.get("/v1/issuers", { signal: params.signal });
    registry.replaceChildren(
      el("p", { class: "muted", text: `At height ${reg.height}. Changed only by the genesis governance address.` }),
      api.table(
        ["issuer", "types", "controller", "updated at"],
        (reg.issuers || []).map((i) => ({
          attrs: { "data-testid": "issuer-row", "data-did": i.did },
          cells: [
            api.link(`did/${i.did}`, i.did),
            i.types.join(", "),
            el("span", { class: "hash", text: i.controller }),
            api.link(`block/${i.updated_height}`, String(i.updated_height)),
          ],
        })),
        "No registered issuer.",
      ),
    );
  } catch (err) {
    if (!params.signal.aborted) registry.replaceChildren(api.errorBox(err));
  }
}

/** #/did/<did> */
export async function renderDid(root, params, api) {
  const { el } = api;
  const did = params.path.join("/");
  const signal = params.signal;
  root.replaceChildren(el("h2", {}, "DID ", el("span", { class: "hash", "data-testid": "did-id", text: did })), api.loading());
  if (!DID_RE.test(did)) {
    root.replaceChildren(el("h2", { text: "DID" }), api.errorBox({ code: "invalidDid", detail: `${did} is not a DID` }));
    return;
  }
  const base = `/1.0/identifiers/${encodeURIComponent(did)}`;
  let res;
  try {
    res = await api.get(base, { signal });
  } catch (err) {
    if (signal.aborted) return;
    // 410: deactivated; the resolution result still carries the metadata
    root.replaceChildren(el("h2", { text: `DID ${did}` }), api.errorBox(err));
    return;
  }
  const meta = res.didDocumentMetadata || {};
  const current = Number(meta.versionId || 1);
  const versionsBox = el("div", {}, api.loading("Reading the versions…"));
  const proofBox = el("div", {});
  root.replaceChildren(
    el("h2", {}, "DID ", el("span", { class: "hash", "data-testid": "did-id", text: did })),
    api.fields([
      ["status", el("span", { class: meta.deactivated ? "badge bad" : "badge ok", text: meta.deactivated ? "deactivated" : "active" }), "did-status"],
      ["version", String(current), "did-version"],
      ["created", meta.created || "", "did-created"],
      ["updated", meta.updated || "—", "did-updated"],
    ]),
    el("h3", { text: "Document" }),
    pre(api, res.didDocument, "did-document"),
    el("h3", { text: "Versions" }),
    versionsBox,
    el("h3", { text: "Proof" }),
    proofBox,
  );
  const rows = [];
  const first = Math.max(1, current - MAX_VERSIONS_SHOWN + 1);
  for (let v = current; v >= first; v--) {
    try {
      const r = v === current ? res : await api.get(`${base}?versionId=${v}`, { signal });
      const m = r.didDocumentMetadata || {};
      const doc = r.didDocument || {};
      rows.push({
        attrs: { "data-testid": "did-version-row", "data-version": String(v) },
        cells: [
          String(v),
          m.updated || m.created || "",
          String((doc.verificationMethod || []).length),
          (doc.verificationMethod || []).map((k) => el("div", { class: "hash", text: `${k.id.split("#")[1] || k.id}: ${k.publicKeyMultibase}` })),
        ],
      });
    } catch (err) {
      if (signal.aborted) return;
      rows.push({ attrs: { "data-testid": "did-version-row", "data-version": String(v) }, cells: [String(v), api.errorBox(err), "", ""] });
    }
  }
  versionsBox.replaceChildren(
    api.table(["version", "from", "keys", "verification methods"], rows),
    first > 1 ? el("p", { class: "muted", text: `Versions 1 to ${first - 1} not shown.` }) : null,
  );
  proofBox.replaceChildren(
    el("button", {
      type: "button",
      "data-testid": "did-proof-button",
      text: "Ask the node for the state proof",
      onclick: async () => {
        proofBox.replaceChildren(api.loading());
        try {
          const p = await api.get(`${base}?proof=true`, { signal });
          const sp = p.didStateProof || {};
          proofBox.replaceChildren(
            el(
              "div",
              { "data-testid": "did-proof", "data-height": String(sp.height ?? "") },
              el("p", {
                class: "muted",
                text: `State proof at height ${sp.height ?? "?"}: ${(sp.entries || []).length} keys read with proofs against the header's state root (shown as given; check it with \`trellis did resolve DID --proof\`).`,
              }),
              pre(api, sp, "did-proof-json"),
            ),
          );
        } catch (err) {
          if (!signal.aborted) proofBox.replaceChildren(api.errorBox(err));
        }
      },
    }),
  );
}

/** #/status-list/<id> */
export async function renderStatusList(root, params, api) {
  const { el } = api;
  const id = params.path.join("/");
  const signal = params.signal;
  root.replaceChildren(el("h2", { text: `Status list ${id}` }), api.loading());
  if (!LIST_RE.test(id)) {
    root.replaceChildren(el("h2", { text: "Status list" }), api.errorBox({ code: "bad_list_id", detail: "1 to 64 of A-Z a-z 0-9 . _ -" }));
    return;
  }
  let list;
  let bits;
  try {
    list = await api.get(`/v1/status-lists/${encodeURIComponent(id)}`, { signal });
    bits = await decodeStatusList(list.credentialSubject.encodedList);
  } catch (err) {
    if (!signal.aborted) root.replaceChildren(el("h2", { text: `Status list ${id}` }), api.errorBox(err));
    return;
  }
  const t = list.trellis || {};
  const size = bits.length * 8;
  const indexInput = el("input", { type: "number", min: "0", max: String(size - 1), "data-testid": "status-index-input" });
  const indexResult = el("div", { "data-testid": "status-index-result" });
  const lookup = (e) => {
    if (e) e.preventDefault();
    const raw = indexInput.value.trim();
    if (!/^(0|[1-9][0-9]*)$/.test(raw) || Number(raw) >= size) {
      indexResult.replaceChildren(api.errorBox({ code: "status_index_out_of_range", detail: `an index is 0 to ${size - 1}` }));
      indexResult.removeAttribute("data-set");
      return;
    }
    const set = statusBit(bits, Number(raw));
    indexResult.setAttribute("data-set", String(set));
    indexResult.setAttribute("data-index", raw);
    const word = list.credentialSubject.statusPurpose === "suspension" ? "suspended" : "revoked";
    indexResult.replaceChildren(
      el("span", { class: set ? "badge bad" : "badge ok", text: set ? `index ${raw}: set (${word})` : `index ${raw}: clear` }),
    );
  };
  root.replaceChildren(
    el("h2", { text: `Status list ${id}` }),
    api.fields([
      ["issuer", api.link(`did/${list.issuer}`, list.issuer), "status-list-issuer"],
      ["purpose", list.credentialSubject.statusPurpose, "status-list-purpose"],
      ["size", String(size), "status-list-size"],
      ["set bits", String(countSetBits(bits)), "status-list-set-count"],
      ["version", String(t.version ?? ""), "status-list-version"],
      ["created / updated at", `${t.createdHeight ?? "?"} / ${t.updatedHeight ?? "?"}`],
      ["read at height", String(list.height ?? ""), "status-list-height"],
    ]),
    el(
      "form",
      { class: "panel", "data-testid": "status-index-form", onsubmit: lookup },
      el("label", { text: "Look up an index " }),
      indexInput,
      " ",
      el("button", { type: "submit", "data-testid": "status-index-button", text: "Look up" }),
    ),
    indexResult,
    el("p", { class: "muted", text: "The bits are decoded in this browser from the list's encodedList (base64url, GZIP)." }),
  );
  if (params.query && params.query.index) {
    indexInput.value = params.query.index;
    lookup();
  }
}
