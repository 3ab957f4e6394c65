// Price grouping, notional and latency figures of the dashboard. Pure functions on the levels the book
// keeps ({p, s, sn}: canonical price and size strings, size as a number), no DOM and no book state: the
// book itself (book.js) is only read through its levels.

// scaled returns a canonical decimal string as an integer number of 10^-dp units (dp >= its own decimals).
export function scaled(p, dp) {
  const i = p.indexOf(".");
  const ip = i < 0 ? p : p.slice(0, i), fp = i < 0 ? "" : p.slice(i + 1);
  return Number(ip + fp.padEnd(dp, "0").slice(0, dp));
}

// unscaled writes n units of 10^-dp as a decimal string with exactly dp fraction digits.
export function unscaled(n, dp) {
  if (dp === 0) return String(n);
  const s = String(n).padStart(dp + 1, "0");
  return s.slice(0, s.length - dp) + "." + s.slice(s.length - dp);
}

// groupSteps lists the grouping increments offered for a book whose prices have pdp decimals: the tick
// (10^-pdp), then each power of ten above it up to 1000 (at most six choices), as decimal strings.
export function groupSteps(pdp) {
  const out = [];
  for (let e = -pdp; e <= 3 && out.length < 6; e++) out.push(e < 0 ? "0." + "0".repeat(-e - 1) + "1" : "1" + "0".repeat(e));
  return out;
}

// groupSide aggregates a side (best first) into buckets of step (a decimal string): bids round down and
// asks round up, so a bucket never crosses the mid. Sizes add up; each bucket's price is written with the
// book's pdp decimals and its size with sdp. Buckets come out best first. When the side is cut (it holds
// only the top levels of a deeper book), its farthest bucket may lack levels beyond the cut: it is left
// out, unless it is the only one.
export function groupSide(side, step, bid, pdp, sdp, cut) {
  const dp = Math.max(pdp, step.indexOf(".") < 0 ? 0 : step.length - step.indexOf(".") - 1);
  const unit = scaled(step, dp);
  const out = [];
  for (const l of side) {
    const n = scaled(l.p, dp);
    const b = (bid ? Math.floor(n / unit) : Math.ceil(n / unit)) * unit;
    const last = out[out.length - 1];
    if (last && last.k === b) {
      last.sn += l.sn;
      last.np += l.sn * parseFloat(l.p);
    } else {
      out.push({ k: b, p: unscaled(b, pdp), sn: l.sn, np: l.sn * parseFloat(l.p) });
    }
  }
  if (cut && out.length > 1 && unit > 10 ** (dp - pdp)) out.pop(); // a bucket of one price is never partial
  for (const o of out) o.s = o.sn.toFixed(sdp);
  return out;
}

// notional is the quote-currency value of levels: the sum of price × size.
export function notional(side) {
  let n = 0;
  for (const l of side) n += parseFloat(l.p) * l.sn;
  return n;
}

// fmtCompact writes a quote-currency amount shortly: 1234 → "1,234", 1.5e6 → "1.50M".
export function fmtCompact(n) {
  const a = Math.abs(n);
  if (a >= 1e9) return (n / 1e9).toFixed(2) + "B";
  if (a >= 1e6) return (n / 1e6).toFixed(2) + "M";
  if (a >= 1e4) return (n / 1e3).toFixed(1) + "k";
  return n.toLocaleString("en-US", { maximumFractionDigits: a >= 100 ? 0 : 2 });
}

// percentile returns the q-quantile (0 < q <= 1) of samples by the nearest-rank method: the smallest
// sample with at least q of all samples at or below it. NaN when there are none.
export function percentile(samples, q) {
  if (!samples.length) return NaN;
  const sorted = samples.slice().sort((a, b) => a - b);
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length))) - 1];
}
