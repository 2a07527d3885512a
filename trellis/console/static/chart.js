// A hand-drawn SVG line chart of transactions per block over block time (no chart library).
import { svg } from "./api.js";

const W = 800;
const H = 200;
const PAD = { left: 48, right: 12, top: 10, bottom: 26 };

function niceMax(v) {
  if (v <= 4) return 4; // integer ticks for small counts
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/** points: [{height, time_ms, txs}] in height order. Answers the <svg> (data-testid="throughput-chart"). */
export function drawThroughput(points) {
  const root = svg("svg", {
    viewBox: `0 0 ${W} ${H}`,
    preserveAspectRatio: "none",
    role: "img",
    "aria-label": "transactions per block over time",
    "data-testid": "throughput-chart",
    "data-points": points.length,
  });
  const x0 = PAD.left;
  const x1 = W - PAD.right;
  const y0 = H - PAD.bottom;
  const y1 = PAD.top;
  const ymax = niceMax(Math.max(0, ...points.map((p) => p.txs)));
  const tmin = points.length ? points[0].time_ms : 0;
  const tmax = points.length ? points[points.length - 1].time_ms : 1;
  const span = Math.max(1, tmax - tmin);
  const X = (t) => x0 + ((t - tmin) / span) * (x1 - x0);
  const Y = (v) => y0 - (v / ymax) * (y0 - y1);
  for (let i = 0; i <= 4; i++) {
    const v = (ymax * i) / 4;
    root.append(svg("line", { class: "grid", x1: x0, x2: x1, y1: Y(v), y2: Y(v) }));
    root.append(svg("text", { x: x0 - 6, y: Y(v) + 4, "text-anchor": "end", text: Number.isInteger(v) ? String(v) : v.toFixed(1) }));
  }
  root.append(svg("line", { class: "axis", x1: x0, x2: x0, y1: y0, y2: y1 }));
  root.append(svg("line", { class: "axis", x1: x0, x2: x1, y1: y0, y2: y0 }));
  if (points.length) {
    const secs = Math.round(span / 1000);
    root.append(svg("text", { x: x0, y: H - 8, text: `${secs} s ago` }));
    root.append(svg("text", { x: x1, y: H - 8, "text-anchor": "end", text: `height ${points[points.length - 1].height}` }));
  }
  if (points.length >= 1) {
    const d = points.map((p, i) => `${i ? "L" : "M"}${X(p.time_ms).toFixed(1)},${Y(p.txs).toFixed(1)}`).join(" ");
    const area = `${d} L${X(tmax).toFixed(1)},${y0} L${X(tmin).toFixed(1)},${y0} Z`;
    root.append(svg("path", { class: "area", d: area }));
    root.append(svg("path", { class: "line", d }));
  } else {
    root.append(svg("text", { x: (x0 + x1) / 2, y: (y0 + y1) / 2, "text-anchor": "middle", text: "no blocks yet" }));
  }
  return root;
}
