// Books as the dashboard keeps them, on the TypeScript client's own book code: ./sdk/ holds the build output
// of clients/js (decimal.js, checksum.js, book.js), copied byte for byte by `npm run dashboard` there and
// checked against it by clients/js's tests, which also run the shared vectors of testdata/vectors through
// applyMessage below. No DOM here, so Node can import it.
import { Book, BookFaultError } from "./sdk/book.js";
import { crc32 } from "./sdk/checksum.js";
import { parseDecimal, toTicks } from "./sdk/decimal.js";

export { Book, BookFaultError, crc32 };

// cmpDec compares two decimal strings exactly, as the client's books order prices.
export function cmpDec(a, b) {
  const x = toTicks(parseDecimal(a)), y = toTicks(parseDecimal(b));
  return x < y ? -1 : x > y ? 1 : 0;
}

export const fracDigits = (s) => { const i = s.indexOf("."); return i < 0 ? 0 : s.length - i - 1; };
// pad writes s with exactly dp fraction digits (dp >= its own), so columns line up on the point.
export function pad(s, dp) {
  const f = fracDigits(s);
  if (f >= dp) return s;
  return (f === 0 ? s + "." : s) + "0".repeat(dp - f);
}

// bookState is the dashboard's state of one symbol's book at a subscription depth: the client's Book, and
// what the page draws from it: levels best first as {p, s, sn} (canonical price and size, size as a
// number), the seq, whether a verified snapshot is held, the status, and the most decimals seen in its
// prices (pdp) and sizes (sdp).
export function bookState(symbol, depth) {
  return { book: new Book(symbol, depth), bids: [], asks: [], seq: 0, hasBook: false, status: "unknown", pdp: 0, sdp: 0 };
}

// applyMessage applies a book channel message (snapshot, update or status) to a bookState. It returns
// "verified" (the prev_seq chain holds and the book has the message's checksum), "status", "ignored" (an
// update while no snapshot is held, as after a resubscription), or "gap" / "checksum": the book cannot be
// trusted, hasBook is false, and the symbol must be subscribed again.
export function applyMessage(st, m) {
  if (m.type === "update" && !st.hasBook) return "ignored";
  try {
    st.book.apply(m);
  } catch (e) {
    if (!(e instanceof BookFaultError)) throw e;
    st.hasBook = false;
    st.book.reset();
    return e.kind;
  }
  st.status = st.book.status;
  if (m.type === "status") return "status";
  st.seq = st.book.seq;
  st.hasBook = true;
  st.bids = levels(st.book.bids());
  st.asks = levels(st.book.asks());
  for (const side of [m.bids, m.asks]) {
    for (const [p, s] of side) {
      if (s === "0") continue;
      const pd = fracDigits(p), sd = fracDigits(s);
      if (pd > st.pdp) st.pdp = Math.min(pd, 10);
      if (sd > st.sdp) st.sdp = Math.min(sd, 8);
    }
  }
  return "verified";
}

function levels(side) {
  return side.map(([p, s]) => ({ p, s, sn: parseFloat(s) }));
}

// eventMillis parses an RFC 3339 time with up to nine fraction digits (Date.parse takes three).
export function eventMillis(t) {
  if (!t) return NaN;
  return Date.parse(t.replace(/(\.\d{3})\d+/, "$1"));
}
