// Fetch helpers and small DOM helpers shared by every view (the `api` argument of a view's render; README.md).

export class ApiError extends Error {
  constructor(status, code, detail, path) {
    super(`${code}: ${detail}`);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.path = path;
  }
}

async function request(path, init, parse) {
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    throw new ApiError(0, "network_error", `the node did not answer (${err && err.message ? err.message : err})`, path);
  }
  if (!resp.ok) {
    let code = `http_${resp.status}`;
    let detail = resp.statusText || "request failed";
    const type = resp.headers.get("Content-Type") || "";
    if (type.includes("json")) {
      try {
        const body = await resp.json();
        if (body && typeof body.code === "string") code = body.code;
        if (body && typeof body.detail === "string") detail = body.detail;
      } catch (_) {
        // not JSON after all: keep the status line
      }
    }
    throw new ApiError(resp.status, code, detail, path);
  }
  return parse(resp);
}

/** GET a JSON document of the node's API. */
export function get(path, opts = {}) {
  return request(path, { signal: opts.signal, headers: { Accept: "application/json" } }, (r) => r.json());
}

/** GET a text document. */
export function getText(path, opts = {}) {
  return request(path, { signal: opts.signal }, (r) => r.text());
}

/** POST a JSON body; answer the JSON reply. */
export function post(path, body, opts = {}) {
  return request(
    path,
    {
      method: "POST",
      signal: opts.signal,
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    },
    (r) => r.json(),
  );
}

/** A DOM element: el("a", {href: "#/x", class: "c", "data-testid": "t", text: "..."}, child, ...). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") node.textContent = String(v);
    else if (k === "class") node.className = v;
    else if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** An SVG element (same attribute rules as `el`). */
export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k === "text") node.textContent = String(v);
    else node.setAttribute(k, String(v));
  }
  for (const c of children.flat(Infinity)) if (c) node.append(c);
  return node;
}

/** A link to a console route: link("block/5", "5"). */
export function link(route, text, attrs = {}) {
  return el("a", { href: `#/${route}`, ...attrs }, text);
}

/** A hex string shortened for display (the full one in the title). */
export function hexShort(hex, keep = 10) {
  const s = String(hex || "");
  return s.length <= 2 * keep + 3 ? s : `${s.slice(0, keep + 2)}…${s.slice(-keep + 2)}`;
}

/** A block time (milliseconds since the epoch) as an ISO UTC string. */
export function fmtTime(ms) {
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms <= 0) return "";
  return new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

/** An element showing an error: the API's problem code and detail. */
export function errorBox(err) {
  const code = err && err.code ? err.code : "error";
  const detail = err && err.detail ? err.detail : err && err.message ? err.message : String(err);
  const status = err && typeof err.status === "number" && err.status > 0 ? ` (HTTP ${err.status})` : "";
  return el(
    "div",
    { class: "error", role: "alert", "data-testid": "error", "data-code": code },
    el("strong", { text: `${code}${status}` }),
    el("span", { text: `: ${detail}` }),
    err && err.path ? el("div", { class: "muted", text: `while reading ${err.path}` }) : null,
  );
}

/** A "loading" placeholder (removed by the view when its first data arrived). */
export function loading(what = "Loading…") {
  return el("div", { class: "loading", "data-testid": "loading", text: what });
}

/** A definition list of [label, value, testid?] rows. */
export function fields(rows) {
  return el(
    "dl",
    { class: "fields" },
    rows
      .filter((r) => r)
      .map(([label, value, testid]) => [
        el("dt", { text: label }),
        el("dd", { "data-testid": testid || null }, value === null || value === undefined ? "—" : value),
      ]),
  );
}

/** A table: headers, and rows of {cells, attrs}. */
export function table(headers, rows, empty = "none") {
  if (!rows.length) return el("p", { class: "muted", text: empty });
  return el(
    "div",
    { class: "table-wrap" },
    el(
      "table",
      {},
      el("thead", {}, el("tr", {}, headers.map((h) => el("th", { text: h })))),
      el(
        "tbody",
        {},
        rows.map((r) => el("tr", r.attrs || {}, r.cells.map((c) => el("td", {}, c)))),
      ),
    ),
  );
}

/** Hex digits without a 0x, lower case; null when `s` is not hex of `digits` digits. */
export function normHex(s, digits) {
  const t = String(s || "").trim().replace(/^0[xX]/, "");
  return new RegExp(`^[0-9a-fA-F]{${digits}}$`).test(t) ? t.toLowerCase() : null;
}

/** Bytes given as 0x hex, shown as UTF-8 text when they are printable UTF-8, else as the hex itself. */
export function hexText(hex) {
  const h = String(hex || "").replace(/^0[xX]/, "");
  if (!h || h.length % 2 || !/^[0-9a-fA-F]*$/.test(h)) return String(hex || "");
  const bytes = new Uint8Array(h.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    // printable: no control characters other than tab/newline; the bidi embedding/override/isolate controls
    // (U+202A-202E, U+2066-2069), which would reorder what is shown around them, are shown escaped (\u{202e})
    if (/^[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*$/u.test(text)) {
      return text.replace(/[\u202a-\u202e\u2066-\u2069]/gu, (c) => `\\u{${c.codePointAt(0).toString(16)}}`);
    }
  } catch (_) {
    // not UTF-8
  }
  return `0x${h}`;
}
