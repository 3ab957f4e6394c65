// Against live depthcast nodes started by the test: real TCP WebSocket connections. Every client is closed
// when its test ends, passed or failed, and every node when the file ends (test/nodes.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import WebSocket from "ws";
import { Client, FeedError, HEARTBEAT_TIMEOUT_CODE, PolicyError, TryAgainError } from "../dist/index.js";
import { bin, demo, kcatOr, produce, proxy, serve, waitFor } from "./nodes.js";

/** RecordingWebSocket is the `ws` WebSocket keeping every request the client sends, for the assertions. */
class RecordingWebSocket extends WebSocket {
  send(data, ...rest) {
    sent.push(JSON.parse(data));
    return super.send(data, ...rest);
  }
}
let sent = [];

/** client makes a Client that the test closes when it ends. */
function client(t, opts) {
  const c = new Client({ WebSocket, ...opts });
  t.after(() => c.close());
  return c;
}

/** history keeps the levels a client's book held at each seq of a symbol (the last 5000). */
function history(c, symbol) {
  const h = new Map();
  c.on((ev) => {
    if (ev.type === "book" && ev.symbol === symbol) {
      h.set(ev.book.seq, JSON.stringify([ev.book.bids(), ev.book.asks()]));
      if (h.size > 5000) h.delete(h.keys().next().value);
    }
  });
  return h;
}

/**
 * matchHTTP reads GET /v1/book until the client's book has equalled the node's at `want` seqs of its view
 * (a conflated view skips seqs: those are not compared). It returns how many matched.
 */
async function matchHTTP(node, c, h, symbol, depth, want) {
  let n = 0;
  for (let i = 0; n < want && i < 500; i++) {
    const r = await node.json(`/v1/book/${symbol}?depth=${depth === 0 ? 1000 : depth}`);
    await waitFor("the client past the HTTP seq", () => c.book(symbol).seq >= r.seq, 10000);
    const got = h.get(r.seq);
    if (got === undefined) continue;
    assert.equal(got, JSON.stringify([r.bids, r.asks]), `depth ${depth} seq ${r.seq}`);
    n++;
  }
  return n;
}

const node = await demo("--rate", "400");

test("books equal GET /v1/book at the same seq, checksum verified on every message", async (t) => {
  const subs = [{ depth: 1 }, { depth: 10 }, { depth: 25 }, { depth: 0 }, { depth: 10, intervalMs: 100 }];
  const runs = [];
  for (const sub of subs) {
    const c = client(t, { url: node.ws, heartbeatTimeoutMs: 30000 });
    const h = history(c, "BTC-USD");
    await c.connect();
    c.subscribeBook(["BTC-USD", "ETH-USD"], sub);
    runs.push({ c, sub, h });
  }
  await waitFor("books", () => runs.every(({ c }) => c.book("BTC-USD").synced));
  let matched = 0;
  for (const { c, sub, h } of runs) {
    const n = await matchHTTP(node, c, h, "BTC-USD", sub.depth, 3);
    assert.ok(n >= 3, `depth ${sub.depth}/${sub.intervalMs ?? 0}: only ${n} seqs matched`);
    matched += n;
  }
  await waitFor("messages", () => runs.every(({ c }) => c.stats.verified > 100));
  for (const { c, sub } of runs) {
    assert.equal(c.stats.resyncs, 0, `depth ${sub.depth}: resyncs`);
    assert.equal(c.fatal, undefined);
    console.log(
      `depth ${sub.depth} interval ${sub.intervalMs ?? 0}: ${c.stats.verified} book messages verified`,
    );
  }
  assert.ok(matched >= 15);
});

test("message flood: 1008 surfaces as PolicyError and the client stops", async (t) => {
  const c = client(t, { url: node.ws });
  await c.connect();
  const closed = new Promise((r) => c.on((ev) => ev.type === "close" && r(ev)));
  for (let i = 0; i < 500; i++) c.subscribeTrades(["BTC-USD"]);
  const ev = await closed;
  assert.ok(ev.error instanceof PolicyError, String(ev.error));
  assert.equal(ev.retryInMs, undefined);
  assert.equal(c.fatal, ev.error);
  assert.equal(c.stats.reconnects, 0);
  console.log(`1008 surfaced as PolicyError: ${ev.error.reason}`);
});

test("slow consumer: 1013 surfaces as TryAgainError and the client backs off and reconnects", async (t) => {
  // A queue of 256 KiB: half a second of this flow, so a busy machine's scheduling delays never fill it,
  // only a reader that stopped.
  const small = await demo("--rate", "3000", "--send-queue-bytes", "262144");
  t.after(() => small.stop());
  // The client reaches the node through a proxy that the test stalls: the node sees a reader that stopped.
  const via = await proxy(small.addr);
  // No heartbeat timeout while the reader is stalled: the node's close is what the test waits for.
  const c = client(t, { url: `ws://${via.addr}/ws`, tryAgainMinMs: 200, heartbeatTimeoutMs: 600000 });
  const closes = [];
  c.on((ev) => ev.type === "close" && closes.push(ev));
  await c.connect();
  c.subscribeBook(["BTC-USD", "ETH-USD", "SOL-USD"], { depth: 0 });
  c.subscribeTrades(["BTC-USD", "ETH-USD", "SOL-USD"]);
  await waitFor("the first books", () => c.stats.verified >= 3);
  // Stall the reader until the node has decided to close the connection as a slow consumer: its queue
  // overflows only once the socket buffers on both sides are full, however long that takes. The close
  // frame waits behind the data already in the socket, for the write timeout (10 s) from that decision.
  const before = (await small.json("/v1/stats")).slow_consumers;
  const seen = closes.length;
  via.stall();
  try {
    await waitFor(
      "the node to close a slow consumer",
      async () => (await small.json("/v1/stats")).slow_consumers > before,
      120000,
    );
  } finally {
    via.resume();
  }
  await waitFor("the close", () => closes.length > seen, 30000);
  const ev = closes[seen];
  assert.ok(ev.error instanceof TryAgainError, String(ev.error));
  assert.equal(ev.error.code, 1013);
  assert.match(ev.error.reason, /slow consumer|write timeout/);
  assert.ok(ev.retryInMs >= 200);
  await waitFor("a reconnect", () => c.stats.reconnects > 0);
  console.log(`1013 surfaced as TryAgainError: ${ev.error.reason}; reconnected`);
});

test("reconnect resumes the book: the chain continues after the reconnect with no snapshot", async (t) => {
  const c = client(t, { url: node.ws, backoffInitialMs: 50 });
  const after = [];
  let reconnected = false;
  c.on((ev) => {
    if (ev.type === "open" && c.stats.reconnects > 0) reconnected = true;
    if (ev.type === "book" && reconnected) after.push(ev.message);
  });
  await c.connect();
  c.subscribeBook(["BTC-USD"], { depth: 10 });
  await waitFor("book", () => c.stats.verified > 20);
  c.ws.close(1000, "test drops the connection"); // the client did not ask to stop: it reconnects
  await waitFor("messages after the reconnect", () => after.length > 20);
  assert.equal(after[0].type, "update", "resumed with an update, not a snapshot");
  assert.equal(c.stats.resyncs, 0);
});

test("node restart: 1001, reconnect to the new node on the same address, resume, books equal its own", async (t) => {
  const first = await serve(node.broker);
  t.after(() => first.stop());
  await first.caughtUp();
  sent = [];
  const c = client(t, {
    url: first.ws,
    WebSocket: RecordingWebSocket,
    backoffInitialMs: 50,
    backoffMaxMs: 400,
  });
  const h = history(c, "BTC-USD");
  const closes = [];
  const afterRestart = [];
  const events = []; // what the client went through besides books, for the failure message
  c.on((ev) => {
    if (ev.type === "close") closes.push(ev);
    if (ev.type === "book" && closes.length > 0) afterRestart.push(ev.message);
    if (ev.type !== "book" && ev.type !== "trade")
      events.push(`${ev.type} ${ev.symbol ?? ""} ${ev.error ?? ""}`);
  });
  await c.connect();
  c.subscribeBook(["BTC-USD", "ETH-USD"], { depth: 10 });
  c.subscribeTrades(["BTC-USD"]);
  await waitFor("books before the restart", () => c.stats.verified > 50);
  await first.stop(); // drains: the client gets 1001
  await waitFor("the client to see the close", () => closes.length > 0);
  const held = c.book("BTC-USD").seq;
  assert.equal(closes[0]?.error.code, 1001, String(closes[0]?.error));
  const second = await serve(node.broker, first.addr);
  t.after(() => second.stop());
  // The new node reads the demo's retained stream before it serves resumes past its books: on a busy
  // machine that takes a while.
  await waitFor(
    "books from the new node",
    () => ["BTC-USD", "ETH-USD"].every((s) => afterRestart.filter((m) => m.symbol === s).length > 20),
    120000,
  ).catch((e) => {
    throw new Error(
      `${e.message}; client: ${events.slice(-20).join(" | ")}; node: ${second.log.slice(-2000)}`,
    );
  });
  const resumed = sent.filter((m) => m.op === "subscribe" && m.channel === "book" && m.resume);
  assert.ok(resumed.length > 0, "no subscribe with resume after the restart");
  assert.ok(resumed[0].resume["BTC-USD"] >= held, JSON.stringify(resumed[0]));
  assert.equal(c.stats.resyncs, 0);
  assert.equal(c.fatal, undefined);
  assert.ok((await matchHTTP(second, c, h, "BTC-USD", 10, 3)) >= 3);
  const firstBTC = afterRestart.find((m) => m.symbol === "BTC-USD");
  console.log(
    `restart: resumed BTC-USD from seq ${resumed[0].resume["BTC-USD"]}; the new node continued with ` +
      `${firstBTC.type === "update" ? `an update (prev_seq ${firstBTC.prev_seq})` : `a snapshot at ${firstBTC.seq}`}; ` +
      `${c.stats.verified} book messages verified in all`,
  );
});

test("gap injected upstream: status stale, then live and a fresh snapshot, verified", async (t) => {
  if (!kcatOr(t)) return;
  const sym = "GAPJS-USD";
  const now = () => new Date().toISOString();
  const ev = (o) => ({ symbol: sym, time: now(), ...o });
  produce(
    node.broker,
    ev({
      type: "snapshot",
      seq: 1,
      bids: [
        ["100", "1"],
        ["99.5", "2"],
      ],
      asks: [["101", "1"]],
    }),
  );
  await waitFor("the symbol on the node", async () =>
    (await node.json("/v1/symbols")).symbols.some((s) => s.symbol === sym && s.status === "live"),
  );
  const c = client(t, { url: node.ws });
  const events = [];
  c.on((e) => (e.type === "book" || e.type === "status" || e.type === "resync") && events.push(e));
  await c.connect();
  c.subscribeBook([sym], { depth: 10 });
  await waitFor("the snapshot", () => c.book(sym).seq === 1);
  produce(node.broker, ev({ type: "delta", seq: 2, bids: [["100", "1.5"]], asks: [] }));
  await waitFor("the update", () => c.book(sym).seq === 2);
  produce(node.broker, ev({ type: "delta", seq: 4, bids: [["99", "7"]], asks: [] })); // seq 3 never comes
  await waitFor("status stale", () => events.some((e) => e.type === "status" && e.status === "stale"));
  assert.equal(c.book(sym).status, "stale");
  assert.equal(c.book(sym).seq, 2, "nothing applied after the gap");
  produce(
    node.broker,
    ev({
      type: "snapshot",
      seq: 5,
      bids: [
        ["100.25", "3"],
        ["100", "1"],
      ],
      asks: [
        ["101", "2"],
        ["101.5", "4"],
      ],
    }),
  );
  await waitFor("the fresh snapshot", () => c.book(sym).seq === 5);
  const tail = events.slice(events.findIndex((e) => e.type === "status" && e.status === "stale"));
  assert.deepEqual(
    tail.map((e) => (e.type === "book" ? `${e.message.type} ${e.message.seq}` : `${e.type} ${e.status}`)),
    ["status stale", "status live", "snapshot 5"],
  );
  const b = c.book(sym);
  assert.equal(b.status, "live");
  assert.deepEqual(b.bids(), [
    ["100.25", "3"],
    ["100", "1"],
  ]);
  assert.deepEqual(b.asks(), [
    ["101", "2"],
    ["101.5", "4"],
  ]);
  const r = await node.json(`/v1/book/${sym}?depth=10`);
  assert.equal(r.seq, 5);
  assert.deepEqual([b.bids(), b.asks()], [r.bids, r.asks]);
  assert.equal(c.stats.resyncs, 0);
});

test("token: Authorization header (Node) and ?token= (browsers); a symbol the key may not see is refused", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "depthcast-js-keys-"));
  const out = execFileSync(bin, ["keygen", "--name", "js", "--symbols", "BTC-USD"], { encoding: "utf8" });
  const key = out.split("\n").find((l) => l.startsWith("dck_"));
  writeFileSync(join(dir, "keys"), out.split("\n").find((l) => l.startsWith("sha256:")) + "\n");
  const auth = await serve(node.broker, "127.0.0.1:0", "--auth-keys", join(dir, "keys"));
  t.after(() => auth.stop());
  await auth.caughtUp();
  await waitFor("BTC-USD on the node", async () => {
    const r = await fetch(`${auth.http}/v1/symbols`, { headers: { Authorization: `Bearer ${key}` } });
    return r.ok && (await r.text()).includes('"BTC-USD"');
  });
  for (const tokenIn of ["header", "query"]) {
    const c = client(t, { url: auth.ws, token: key, tokenIn });
    const errors = [];
    c.on((e) => e.type === "error" && errors.push(e.error));
    await c.connect();
    c.subscribeBook(["BTC-USD"], { depth: 5 });
    await waitFor(`a verified book (token in the ${tokenIn})`, () => c.stats.verified > 3);
    c.subscribeBook(["ETH-USD"], { depth: 5 });
    await waitFor("the refusal", () => errors.length > 0);
    assert.ok(errors[0] instanceof FeedError && errors[0].code === "unauthorized", String(errors[0]));
    c.close();
  }
});

test("heartbeat timeout: a silent connection is dropped and redialled", async (t) => {
  const c = client(t, { url: node.ws, heartbeatTimeoutMs: 300, backoffInitialMs: 50 });
  const closes = [];
  c.on((ev) => ev.type === "close" && closes.push(ev));
  await c.connect(); // no subscription: only heartbeats (every 5 s) would arrive
  await waitFor("a reconnect", () => c.stats.reconnects > 0);
  assert.equal(closes[0].error.code, HEARTBEAT_TIMEOUT_CODE);
  assert.equal(closes[0].error.reason, "heartbeat timeout");
});
