// Network view (#/network): the chain, consensus position, mempool, validators, peers and a live throughput chart.
import { drawThroughput } from "./chart.js";

const POLL_MS = 2000;
const WINDOW_MS = 5 * 60 * 1000; // the chart shows the last five minutes
const MAX_POINTS = 1000; // and never more than this many blocks
const BACKFILL = 20; // blocks read at start (and after a reconnect) to fill the chart

export async function render(root, params, api) {
  const { el, fields, table, link, hexShort, fmtTime } = api;
  const { signal } = params;
  root.append(el("h1", { text: "Network" }), api.loading());

  const [status, validators, membership] = await Promise.all([
    api.get("/v1/status", { signal }),
    api.get("/v1/validators", { signal }).catch((e) => e),
    api.get("/v1/membership", { signal }).catch((e) => e),
  ]);

  const cell = (testid, cls = "value") => el("div", { class: cls, "data-testid": testid });
  const card = (label, valueEl) => el("div", { class: "card" }, el("div", { class: "label", text: label }), valueEl);
  const v = {
    chain: cell("network-chain-id", "value mono"),
    genesis: cell("network-genesis-hash", "value mono"),
    height: cell("network-height"),
    round: cell("network-round"),
    interval: cell("network-block-interval"),
    mempool: cell("network-mempool"),
    rate: cell("network-throughput"),
  };
  const peersBox = el("div");
  const chartBox = el("div", { class: "chart" });
  const chartNote = el("p", { class: "muted" });
  const problems = el("div");

  root.querySelector('[data-testid="loading"]')?.remove();
  root.append(
    el(
      "div",
      { class: "cards" },
      card("Chain id", v.chain),
      card("Height", v.height),
      card("Consensus round / step", v.round),
      card("Block interval (recent)", v.interval),
      card("Mempool (txs / bytes)", v.mempool),
      card("Throughput (window)", v.rate),
      card("Genesis hash", v.genesis),
    ),
    problems,
    el("h2", { text: "Throughput: transactions per block, last 5 minutes" }),
    chartBox,
    chartNote,
    el("h2", { text: "Validators" }),
    validatorsTable(validators),
    el("h2", { text: "Organisations" }),
    orgsPanel(membership),
    el("h2", { text: "Peers" }),
    peersBox,
  );

  function validatorsTable(vs) {
    if (vs instanceof Error) return api.errorBox(vs);
    const rows = vs.validators.map((x) => ({
      attrs: { "data-testid": "validator-row", "data-address": x.address },
      cells: [
        x.name || "—",
        x.org || "—",
        el("span", { class: "hash", title: x.address, text: x.address }),
        String(x.power),
        vs.total_power ? `${((100 * x.power) / vs.total_power).toFixed(1)} %` : "",
      ],
    }));
    return el(
      "div",
      {},
      table(["Name", "Organisation", "Address", "Power", "Share"], rows, "no validators"),
      el("p", {
        class: "muted",
        text: `validator set at height ${vs.height} (effective from ${vs.effective_height}), total power ${vs.total_power}`,
      }),
    );
  }

  function orgsPanel(m) {
    if (m instanceof Error) return api.errorBox(m);
    const rows = m.orgs.map((o) => ({
      attrs: { "data-testid": "org-row" },
      cells: [o.name, o.ca_fingerprints.map((f) => el("div", { class: "hash", text: hexShort(f, 16), title: f }))],
    }));
    return el(
      "div",
      {},
      table(["Organisation", "CA fingerprints"], rows, "no organisations in the membership (an open chain)"),
      el("p", {
        class: "muted",
        text:
          `membership ${m.enforce ? "enforced" : "not enforced"}` +
          (m.threshold ? `, threshold ${m.threshold}` : "") +
          (m.revoked.length ? `, ${m.revoked.length} revoked certificate(s)` : ""),
      }),
    );
  }

  // -- the chart's data: one point per block {height, time_ms, txs} -------------------------------------------
  const points = new Map();
  let lastStatus = status;

  function addPoint(height, time_ms, txs) {
    points.set(height, { height, time_ms, txs });
    const newest = Math.max(...points.keys());
    const newestTime = points.get(newest).time_ms;
    for (const [h, p] of points) {
      if (p.time_ms < newestTime - WINDOW_MS || h <= newest - MAX_POINTS) points.delete(h);
    }
  }

  async function backfill(tip) {
    const from = Math.max(1, tip - BACKFILL + 1);
    const wanted = [];
    for (let h = from; h <= tip; h++) if (!points.has(h)) wanted.push(h);
    // at most four block reads at a time
    for (let i = 0; i < wanted.length; i += 4) {
      const got = await Promise.all(
        wanted.slice(i, i + 4).map((h) => api.get(`/v1/blocks/${h}`, { signal }).catch(() => null)),
      );
      for (const b of got) if (b) addPoint(b.header.height, b.header.time_ms, b.header.tx_count);
    }
  }

  function sorted() {
    return [...points.values()].sort((a, b) => a.height - b.height);
  }

  function paint() {
    const st = lastStatus;
    v.chain.textContent = st.chain_id;
    v.genesis.textContent = st.genesis_hash;
    v.height.replaceChildren(link(`block/${st.height}`, String(st.height)));
    v.round.textContent = `${st.consensus_round} / ${st.consensus_step || "—"}`;
    const ps = sorted();
    const recent = ps.slice(-21);
    if (recent.length >= 2) {
      const span = recent[recent.length - 1].time_ms - recent[0].time_ms;
      v.interval.textContent = `${(span / (recent.length - 1) / 1000).toFixed(2)} s`;
    } else v.interval.textContent = "—";
    if (ps.length >= 2) {
      const span = (ps[ps.length - 1].time_ms - ps[0].time_ms) / 1000;
      const txs = ps.slice(1).reduce((a, p) => a + p.txs, 0);
      v.rate.textContent = span > 0 ? `${(txs / span).toFixed(1)} tx/s` : "—";
    } else v.rate.textContent = "—";
    peersBox.replaceChildren(
      table(
        ["Peer id"],
        st.peers.map((p) => ({ attrs: { "data-testid": "peer-row" }, cells: [el("span", { class: "hash", text: p })] })),
        "no connected peers",
      ),
    );
    chartBox.replaceChildren(drawThroughput(ps, api));
    chartNote.textContent = ps.length
      ? `${ps.length} blocks from height ${ps[0].height} (${fmtTime(ps[0].time_ms)}) to ${ps[ps.length - 1].height}; ${liveNote}`
      : `no blocks yet; ${liveNote}`;
  }

  let liveNote = "starting";

  async function pollMetrics() {
    try {
      const [st, m] = await Promise.all([api.get("/v1/status", { signal }), api.get("/v1/metrics", { signal })]);
      lastStatus = st;
      v.mempool.textContent = `${m.mempool_txs} / ${m.mempool_bytes}`;
      problems.replaceChildren();
      // blocks the stream has not delivered (it is not running, or it lagged): read them
      const newest = points.size ? Math.max(...points.keys()) : 0;
      if (!streaming && st.height > newest) await backfill(st.height);
    } catch (err) {
      if (err.name === "AbortError") return;
      problems.replaceChildren(api.errorBox(err));
    }
    if (!signal.aborted) paint();
  }

  // -- the live feed: /v1/commits/stream (NDJSON), reconnected when it ends; polling fills gaps meanwhile ---------
  let streaming = false;

  async function stream() {
    while (!signal.aborted) {
      try {
        const resp = await fetch("/v1/commits/stream", { signal });
        if (!resp.ok || !resp.body) throw new Error(`commit stream answered HTTP ${resp.status}`);
        streaming = true;
        liveNote = "live from /v1/commits/stream";
        const reader = resp.body.getReader();
        const dec = new TextDecoder();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += dec.decode(value, { stream: true });
          let nl;
          while ((nl = buf.indexOf("\n")) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (!line) continue;
            const b = JSON.parse(line);
            addPoint(b.height, b.time_ms, b.txs.length);
            if (b.height > lastStatus.height) lastStatus = { ...lastStatus, height: b.height };
            paint();
          }
          if (buf.length > 1 << 24) throw new Error("commit stream line too long");
        }
      } catch (err) {
        if (signal.aborted) return;
        liveNote = `commit stream interrupted (${err.message || err}); polling every ${POLL_MS / 1000} s`;
      }
      streaming = false;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  await backfill(status.height);
  paint();
  stream();
  pollMetrics();
  const timer = setInterval(pollMetrics, POLL_MS);
  return () => clearInterval(timer);
}
