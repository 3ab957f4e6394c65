// depthcast dashboard. Plain JavaScript, no dependencies, no build step in the page: its book code (sdk/) is
// the TypeScript client's build output, committed.
//
// One WebSocket to /ws carries a book subscription and a trades subscription for every watched symbol: at
// depth 20 (the rows the ladder shows), and at depth 1000 for the selected symbol, so that grouping its
// ladder by a coarser price increment aggregates the levels beyond the first 20. Each book is rebuilt here
// from its snapshot and updates by the TypeScript client's Book (book.js,
// on ./sdk/); every book message's prev_seq must be the last seq held, and its checksum (CRC-32 IEEE of the
// top 10 levels per side, docs/protocol.md §2) must match the rebuilt book, or the symbol is subscribed again
// for a fresh snapshot. A lost connection reconnects with
// exponential backoff and jitter and resumes every book from the last seq it holds.
//
// Messages only change state; the DOM is written once per animation frame, and only what changed.
import { applyMessage, Book, bookState, eventMillis, fracDigits, pad } from "./book.js";
import { depthChart, sideTotal } from "./depth.js";
import { clock, drawSide, fmtBytes, fmtDuration, fmtInt, makeLadder, midOf, setText } from "./view.js";
import { fmtCompact, groupSide, groupSteps, notional, percentile } from "./group.js";

const DEPTH = 20;          // ladder rows per side, and the depth the symbols not selected are subscribed at
const SELECTED_DEPTH = 1000; // the depth the selected symbol is subscribed at (the feed's maximum)
const MAX_WATCH = 32;      // symbols subscribed at once
const TRADES_SHOWN = 40;
const STALE_LINK_MS = 15000; // no message for this long (heartbeats come every 5 s): reconnect
const BACKOFF_MIN_MS = 250, BACKOFF_MAX_MS = 10000;
const RESYNC_TICK_MS = 250;

const $ = (id) => document.getElementById(id);

// Script errors are counted on <body data-js-errors> and shown in the footer, so they cannot go unseen.
let jsErrors = 0;
window.addEventListener("error", (ev) => {
  document.body.dataset.jsErrors = String(++jsErrors);
  const el = $("last-error");
  if (el) el.textContent = "script error: " + ev.message;
});
window.addEventListener("unhandledrejection", (ev) => {
  document.body.dataset.jsErrors = String(++jsErrors);
  const el = $("last-error");
  if (el) el.textContent = "script error: " + ev.reason;
});

// ---- state ----
const symbols = new Map(); // symbol -> state
let selected = decodeURIComponent(location.hash.slice(1)) || "";
let ws = null, attempt = 0, reconnectTimer = 0, lastMessageAt = 0, reconnects = 0, everConnected = false;
let connState = "connecting", connDetail = "";
let checksumOk = 0, checksumBad = 0;
// Latency, in two parts that are never added up: feed latency is an event's upstream time to the moment its
// message was received here (the feed, the network and any clock skew between producer and browser);
// render latency is that receipt to the animation frame that draws it (this page only).
const feedLatency = [], renderLatency = []; // recent samples of the selected symbol, ms
let pendingLatency = []; // receipt times of the selected symbol's messages not yet drawn
let receivedAt = 0; // Date.now() when the message being handled arrived
const LATENCY_SAMPLES = 500;
let stats = null, statsPrev = null, statsRate = null, statsError = "";
let lastError = "";

function symbolState(sym) {
  let st = symbols.get(sym);
  if (!st) {
    st = Object.assign(bookState(sym, DEPTH), {
      sym, serverSeq: 0, count: 0, rate: null, verified: 0, mismatches: 0, resyncs: 0, // rate: null until its first whole second
      trades: [], lastTrade: null, bookDirty: true, tradesDirty: true,
    });
    symbols.set(sym, st);
  }
  return st;
}

// ---- rendering, batched per animation frame ----
let frameQueued = false;
const dirty = { book: true, trades: true, markets: true, header: true, stats: true };
function markDirty(...what) {
  for (const w of what) dirty[w] = true;
  if (!frameQueued) {
    frameQueued = true;
    requestAnimationFrame(render);
  }
}

// ---- connection ----
// apiURL is an HTTP endpoint of the feed, carrying the page's ?token= when auth is on.
function apiURL(path) {
  const u = new URL(path, location.href);
  const token = new URLSearchParams(location.search).get("token");
  if (token) u.searchParams.set("token", token);
  return u.toString();
}

function wsURL() {
  const u = new URL("ws", location.href);
  u.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  const token = new URLSearchParams(location.search).get("token");
  if (token) u.searchParams.set("token", token);
  return u.toString();
}

function setConn(state, detail) {
  connState = state;
  connDetail = detail || "";
  markDirty("header");
}

function connect() {
  reconnectTimer = 0;
  setConn(everConnected ? "reconnecting" : "connecting", attempt > 0 ? "attempt " + (attempt + 1) : "");
  let sock;
  try {
    sock = new WebSocket(wsURL());
  } catch (e) {
    lastError = String(e);
    scheduleReconnect();
    return;
  }
  ws = sock;
  sock.onopen = () => {
    if (ws !== sock) return;
    lastMessageAt = Date.now();
    if (everConnected) reconnects++;
    everConnected = true;
    setConn("connected");
    subscribeAll(true);
  };
  sock.onmessage = (ev) => {
    if (ws !== sock) return;
    lastMessageAt = receivedAt = Date.now();
    let m;
    try {
      m = JSON.parse(ev.data);
    } catch (e) {
      lastError = "not JSON: " + String(ev.data).slice(0, 80);
      return;
    }
    handle(m);
  };
  sock.onclose = (ev) => {
    if (ws !== sock) return;
    ws = null;
    if (ev.code !== 1006 || ev.reason) lastError = "closed " + ev.code + (ev.reason ? " " + ev.reason : "");
    scheduleReconnect();
  };
}

// scheduleReconnect waits an exponentially growing delay with full jitter over its upper half.
function scheduleReconnect() {
  if (reconnectTimer) return;
  const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** attempt);
  const delay = cap / 2 + Math.random() * cap / 2;
  attempt++;
  setConn("reconnecting", "in " + (delay / 1000).toFixed(1) + " s");
  reconnectTimer = setTimeout(connect, delay);
}

function send(obj) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(obj));
}

let nextID = 1;
const pending = new Map(); // request id -> symbols of a subscribe not yet answered

// subscribeAll subscribes the watched symbols not yet subscribed on this connection (all of them after a
// connect), resuming each book from the last seq held.
function subscribeAll(fresh) {
  if (fresh) {
    pending.clear();
    for (const st of symbols.values()) {
      st.subscribed = false;
      st.retryAt = 0;
    }
  }
  const now = Date.now();
  const syms = watched().filter((sym) => {
    const st = symbols.get(sym);
    return !st.subscribed && !(st.retryAt > now);
  });
  const resumed = subscribe(syms);
  if (fresh) $("conn-state").dataset.resumed = String(resumed);
}

// subscribe sends the book requests, resuming the books held, and one trades request for syms. It returns
// how many books it resumes.
function subscribe(syms) {
  if (syms.length === 0) return 0;
  const deep = syms.filter((sym) => sym === selected), rest = syms.filter((sym) => sym !== selected);
  const resumed = subscribeBooks(deep, SELECTED_DEPTH) + subscribeBooks(rest, DEPTH);
  request({ op: "subscribe", id: nextID++, channel: "trades", symbols: syms });
  return resumed;
}

// subscribeBooks sends one book request for syms at depth, resuming each book held at that same depth. A
// book held at another depth lacks levels the new view has (or has more than it keeps): it is replaced by
// an empty book of the new depth, and updates of the old view still in flight are ignored until the new
// view's snapshot. It returns how many books it resumes.
function subscribeBooks(syms, depth) {
  if (syms.length === 0) return 0;
  const resume = {};
  let resumed = 0;
  for (const sym of syms) {
    const st = symbols.get(sym);
    st.subscribed = true;
    st.resyncAt = st.retryAt = 0; // this request brings its snapshot
    if (st.book.depth !== depth) {
      st.book = new Book(sym, depth);
      st.hasBook = false;
    } else if (st.hasBook && st.seq > 0) {
      resume[sym] = st.seq;
      resumed++;
    }
  }
  const req = { op: "subscribe", id: nextID++, channel: "book", symbols: syms, depth };
  if (resumed > 0) req.resume = resume;
  request(req);
  return resumed;
}

function request(req) {
  pending.set(req.id, req.symbols);
  send(req);
}

// refused handles an error reply to a subscribe: the feed refuses a request whole when it names a symbol it
// does not know (yet: a node that just started is still reading its backlog). Its symbols are tried again
// later, one per request, each waiting longer after every refusal (1 s doubling to 30 s).
function refused(syms) {
  const now = Date.now();
  for (const sym of syms) {
    const st = symbols.get(sym);
    if (!st) continue;
    st.subscribed = false;
    st.retries = (st.retries || 0) + 1;
    st.retryAt = now + Math.min(30000, 1000 * 2 ** (st.retries - 1));
  }
}

// watched lists the symbols to subscribe: the first MAX_WATCH known, and the selected one.
function watched() {
  const out = [];
  for (const sym of symbols.keys()) {
    if (out.length >= MAX_WATCH) break;
    out.push(sym);
  }
  if (selected && symbols.has(selected) && !out.includes(selected)) out.push(selected);
  return out;
}

// resync drops a book that cannot be trusted and asks for a fresh snapshot.
// Resubscriptions go out at most every RESYNC_TICK_MS, batched, and a symbol that keeps failing waits
// longer each time (up to 30 s), so a persistent fault cannot flood the feed with requests.
function resync(st, why) {
  st.hasBook = false;
  st.resyncs++;
  st.failStreak = (st.failStreak || 0) + 1;
  st.resyncAt = Date.now() + (st.failStreak > 1 ? Math.min(30000, 500 * 2 ** (st.failStreak - 2)) : 0);
  lastError = st.sym + ": " + why + ", resubscribing";
  markDirty("markets", "header");
}

// flushResyncs sends the resubscriptions due, and the retries of refused subscriptions.
function flushResyncs() {
  const now = Date.now(), byDepth = new Map();
  for (const st of symbols.values()) {
    if (st.resyncAt && st.resyncAt <= now) {
      st.resyncAt = 0;
      if (st.subscribed) byDepth.set(st.book.depth, [...(byDepth.get(st.book.depth) || []), st.sym]);
    }
  }
  for (const [depth, syms] of byDepth) request({ op: "subscribe", id: nextID++, channel: "book", symbols: syms, depth });
  if (!ws || ws.readyState !== WebSocket.OPEN) return;
  for (const sym of watched()) {
    const st = symbols.get(sym);
    if (!st.subscribed && st.retryAt && st.retryAt <= now) subscribe([sym]);
  }
}

function handle(m) {
  switch (m.type) {
    case "snapshot":
    case "update":
    case "status": {
      const st = symbolState(m.symbol);
      switch (applyMessage(st, m)) {
        case "verified":
          checksumOk++;
          st.verified++;
          st.failStreak = 0;
          // A snapshot's time is its book's last change, maybe long ago: no latency sample.
          bookMessage(st, m, m.type === "update");
          if (m.type === "snapshot") markDirty("markets"); // its dot turns live at once
          break;
        case "status":
          markDirty("book", "markets", "header");
          break;
        case "gap":
          resync(st, m.type === "update" ? "gap: prev_seq " + m.prev_seq + " after seq " + st.seq : "gap");
          break;
        case "checksum":
          checksumBad++;
          st.mismatches++;
          resync(st, "checksum mismatch " + (m.type === "snapshot" ? "on a snapshot" : "at seq " + m.seq));
          break;
        default: // an update before the snapshot of a resubscription
      }
      break;
    }
    case "trade": {
      const st = symbolState(m.symbol);
      st.trades.push({ t: m.time, p: m.price, s: m.size, side: m.side });
      if (st.trades.length > TRADES_SHOWN) st.trades.splice(0, st.trades.length - TRADES_SHOWN);
      st.lastTrade = m;
      const pd = fracDigits(m.price);
      if (pd > st.pdp) st.pdp = Math.min(pd, 10);
      if (m.symbol === selected) {
        sampleLatency(m.time);
        markDirty("trades", "header");
      }
      break;
    }
    case "error":
      lastError = (m.code || "error") + ": " + (m.message || "");
      if (pending.has(m.id)) {
        refused(pending.get(m.id));
        pending.delete(m.id);
      }
      markDirty("header");
      break;
    case "subscribed":
      pending.delete(m.id);
      if (m.channel === "book") {
        if (attempt > 0) attempt = 0; // the link works again: the next backoff starts small
        for (const sym of m.symbols || []) if (symbols.has(sym)) symbols.get(sym).retries = 0;
      }
      break;
    default: // heartbeat, pong, unsubscribed
  }
}

function bookMessage(st, m, sample) {
  st.count++;
  st.bookDirty = true;
  if (st.sym === selected) {
    if (sample) sampleLatency(m.time);
    markDirty("book", "header");
  }
}

// sampleLatency records the feed latency of a message of the selected symbol with upstream time t, and
// queues its receipt for the render latency of the next frame.
function sampleLatency(t) {
  const ev = eventMillis(t);
  if (!isNaN(ev)) {
    feedLatency.push(Math.max(0, receivedAt - ev));
    if (feedLatency.length > LATENCY_SAMPLES) feedLatency.splice(0, feedLatency.length - LATENCY_SAMPLES);
  }
  pendingLatency.push(receivedAt);
}

// startSymbol picks the symbol shown first when the address names none: BTC if listed, else the most
// active (highest seq).
function startSymbol(list) {
  const btc = list.find((s) => /^BTC[-/_]?USD/i.test(s.symbol)) || list.find((s) => /^(X?BTC|XBT)/i.test(s.symbol));
  if (btc) return btc.symbol;
  let best = null;
  for (const s of list) if (!best || (s.seq || 0) > (best.seq || 0)) best = s;
  return best ? best.symbol : "";
}

// ---- symbols list and stats, over HTTP ----
async function loadSymbols() {
  try {
    const r = await fetch(apiURL("v1/symbols"), { cache: "no-store" });
    if (!r.ok) throw new Error("HTTP " + r.status);
    const j = await r.json();
    let added = false;
    for (const s of j.symbols || []) {
      const known = symbols.has(s.symbol);
      const st = symbolState(s.symbol);
      st.serverSeq = s.seq || 0;
      if (!st.hasBook && st.status === "unknown") st.status = s.status;
      if (!known) added = true;
    }
    if (!selected || !symbols.has(selected)) {
      const first = startSymbol(j.symbols || []);
      if (first) select(first);
    }
    if (added && ws && ws.readyState === WebSocket.OPEN) subscribeAll(false);
    $("markets-note").textContent = symbols.size + " symbols";
    markDirty("markets");
  } catch (e) {
    $("markets-note").textContent = "symbols unavailable";
  }
}

async function loadStats() {
  try {
    const r = await fetch(apiURL("v1/stats"), { cache: "no-store" });
    if (!r.ok) throw new Error("HTTP " + r.status);
    const s = await r.json();
    if (statsPrev && s.uptime_seconds > statsPrev.uptime_seconds) {
      statsRate = (s.messages_sent - statsPrev.messages_sent) / (s.uptime_seconds - statsPrev.uptime_seconds);
    } else {
      statsRate = null;
    }
    statsPrev = stats = s;
    statsError = "";
  } catch (e) {
    statsError = "unavailable";
  }
  markDirty("stats");
}

function select(sym) {
  if (!sym || sym === selected && symbols.has(sym)) return;
  const prev = selected && symbols.get(selected);
  selected = sym;
  pendingLatency = [];
  feedLatency.length = renderLatency.length = 0;
  if (location.hash.slice(1) !== encodeURIComponent(sym)) history.replaceState(null, "", "#" + encodeURIComponent(sym));
  const st = symbolState(sym);
  st.bookDirty = st.tradesDirty = true;
  if (ws && ws.readyState === WebSocket.OPEN) {
    // The symbol left goes back to the ladder's depth, the one selected gets the deep view.
    if (prev && prev.subscribed && prev.book.depth !== DEPTH) subscribeBooks([prev.sym], DEPTH);
    if (st.subscribed && st.book.depth !== SELECTED_DEPTH) subscribeBooks([sym], SELECTED_DEPTH);
    subscribeAll(false);
  }
  markDirty("book", "trades", "markets", "header");
}

// ---- DOM: built once, then only text and transforms change ----
const askRows = makeLadder($("asks"), DEPTH).reverse(); // askRows[0] is nearest the spread (bottom)
const bidRows = makeLadder($("bids"), DEPTH);

const tradeRows = [];
for (let i = 0; i < TRADES_SHOWN; i++) {
  const tr = document.createElement("tr");
  tr.innerHTML = '<td class="l"></td><td></td><td></td><td></td>';
  $("trade-rows").appendChild(tr);
  tradeRows.push({ tr, td: tr.children, key: "" });
}

function renderBook(st) {
  const book = $("book");
  const showBook = st && (st.hasBook || st.bids.length > 0);
  const step = st ? groupOf(st) : "";
  // A side cut at its view's depth may hold only part of its farthest bucket: that bucket is left out.
  const group = (side, bid) => groupSide(side, step, bid, st.pdp, st.sdp, side.length >= st.book.depth).slice(0, DEPTH);
  const bids = showBook ? group(st.bids, true) : [];
  const asks = showBook ? group(st.asks, false) : [];
  renderGroupChoices(st);
  const [bt, bm] = sideTotal(bids), [at, am] = sideTotal(asks);
  const maxSize = Math.max(bm, am), maxTotal = Math.max(bt, at);
  const dummy = { pdp: st ? st.pdp : 0, sdp: st ? st.sdp : 0 };
  drawSide(bidRows, bids, dummy, maxSize, maxTotal);
  drawSide(askRows, asks, dummy, maxSize, maxTotal);
  const stale = st && st.status === "stale";
  book.classList.toggle("stale", !!stale);
  book.dataset.levels = st ? st.bids.length + "," + st.asks.length : ""; // levels held a side, grouped or not
  const badge = $("book-status");
  const label = !st ? "—" : stale ? "STALE" : st.hasBook ? "LIVE" : "WAITING";
  setText(badge, label);
  badge.className = "badge " + (stale ? "stale" : st && st.hasBook ? "live" : "");
  setText($("book-seq"), st ? String(st.seq) : "0");
  setText($("book-rate"), st && st.rate != null ? String(st.rate) : "—");
  setText($("book-resyncs"), st ? String(st.resyncs) : "0");
  $("book-resyncs-note").hidden = !(st && st.resyncs > 0); // shown once the page has had to resynchronise
  const mo = st && midOf(st);
  if (mo) {
    setText($("spread-mid"), mo.mid.toFixed(Math.min(st.pdp + 1, 10)));
    setText($("spread-val"), "spread " + mo.spread.toFixed(st.pdp) + " · " + (mo.bps < 1 ? mo.bps.toPrecision(2) : mo.bps.toFixed(1)) + " bps");
  } else {
    setText($("spread-mid"), "—");
    setText($("spread-val"), st && !st.hasBook ? "waiting for a snapshot" : "—");
  }
  setText($("bid-notional"), bids.length ? fmtCompact(notional(bids)) : "—");
  setText($("ask-notional"), asks.length ? fmtCompact(notional(asks)) : "—");
  drawDepth(st, bids, asks);
}

// groupOf is the price increment the symbol's ladder and depth chart are grouped by: the one chosen for
// it, while its book offers it, else the tick.
function groupOf(st) {
  const steps = groupSteps(st.pdp);
  return steps.includes(st.group) ? st.group : steps[0];
}

let groupKey = "";
function renderGroupChoices(st) {
  const sel = $("group");
  const steps = st ? groupSteps(st.pdp) : [];
  const key = steps.join(",") + "/" + (st ? groupOf(st) : "");
  if (key === groupKey) return;
  groupKey = key;
  sel.replaceChildren(...steps.map((v, i) => {
    const o = document.createElement("option");
    o.value = v;
    o.textContent = i === 0 ? v + " (tick)" : v;
    return o;
  }));
  if (st) sel.value = groupOf(st);
}

function renderTrades(st) {
  const trades = st ? st.trades : [];
  for (let i = 0; i < tradeRows.length; i++) {
    const row = tradeRows[i], tr = trades[trades.length - 1 - i];
    const key = tr ? tr.t + tr.p + tr.s + tr.side : "";
    if (row.key === key) continue;
    row.key = key;
    if (!tr) {
      for (const td of row.td) td.textContent = "";
      row.tr.className = "";
      continue;
    }
    row.tr.className = tr.side;
    row.td[0].textContent = clock(tr.t);
    row.td[1].textContent = pad(tr.p, st.pdp);
    row.td[2].textContent = pad(tr.s, st.sdp);
    row.td[3].textContent = tr.side;
  }
}

const marketRows = new Map(); // symbol -> row
function renderMarkets() {
  const tbody = $("symbol-rows");
  for (const st of symbols.values()) {
    let r = marketRows.get(st.sym);
    if (!r) {
      const tr = document.createElement("tr");
      tr.innerHTML = '<td class="l"><span class="dot"></span><span></span></td><td></td><td></td><td></td><td></td>';
      tr.dataset.symbol = st.sym;
      tr.addEventListener("click", () => select(st.sym));
      tbody.appendChild(tr);
      r = { tr, dot: tr.children[0].children[0], name: tr.children[0].children[1], td: tr.children };
      r.name.textContent = st.sym;
      r.td[2].className = "ops";
      marketRows.set(st.sym, r);
    }
    const cls = st.status === "live" && st.hasBook ? "live" : st.status === "stale" ? "stale" : "";
    const dotCls = "dot " + cls;
    if (r.dot.className !== dotCls) r.dot.className = dotCls;
    r.tr.classList.toggle("sel", st.sym === selected);
    r.tr.hidden = !!filter && !st.sym.toLowerCase().includes(filter);
    const mo = midOf(st);
    setText(r.td[1], mo ? mo.mid.toFixed(Math.min(st.pdp + 1, 10)) : "—");
    setText(r.td[2], String(st.seq || st.serverSeq || 0));
    setText(r.td[3], st.rate != null ? String(st.rate) : "—");
    setText(r.td[4], st.mismatches ? st.verified + "/" + st.mismatches + "✗" : String(st.verified));
    r.td[4].className = st.mismatches ? "ops neg" : "ops";
  }
}

function renderHeader(st) {
  setText($("sym-title"), selected || "—");
  // Mid, spread and last are dimmed while the book is stale or not yet (re)built: they may be old.
  $("instrument").classList.toggle("stale", !!st && (st.status === "stale" || !st.hasBook));
  const mo = st && midOf(st);
  setText($("mid"), mo ? mo.mid.toFixed(Math.min(st.pdp + 1, 10)) : "—");
  setText($("spread"), mo ? mo.spread.toFixed(st.pdp) : "—");
  const lt = st && st.lastTrade;
  const last = $("last");
  setText(last, lt ? pad(lt.price, st.pdp) : "—");
  last.className = lt ? (lt.side === "buy" ? "pos" : "neg") : "";
  setText($("checksum-ok"), String(checksumOk));
  const bad = $("checksum-bad");
  setText(bad, String(checksumBad));
  bad.classList.toggle("bad", checksumBad > 0);
  setText($("reconnects"), String(reconnects));
  const pill = $("conn-state");
  if (pill.dataset.state !== connState) pill.dataset.state = connState;
  setText(pill, connState + (connDetail ? " " + connDetail : ""));
  setText($("last-error"), lastError);
  if (feedLatency.length) {
    setText($("latency-feed"), fmtMs(feedLatency[feedLatency.length - 1]) + " · p95 " + fmtMs(percentile(feedLatency, 0.95)));
  }
  if (renderLatency.length) {
    setText($("latency-render"), fmtMs(renderLatency[renderLatency.length - 1]) + " · p95 " + fmtMs(percentile(renderLatency, 0.95)));
  }
}

function fmtMs(v) {
  return (v < 10 ? v.toFixed(1) : String(Math.round(v))) + " ms";
}

const closeRows = new Map();
function renderStats() {
  const s = stats;
  setText($("stats-age"), statsError || (s ? "up " + fmtDuration(s.uptime_seconds) : ""));
  if (!s) return;
  setText($("st-connections"), fmtInt(s.connections));
  setText($("st-subscriptions"), fmtInt(s.subscriptions));
  setText($("st-rate"), statsRate == null ? "—" : fmtInt(statsRate));
  setText($("st-messages"), fmtInt(s.messages_sent));
  setText($("st-queued"), fmtBytes(s.bytes_queued));
  setText($("st-slow"), fmtInt(s.slow_consumers));
  setText($("st-live"), fmtInt(s.symbols.live));
  setText($("st-stale"), fmtInt(s.symbols.stale));
  $("st-slow").className = s.slow_consumers > 0 ? "neg" : "";
  $("st-stale").className = s.symbols.stale > 0 ? "neg" : "";
  const tbody = $("close-rows");
  if ((s.closes || []).length > 0 && tbody.querySelector(".empty")) tbody.querySelector(".empty").remove();
  for (const c of s.closes || []) {
    const key = c.reason + "/" + c.code;
    let tr = closeRows.get(key);
    if (!tr) {
      tr = document.createElement("tr");
      tr.innerHTML = '<td class="l"></td><td></td><td></td>';
      tr.children[0].textContent = c.reason.replace(/_/g, " ");
      tr.children[1].textContent = String(c.code);
      tbody.appendChild(tr);
      closeRows.set(key, tr);
    }
    setText(tr.children[2], fmtInt(c.count));
  }
}
const drawDepth = depthChart($("depth-canvas"), () => markDirty("book"), (text) => setText($("depth-readout"), text));

function render() {
  frameQueued = false;
  const st = selected ? symbols.get(selected) : null;
  if (pendingLatency.length) {
    const now = Date.now();
    for (const t of pendingLatency) renderLatency.push(Math.max(0, now - t));
    pendingLatency = [];
    if (renderLatency.length > LATENCY_SAMPLES) renderLatency.splice(0, renderLatency.length - LATENCY_SAMPLES);
    dirty.header = true;
  }
  if (dirty.book) {
    dirty.book = false;
    if (st) st.bookDirty = false;
    renderBook(st);
  }
  if (dirty.trades) {
    dirty.trades = false;
    renderTrades(st);
  }
  if (dirty.markets) {
    dirty.markets = false;
    renderMarkets();
  }
  if (dirty.header) {
    dirty.header = false;
    renderHeader(st);
  }
  if (dirty.stats) {
    dirty.stats = false;
    renderStats();
  }
}

// ---- timers ----
setInterval(() => { // rates, once a second
  for (const st of symbols.values()) {
    st.rate = st.count;
    st.count = 0;
  }
  markDirty("markets", "book");
}, 1000);
setInterval(() => { // the link is silent past several heartbeats: drop it and reconnect
  if (ws && ws.readyState === WebSocket.OPEN && Date.now() - lastMessageAt > STALE_LINK_MS) {
    lastError = "no message for " + STALE_LINK_MS / 1000 + " s";
    ws.close();
  }
}, 1000);
setInterval(flushResyncs, RESYNC_TICK_MS);
setInterval(loadSymbols, 5000);
setInterval(loadStats, 2000);
window.addEventListener("hashchange", () => select(decodeURIComponent(location.hash.slice(1))));

// ---- controls: symbol search, grouping, tabs (phone width), ops panels ----
let filter = "";
$("sym-search").addEventListener("input", (ev) => {
  filter = ev.target.value.trim().toLowerCase();
  markDirty("markets");
});
$("sym-search").addEventListener("keydown", (ev) => {
  if (ev.key !== "Enter") return;
  const hit = [...symbols.keys()].find((s) => s.toLowerCase().includes(filter));
  if (hit) select(hit);
});
$("group").addEventListener("change", (ev) => {
  const st = selected && symbols.get(selected);
  if (!st) return;
  st.group = ev.target.value;
  markDirty("book");
});
for (const b of document.querySelectorAll("#tabs button")) {
  b.addEventListener("click", () => {
    document.body.dataset.tab = b.dataset.tab;
    for (const o of document.querySelectorAll("#tabs button")) o.setAttribute("aria-selected", String(o === b));
    markDirty("book");
  });
}
function setOps(shown) {
  document.body.classList.toggle("ops-hidden", !shown);
  $("ops-toggle").setAttribute("aria-pressed", String(shown));
  $("ops-toggle").textContent = shown ? "Hide ops" : "Show ops";
  try { localStorage.setItem("depthcast.ops", shown ? "1" : "0"); } catch (e) { /* storage off */ }
  markDirty("book");
}
$("ops-toggle").addEventListener("click", () => setOps(document.body.classList.contains("ops-hidden")));
{
  let saved = null;
  try { saved = localStorage.getItem("depthcast.ops"); } catch (e) { /* storage off */ }
  setOps(saved !== "0");
}

loadSymbols().then(connect);
loadStats();
markDirty("book", "trades", "markets", "header", "stats");
