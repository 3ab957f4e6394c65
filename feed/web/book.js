// Books as the dashboard keeps them: exact decimal ordering on canonical strings, the feed's CRC-32
// checksum, and applying levels. Pure functions, no DOM.
// ---- decimals: canonical strings, compared exactly ----

// cmpDec compares two canonical non-negative decimals ("43000.1", "0.0015"): canonical fractions carry no
// trailing zeros, so after equal integer parts a plain string comparison of the fractions is exact.
export function cmpDec(a, b) {
  const ia = a.indexOf("."), ib = b.indexOf(".");
  const la = ia < 0 ? a.length : ia, lb = ib < 0 ? b.length : ib;
  if (la !== lb) return la - lb;
  const ai = a.slice(0, la), bi = b.slice(0, lb);
  if (ai !== bi) return ai < bi ? -1 : 1;
  const af = ia < 0 ? "" : a.slice(ia + 1), bf = ib < 0 ? "" : b.slice(ib + 1);
  return af === bf ? 0 : af < bf ? -1 : 1;
}
export const fracDigits = (s) => { const i = s.indexOf("."); return i < 0 ? 0 : s.length - i - 1; };
// pad writes s with exactly dp fraction digits (dp >= its own), so columns line up on the point.
export function pad(s, dp) {
  const f = fracDigits(s);
  if (f >= dp) return s;
  return (f === 0 ? s + "." : s) + "0".repeat(dp - f);
}

// ---- CRC-32 (IEEE 802.3), as hash/crc32.ChecksumIEEE ----
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();
const utf8 = new TextEncoder();
export function crc32(str) {
  let c = 0xffffffff;
  for (let i = 0; i < str.length; i++) {
    const ch = str.charCodeAt(i);
    if (ch > 0x7f) { // not ASCII: hash the UTF-8 bytes (prices and sizes are ASCII; this is a safeguard)
      let d = 0xffffffff;
      for (const byte of utf8.encode(str)) d = CRC_TABLE[(d ^ byte) & 0xff] ^ (d >>> 8);
      return (d ^ 0xffffffff) >>> 0;
    }
    c = CRC_TABLE[(c ^ ch) & 0xff] ^ (c >>> 8);
  }
  return (c ^ 0xffffffff) >>> 0;
}

// checksumString is the string docs/protocol.md defines: "price:size;" per bid best first, "|", the same per ask.
export function checksumString(b, levels) {
  let s = "";
  for (let i = 0; i < b.bids.length && i < levels; i++) s += b.bids[i].p + ":" + b.bids[i].s + ";";
  s += "|";
  for (let i = 0; i < b.asks.length && i < levels; i++) s += b.asks[i].p + ":" + b.asks[i].s + ";";
  return s;
}

// ---- books ----

// applySide applies [price, size] levels to a side kept best first (bid: highest first) and cuts it to
// depth levels; size "0" deletes. It widens st.pdp and st.sdp, the decimals the book's prices and sizes
// are shown with, to the most seen.
export function applySide(side, levels, bid, st, depth) {
  for (const [p, s] of levels) {
    let lo = 0, hi = side.length; // binary search for p in best-first order
    while (lo < hi) {
      const mid = (lo + hi) >> 1, c = cmpDec(side[mid].p, p);
      if (c === 0) { lo = mid; hi = -1; break; }
      if (bid ? c > 0 : c < 0) lo = mid + 1; else hi = mid;
    }
    const found = hi === -1;
    if (s === "0") {
      if (found) side.splice(lo, 1);
      continue;
    }
    const lvl = { p, s, sn: parseFloat(s) };
    if (found) side[lo] = lvl; else side.splice(lo, 0, lvl);
    const pd = fracDigits(p), sd = fracDigits(s);
    if (pd > st.pdp) st.pdp = Math.min(pd, 10);
    if (sd > st.sdp) st.sdp = Math.min(sd, 8);
  }
  if (side.length > depth) side.length = depth;
}

// eventMillis parses an RFC 3339 time with up to nine fraction digits (Date.parse takes three).
export function eventMillis(t) {
  if (!t) return NaN;
  return Date.parse(t.replace(/(\.\d{3})\d+/, "$1"));
}

