// The console shell: nav bar, search box and the hash router (README.md: the plug-in contract and the routes).
import * as api from "./api.js";

const { el, normHex } = api;

/** Route name -> [module, export, root data-testid]. */
const ROUTES = {
  network: ["./network.js", "render", "view-network"],
  explorer: ["./explorer.js", "render", "view-explorer"],
  block: ["./explorer.js", "renderBlock", "view-block"],
  tx: ["./explorer.js", "renderTx", "view-tx"],
  account: ["./explorer.js", "renderAccount", "view-account"],
  contract: ["./explorer.js", "renderContract", "view-contract"],
  interchain: ["./interchain.js", "render", "view-interchain"],
  identity: ["./identity.js", "render", "view-identity"],
  did: ["./identity.js", "renderDid", "view-did"],
  "status-list": ["./identity.js", "renderStatusList", "view-status-list"],
  verify: ["./verify.js", "render", "view-verify"],
  search: [null, "search", "view-search"],
};

/** Routes whose path is one segment that may itself hold "/" (a DID, a status list id). */
const WHOLE_PATH = new Set(["did", "status-list", "search"]);

/** The nav entry each route lights up. */
const NAV_OF = {
  block: "explorer",
  tx: "explorer",
  account: "explorer",
  contract: "explorer",
  search: "explorer",
  did: "identity",
  "status-list": "identity",
};

/** Parse location.hash: "#/name/a/b?x=1" -> {name, path, query}. */
export function parseHash(hash) {
  let h = String(hash || "").replace(/^#\/?/, "");
  let queryText = "";
  const q = h.indexOf("?");
  if (q >= 0) {
    queryText = h.slice(q + 1);
    h = h.slice(0, q);
  }
  const slash = h.indexOf("/");
  const name = (slash < 0 ? h : h.slice(0, slash)) || "network";
  const rest = slash < 0 ? "" : h.slice(slash + 1);
  const dec = (s) => {
    try {
      return decodeURIComponent(s);
    } catch (_) {
      return s;
    }
  };
  let path;
  if (rest === "") path = [];
  else if (WHOLE_PATH.has(name)) path = [dec(rest)];
  else path = rest.split("/").map(dec);
  const query = {};
  for (const [k, v] of new URLSearchParams(queryText)) query[k] = v;
  return { name, path, query };
}

let current = null; // {controller, cleanup}

async function leave() {
  if (!current) return;
  const { controller, cleanup } = current;
  current = null;
  controller.abort();
  if (typeof cleanup === "function") {
    try {
      cleanup();
    } catch (err) {
      console.error("view cleanup failed", err);
    }
  }
}

async function route() {
  await leave();
  const { name, path, query } = parseHash(location.hash);
  const main = document.getElementById("main");
  const entry = Object.hasOwn(ROUTES, name) ? ROUTES[name] : undefined;
  const nav = NAV_OF[name] || name;
  for (const a of document.querySelectorAll("nav a[data-view]")) {
    a.classList.toggle("active", a.dataset.view === nav);
    if (a.dataset.view === nav) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const root = el("section", { class: "view", "data-testid": entry ? entry[2] : "view-unknown" });
  main.replaceChildren(root);
  const controller = new AbortController();
  const mine = { controller, cleanup: null };
  current = mine;
  if (!entry) {
    root.append(api.errorBox({ code: "unknown_view", detail: `no view '${name}' in this console` }));
    return;
  }
  const [modulePath, exportName] = entry;
  const params = { name, path, query, signal: controller.signal };
  try {
    let fn;
    if (modulePath === null) fn = renderSearch;
    else {
      let mod;
      try {
        mod = await import(modulePath);
      } catch (err) {
        console.error(err);
        root.append(api.errorBox({ code: "view_not_available", detail: `the ${name} view is not available (${modulePath})` }));
        return;
      }
      fn = mod[exportName];
      if (typeof fn !== "function") {
        root.append(api.errorBox({ code: "view_not_available", detail: `${modulePath} has no ${exportName}()` }));
        return;
      }
    }
    const cleanup = await fn(root, params, api);
    if (current === mine) mine.cleanup = cleanup;
    else if (typeof cleanup === "function") cleanup(); // left while it was loading
  } catch (err) {
    if (err && err.name === "AbortError") return;
    if (!(err instanceof api.ApiError)) console.error(err);
    if (current === mine) {
      root.querySelector('[data-testid="loading"]')?.remove();
      root.append(api.errorBox(err));
    }
  }
}

/** Where a search query leads: a route ("block/5") or null when it can only be looked up. */
export function classify(text) {
  const q = String(text || "").trim();
  if (q === "") return { kind: "empty" };
  if (/^[0-9]{1,20}$/.test(q)) return { kind: "height", route: `block/${BigInt(q)}` };
  if (/^did:[a-z0-9]+:\S+$/.test(q)) return { kind: "did", route: `did/${q}` };
  const h64 = normHex(q, 64);
  if (h64) return { kind: "hash", hex: h64 };
  const h40 = normHex(q, 40);
  if (h40) return { kind: "address", hex: h40 };
  return { kind: "unknown", route: `search/${encodeURIComponent(q)}` };
}

async function resolveSearch(text) {
  const c = classify(text);
  if (c.kind === "empty") return null;
  if (c.route) return c.route;
  if (c.kind === "hash") {
    try {
      await api.get(`/v1/txs/${c.hex}`);
      return `tx/${c.hex}`;
    } catch (err) {
      if (err.status !== 404) throw err;
    }
    try {
      await api.get(`/v1/blocks/${c.hex}`);
      return `block/${c.hex}`;
    } catch (err) {
      if (err.status !== 404) throw err;
    }
    return `search/${c.hex}`;
  }
  // an address: a contract when the contracts module knows it, else an account
  try {
    await api.get(`/v1/contracts/${c.hex}`);
    return `contract/${c.hex}`;
  } catch (err) {
    if (err.status !== 404) throw err;
  }
  return `account/${c.hex}`;
}

async function renderSearch(root, params) {
  const q = params.path[0] || "";
  root.append(
    el("h1", { text: "Search" }),
    api.errorBox({
      code: "not_found",
      detail: `nothing found for '${q}': give a height, a 64-hex transaction or block hash, a 40-hex address or a did:…`,
    }),
  );
}

function setupSearch() {
  const form = document.querySelector('[data-testid="search-form"]');
  const input = document.querySelector('[data-testid="search-input"]');
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const text = input.value;
    form.classList.add("busy");
    try {
      const target = await resolveSearch(text);
      if (target) location.hash = `#/${target}`;
    } catch (err) {
      const main = document.getElementById("main");
      const root = el("section", { class: "view", "data-testid": "view-search" }, el("h1", { text: "Search" }), api.errorBox(err));
      await leave();
      main.replaceChildren(root);
    } finally {
      form.classList.remove("busy");
    }
  });
}

async function showNode() {
  try {
    const st = await api.get("/v1/status");
    const chain = document.querySelector('[data-testid="node-chain"]');
    chain.textContent = st.chain_id;
    chain.title = `genesis ${st.genesis_hash}`;
    document.getElementById("foot-node").textContent =
      `node ${st.moniker} · trellis ${st.version} · suite ${st.suite}` + (st.bench_network ? " · bench network" : "");
    document.title = `Trellis console · ${st.chain_id}`;
  } catch (err) {
    document.getElementById("foot-node").textContent = `node status unavailable: ${err.detail || err}`;
  }
}

if (typeof window !== "undefined" && typeof document !== "undefined") {
  window.addEventListener("hashchange", route);
  setupSearch();
  showNode();
  route();
}
