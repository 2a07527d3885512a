// Explorer views: recent blocks (#/explorer), a block, a transaction, an account and a contract.

const RECENT = 20;
const TX_PAGE = 25;
const HISTORY_PAGE = 25;
const REFRESH_MS = 3000;

/** Run `fn` over `items`, at most `n` at a time; answers the results in order. */
async function limited(items, n, fn) {
  const out = new Array(items.length);
  for (let i = 0; i < items.length; i += n) {
    const got = await Promise.all(items.slice(i, i + n).map(fn));
    got.forEach((v, j) => (out[i + j] = v));
  }
  return out;
}

function codeBadge(api, code) {
  if (code === null || code === undefined) return api.el("span", { class: "muted", "data-testid": "receipt-code", text: "—" });
  return api.el("span", {
    class: code === 0 ? "code-ok" : "code-bad",
    "data-testid": "receipt-code",
    "data-code": code,
    text: code === 0 ? "0 ok" : String(code),
  });
}

function eventsList(api, events) {
  const { el, table } = api;
  if (!events || !events.length) return el("p", { class: "muted", text: "no events" });
  return el(
    "div",
    {},
    events.map((e) =>
      el(
        "div",
        { class: "event", "data-testid": "event-row", "data-type": e.type },
        el("div", { class: "type", text: e.type }),
        table(
          ["Attribute", "Value"],
          Object.entries(e.attributes || {}).map(([k, v]) => ({ cells: [k, el("span", { class: "mono", text: v })] })),
          "no attributes",
        ),
      ),
    ),
  );
}

function payloadBlock(api, tx) {
  return api.el("pre", { "data-testid": "tx-payload", text: JSON.stringify(tx.body.payload, null, 2) });
}

function payloadKind(payload) {
  if (payload && typeof payload === "object") {
    if (typeof payload.type === "string") return payload.type;
    const keys = Object.keys(payload);
    if (keys.length === 1) return keys[0];
  }
  return "";
}

function pager(api, base, next, after) {
  const { el, link } = api;
  return el(
    "div",
    { class: "pager" },
    after
      ? el("a", { href: "#", "data-testid": "pager-prev", onclick: (ev) => (ev.preventDefault(), history.back()) }, "← Previous")
      : null,
    after ? link(base, "First page", { "data-testid": "pager-first" }) : null,
    next ? link(`${base}?after=${encodeURIComponent(next)}`, "Next →", { "data-testid": "pager-next" }) : null,
  );
}

// -- #/explorer ------------------------------------------------------------------------------------------------
export async function render(root, params, api) {
  const { el, link, hexShort, fmtTime } = api;
  const { signal } = params;
  root.append(el("h1", { text: "Recent blocks" }), api.loading());
  const body = el("tbody");
  const shown = new Map(); // height -> row
  const problems = el("div");

  function row(b) {
    const h = b.header;
    return el(
      "tr",
      { "data-testid": "block-row", "data-height": h.height },
      el("td", {}, link(`block/${h.height}`, String(h.height))),
      el("td", { text: fmtTime(h.time_ms) }),
      el("td", { text: String(h.tx_count) }),
      el("td", {}, link(`account/${h.proposer.replace(/^0x/, "")}`, hexShort(h.proposer), { class: "hash", title: h.proposer })),
      el("td", {}, link(`block/${b.block_id.replace(/^0x/, "")}`, hexShort(b.block_id), { class: "hash", title: b.block_id })),
    );
  }

  async function load(tip) {
    const heights = [];
    for (let h = tip; h >= 1 && h > tip - RECENT; h--) if (!shown.has(h)) heights.push(h);
    const blocks = await limited(heights, 4, (h) => api.get(`/v1/blocks/${h}`, { signal }));
    for (const b of blocks) shown.set(b.header.height, row(b));
    const keep = [...shown.keys()].sort((a, b) => b - a).slice(0, RECENT);
    for (const h of [...shown.keys()]) if (!keep.includes(h)) shown.delete(h);
    body.replaceChildren(...keep.map((h) => shown.get(h)));
  }

  const st = await api.get("/v1/status", { signal });
  await load(st.height);
  root.querySelector('[data-testid="loading"]')?.remove();
  root.append(
    problems,
    st.height === 0
      ? el("p", { class: "muted", text: "no blocks yet" })
      : el(
          "div",
          { class: "table-wrap" },
          el(
            "table",
            { class: "nowrap" },
            el("thead", {}, el("tr", {}, ["Height", "Time", "Txs", "Proposer", "Block id"].map((t) => el("th", { text: t })))),
            body,
          ),
        ),
    el("p", { class: "muted", text: `the last ${RECENT} blocks, refreshed every ${REFRESH_MS / 1000} s` }),
  );
  let busy = false;
  const timer = setInterval(async () => {
    if (busy) return;
    busy = true;
    try {
      const now = await api.get("/v1/status", { signal });
      const newest = shown.size ? Math.max(...shown.keys()) : 0;
      if (now.height > newest) await load(now.height);
      problems.replaceChildren();
    } catch (err) {
      if (err.name !== "AbortError") problems.replaceChildren(api.errorBox(err));
    } finally {
      busy = false;
    }
  }, REFRESH_MS);
  return () => clearInterval(timer);
}

// -- #/block/<ref> ---------------------------------------------------------------------------------------------
export async function renderBlock(root, params, api) {
  const { el, link, fields, fmtTime } = api;
  const { signal } = params;
  const ref = params.path[0] || "latest";
  const page = Math.max(0, parseInt(params.query.page || "0", 10) || 0);
  root.append(el("h1", { text: `Block ${ref}` }), api.loading());
  const b = await api.get(`/v1/blocks/${encodeURIComponent(ref)}`, { signal });
  const h = b.header;
  const bare = (x) => String(x).replace(/^0x/, "");
  root.querySelector("h1").textContent = `Block ${h.height}`;
  root.querySelector('[data-testid="loading"]')?.remove();
  root.append(
    el(
      "div",
      { class: "pager" },
      h.height > 1 ? link(`block/${h.height - 1}`, "← Parent", { "data-testid": "block-prev" }) : null,
      link(`block/${h.height + 1}`, "Next →", { "data-testid": "block-next" }),
    ),
    fields([
      ["Height", String(h.height), "block-height"],
      ["Block id", b.block_id, "block-hash"],
      ["Time", `${fmtTime(h.time_ms)} (${h.time_ms})`, "block-time"],
      ["Chain id", h.chain_id],
      ["Proposer", link(`account/${bare(h.proposer)}`, h.proposer), "block-proposer"],
      ["Transactions", String(h.tx_count)],
      ["Parent hash", h.height > 1 ? link(`block/${bare(h.parent_hash)}`, h.parent_hash) : h.parent_hash],
      ["Tx root", h.tx_root],
      ["Results root", h.results_root],
      ["State root", h.state_root],
      ["Validators hash", h.validators_hash],
      ["Next validators hash", h.next_validators_hash],
      ["Commit", b.commit ? `round ${b.commit.round}, ${b.commit.signatures.length} signatures` : "not yet stored"],
    ]),
  );
  if (b.commit && b.commit.signatures.length) {
    root.append(
      el("h2", { text: "Commit signatures" }),
      api.table(
        ["Validator", "Signature"],
        b.commit.signatures.map((s) => ({
          cells: [el("span", { class: "hash", text: s.validator }), el("span", { class: "hash", text: api.hexShort(s.signature, 16) })],
        })),
      ),
    );
  }
  root.append(el("h2", { text: `Transactions (${b.txs.length})` }));
  const start = page * TX_PAGE;
  const txs = b.txs.slice(start, start + TX_PAGE);
  const statuses = await limited(txs, 4, (t) => api.get(`/v1/txs/${bare(t.hash)}`, { signal }).catch((e) => e));
  const list = el("div");
  txs.forEach((t, i) => {
    const st = statuses[i];
    const receipt = st instanceof Error ? null : st.receipt;
    list.append(
      el(
        "div",
        { class: "panel tx", "data-testid": "tx-row", "data-hash": bare(t.hash) },
        el(
          "div",
          {},
          el("strong", { text: `#${start + i} ` }),
          link(`tx/${bare(t.hash)}`, t.hash, { class: "hash" }),
          " ",
          el("span", { class: "badge", text: payloadKind(t.tx.body.payload) || "tx" }),
          " ",
          codeBadge(api, receipt ? receipt.code : null),
        ),
        fields([
          ["Sender (public key)", t.tx.body.sender],
          ["Nonce", String(t.tx.body.nonce)],
          t.tx.body.memo ? ["Memo", t.tx.body.memo] : null,
          receipt && receipt.message ? ["Message", receipt.message] : null,
          receipt ? ["Gas used", String(receipt.gas_used)] : null,
        ]),
        el("details", {}, el("summary", { text: "Payload" }), payloadBlock(api, t.tx)),
        st instanceof Error ? api.errorBox(st) : receipt ? el("details", { open: receipt.events.length <= 4 }, el("summary", { text: `Events (${receipt.events.length})` }), eventsList(api, receipt.events)) : null,
      ),
    );
  });
  root.append(list);
  if (b.txs.length > TX_PAGE) {
    const base = `block/${h.height}`;
    root.append(
      el(
        "div",
        { class: "pager" },
        page > 0 ? link(`${base}?page=${page - 1}`, "← Previous transactions", { "data-testid": "pager-prev" }) : null,
        start + TX_PAGE < b.txs.length ? link(`${base}?page=${page + 1}`, "More transactions →", { "data-testid": "pager-next" }) : null,
        el("span", { class: "muted", text: `${start + 1}–${start + txs.length} of ${b.txs.length}` }),
      ),
    );
  }
  if (!b.txs.length) root.append(el("p", { class: "muted", text: "no transactions in this block" }));
}

// -- #/tx/<hash> -----------------------------------------------------------------------------------------------
export async function renderTx(root, params, api) {
  const { el, link, fields } = api;
  const { signal } = params;
  const hash = api.normHex(params.path[0], 64);
  root.append(el("h1", { text: "Transaction" }));
  if (!hash) {
    root.append(api.errorBox({ code: "bad_hash", detail: "a transaction hash is 64 hex digits" }));
    return;
  }
  root.append(api.loading());
  const st = await api.get(`/v1/txs/${hash}`, { signal });
  root.querySelector('[data-testid="loading"]')?.remove();
  const r = st.receipt;
  const body = st.tx ? st.tx.body : null;
  const bare = (x) => String(x).replace(/^0x/, "");
  root.append(
    fields([
      ["Hash", st.hash, "tx-hash"],
      ["Status", el("span", { class: st.status === "committed" ? "badge ok" : "badge warn", text: st.status }), "tx-status"],
      ["Block", st.height !== null && st.height !== undefined ? link(`block/${st.height}`, String(st.height)) : null, "tx-height"],
      ["Index in block", st.index !== null && st.index !== undefined ? String(st.index) : null],
      body ? ["Chain id", body.chain_id] : null,
      body ? ["Sender (public key)", body.sender] : null,
      body ? ["Nonce", String(body.nonce)] : null,
      body && body.memo ? ["Memo", body.memo] : null,
      body ? ["Kind", payloadKind(body.payload) || "—"] : null,
      r ? ["Result code", codeBadge(api, r.code)] : null,
      r && r.message ? ["Message", r.message] : null,
      r ? ["Gas used", String(r.gas_used)] : null,
      r && r.data && r.data !== "0x" ? ["Result data", api.hexText(r.data)] : null,
      st.tx ? ["Signature", st.tx.signature] : null,
    ]),
  );
  if (st.tx) root.append(el("h2", { text: "Payload" }), payloadBlock(api, st.tx));
  if (r) root.append(el("h2", { text: `Events (${r.events.length})` }), eventsList(api, r.events));
  if (st.status !== "committed") {
    root.append(el("p", { class: "muted", text: "not committed yet: this page shows what the node knows now; reload to see it again" }));
  }
}

// -- #/account/<address> ---------------------------------------------------------------------------------------
export async function renderAccount(root, params, api) {
  const { el, link, fields } = api;
  const { signal } = params;
  const addr = api.normHex(params.path[0], 40);
  root.append(el("h1", { text: "Account" }));
  if (!addr) {
    root.append(api.errorBox({ code: "bad_address", detail: "an address is 40 hex digits" }));
    return;
  }
  root.append(api.loading());
  const after = params.query.after || "";
  const q = new URLSearchParams({ limit: String(HISTORY_PAGE) });
  if (after) q.set("after", after);
  const [acct, hist, contract] = await Promise.all([
    api.get(`/v1/accounts/${addr}`, { signal }),
    api.get(`/v1/accounts/${addr}/txs?${q}`, { signal }),
    api.get(`/v1/contracts/${addr}`, { signal }).catch(() => null),
  ]);
  root.querySelector('[data-testid="loading"]')?.remove();
  root.append(
    fields([
      ["Address", acct.address, "account-address"],
      ["Balance", String(acct.balance), "account-balance"],
      ["Nonce (committed)", String(acct.nonce), "account-nonce"],
      ["Next nonce (with mempool)", String(acct.next_nonce)],
      ["At height", String(acct.height)],
      contract ? ["Contract", link(`contract/${addr}`, "this address is a contract")] : null,
    ]),
    el("h2", { text: "Transactions" }),
  );
  const statuses = await limited(hist.txs, 4, (t) => api.get(`/v1/txs/${t.hash.replace(/^0x/, "")}`, { signal }).catch(() => null));
  root.append(
    api.table(
      ["Block", "Index", "Hash", "Kind", "Code"],
      hist.txs.map((t, i) => ({
        attrs: { "data-testid": "tx-row", "data-hash": t.hash.replace(/^0x/, "") },
        cells: [
          link(`block/${t.height}`, String(t.height)),
          String(t.index),
          link(`tx/${t.hash.replace(/^0x/, "")}`, api.hexShort(t.hash, 16), { class: "hash", title: t.hash }),
          statuses[i] && statuses[i].tx ? payloadKind(statuses[i].tx.body.payload) : "",
          codeBadge(api, t.code),
        ],
      })),
      after ? "no more transactions" : "no transactions",
    ),
    pager(api, `account/${addr}`, hist.next, after),
  );
}

// -- #/contract/<address> --------------------------------------------------------------------------------------
export async function renderContract(root, params, api) {
  const { el, link, fields } = api;
  const { signal } = params;
  const addr = api.normHex(params.path[0], 40);
  root.append(el("h1", { text: "Contract" }));
  if (!addr) {
    root.append(api.errorBox({ code: "bad_address", detail: "a contract address is 40 hex digits" }));
    return;
  }
  root.append(api.loading());
  const after = params.query.after || "";
  const q = new URLSearchParams({ limit: String(HISTORY_PAGE) });
  if (after) q.set("after", after);
  const [c, ev] = await Promise.all([
    api.get(`/v1/contracts/${addr}`, { signal }),
    api.get(`/v1/contracts/${addr}/events?${q}`, { signal }),
  ]);
  const bare = (x) => String(x).replace(/^0x/, "");
  root.querySelector('[data-testid="loading"]')?.remove();
  root.append(
    fields([
      ["Address", c.address, "contract-address"],
      ["Code hash", c.code_hash, "contract-code-hash"],
      ["Code size", `${c.code_size} bytes`],
      ["Deployer", link(`account/${bare(c.deployer)}`, c.deployer)],
      ["Admin", c.admin ? link(`account/${bare(c.admin)}`, c.admin) : "none (immutable)"],
      ["Created at", link(`block/${c.created_height}`, String(c.created_height))],
      ["Updated at", link(`block/${c.updated_height}`, String(c.updated_height))],
      ["Account", link(`account/${addr}`, "balance and transactions")],
    ]),
    el("h2", { text: "Events" }),
    api.table(
      ["Block", "Tx", "Type", "Topic", "Data"],
      ev.events.map((e) => ({
        attrs: { "data-testid": "event-row", "data-type": e.type },
        cells: [
          link(`block/${e.height}`, `${e.height}`),
          link(`tx/${bare(e.tx_hash)}`, api.hexShort(e.tx_hash), { class: "hash", title: e.tx_hash }),
          e.type,
          el("span", { class: "mono", text: e.topic }),
          el("span", { class: "mono", text: api.hexText(e.data) }),
        ],
      })),
      after ? "no more events" : "no events",
    ),
    pager(api, `contract/${addr}`, ev.next, after),
  );
}
