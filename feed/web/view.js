// DOM helpers of the dashboard: ladder rows built once and then only rewritten where a value changed, and
// number formatting. No state of their own.
import { eventMillis, pad } from "./book.js";
import { fmtCompact } from "./group.js";

export function makeLadder(container, depth) {
  const rows = [];
  for (let i = 0; i < depth; i++) {
    const el = document.createElement("div");
    el.className = "lvl";
    el.innerHTML = '<i class="d"></i><i class="s"></i><span class="px"></span><span class="sz"></span><span class="tot"></span><span class="nt"></span>';
    const [d, s, px, sz, tot, nt] = el.children;
    rows.push({ el, d, s, px, sz, tot, nt, cache: ["", "", "", -1, -1, ""] });
    container.appendChild(el);
  }
  return rows;
}

export function setText(el, v) {
  if (el.textContent !== v) el.textContent = v;
}

// drawSide writes a side's levels (best first) into its rows: price, size, cumulative size and cumulative
// notional (price × size, in the quote currency).
export function drawSide(rows, side, st, maxSize, maxTotal) {
  let total = 0, value = 0;
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i], l = side[i], c = r.cache;
    let px = "", sz = "", tot = "", nt = "", sv = 0, dv = 0;
    if (l) {
      total += l.sn;
      value += l.sn * parseFloat(l.p);
      nt = fmtCompact(value);
      px = pad(l.p, st.pdp);
      sz = pad(l.s, st.sdp);
      tot = total.toFixed(Math.min(st.sdp, 4));
      sv = maxSize > 0 ? l.sn / maxSize : 0;
      dv = maxTotal > 0 ? total / maxTotal : 0;
    }
    if (c[0] !== px) { r.px.textContent = px; c[0] = px; }
    if (c[1] !== sz) { r.sz.textContent = sz; c[1] = sz; }
    if (c[2] !== tot) { r.tot.textContent = tot; c[2] = tot; }
    if (c[5] !== nt) { r.nt.textContent = nt; c[5] = nt; }
    sv = Math.round(sv * 1000) / 1000;
    dv = Math.round(dv * 1000) / 1000;
    if (c[3] !== sv) { r.s.style.transform = "scaleX(" + sv + ")"; c[3] = sv; }
    if (c[4] !== dv) { r.d.style.transform = "scaleX(" + dv + ")"; c[4] = dv; }
  }
}

export function midOf(st) {
  if (!st.bids.length || !st.asks.length) return null;
  const b = parseFloat(st.bids[0].p), a = parseFloat(st.asks[0].p);
  return { mid: (a + b) / 2, spread: a - b, bps: ((a - b) / ((a + b) / 2)) * 1e4 };
}

export function clock(t) {
  const d = new Date(eventMillis(t));
  if (isNaN(d)) return "";
  const p2 = (n) => String(n).padStart(2, "0");
  return p2(d.getHours()) + ":" + p2(d.getMinutes()) + ":" + p2(d.getSeconds()) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

export function fmtInt(n) {
  return n == null ? "—" : Math.round(n).toLocaleString("en-US");
}
export function fmtBytes(n) {
  if (n == null) return "—";
  if (n < 1024) return n + " B";
  if (n < 1 << 20) return (n / 1024).toFixed(1) + " KiB";
  return (n / (1 << 20)).toFixed(1) + " MiB";
}

export function fmtDuration(sec) {
  sec = Math.floor(sec);
  const h = Math.floor(sec / 3600), m = Math.floor((sec % 3600) / 60), s = sec % 60;
  return (h ? h + "h " : "") + (h || m ? m + "m " : "") + s + "s";
}
