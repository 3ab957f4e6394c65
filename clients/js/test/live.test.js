// Against a live `depthcast demo` node started by the test: real TCP WebSocket connections.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import WebSocket from "ws";
import { Client, PolicyError, TryAgainError } from "../dist/index.js";

const repo = new URL("../../../", import.meta.url).pathname;
const bin = join(mkdtempSync(join(tmpdir(), "depthcast-js-")), "depthcast");
execFileSync("go", ["build", "-o", bin, "./cmd/depthcast"], { cwd: repo, stdio: "inherit" });

const nodes = [];
after(() => nodes.forEach((p) => p.kill("SIGTERM")));

/** demo starts a node on a free port and resolves with its base URL once it is serving. */
function demo(...args) {
  const p = spawn(bin, ["demo", "--listen", "127.0.0.1:0", "--symbols", "3", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  nodes.push(p);
  p.stderr.resume();
  return new Promise((resolve, reject) => {
    let out = "";
    p.stdout.on("data", (d) => {
      out += d;
      const m = /websocket\s+ws:\/\/(\S+)\/ws/.exec(out);
      if (m) resolve(`127.0.0.1:${m[1].split(":")[1]}`);
    });
    p.on("exit", (c) => reject(new Error(`demo exited ${c}`)));
  });
}

const waitFor = async (what, cond, ms = 60000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

const node = await demo("--rate", "400");

test("books equal GET /v1/book at the same seq, checksum verified on every message", async () => {
  const subs = [{ depth: 1 }, { depth: 10 }, { depth: 25 }, { depth: 0 }, { depth: 10, intervalMs: 100 }];
  const clients = [];
  let matched = 0;
  for (const sub of subs) {
    const c = new Client({ url: `ws://${node}/ws`, WebSocket, heartbeatTimeoutMs: 30000 });
    const history = new Map(); // seq → book levels as the client held them
    c.on((ev) => {
      if (ev.type === "book" && ev.symbol === "BTC-USD") {
        history.set(ev.book.seq, JSON.stringify([ev.book.bids(), ev.book.asks()]));
        if (history.size > 5000) history.delete(history.keys().next().value);
      }
    });
    await c.connect();
    c.subscribeBook(["BTC-USD", "ETH-USD"], sub);
    clients.push({ c, sub, history });
  }
  await waitFor("books", () => clients.every(({ c }) => c.book("BTC-USD").synced));
  // Poll the HTTP book until every subscription has matched it at several seqs.
  for (const { c, sub, history } of clients) {
    let n = 0;
    for (let i = 0; n < 3 && i < 500; i++) {
      const depth = sub.depth === 0 ? 1000 : sub.depth;
      const r = await (await fetch(`http://${node}/v1/book/BTC-USD?depth=${depth}`)).json();
      await waitFor("client past the HTTP seq", () => c.book("BTC-USD").seq >= r.seq, 10000).catch(() => {});
      const got = history.get(r.seq);
      if (got === undefined) continue; // conflated or not a book seq of this view
      assert.equal(got, JSON.stringify([r.bids, r.asks]), `depth ${sub.depth} seq ${r.seq}`);
      n++;
    }
    assert.ok(n >= 3, `depth ${sub.depth}/${sub.intervalMs ?? 0}: only ${n} seqs matched`);
    matched += n;
  }
  await waitFor("messages", () => clients.every(({ c }) => c.stats.verified > 100));
  for (const { c, sub } of clients) {
    assert.equal(c.stats.resyncs, 0, `depth ${sub.depth}: resyncs`);
    assert.equal(c.fatal, undefined);
    console.log(
      `depth ${sub.depth} interval ${sub.intervalMs ?? 0}: ${c.stats.verified} book messages verified`,
    );
    c.close();
  }
  assert.ok(matched >= 15);
});

test("message flood: 1008 surfaces as PolicyError and the client stops", async () => {
  const c = new Client({ url: `ws://${node}/ws`, WebSocket });
  await c.connect();
  const closed = new Promise((r) => c.on((ev) => ev.type === "close" && r(ev)));
  for (let i = 0; i < 500; i++) c.subscribeTrades(["BTC-USD"]);
  const ev = await closed;
  assert.ok(ev.error instanceof PolicyError, String(ev.error));
  assert.equal(ev.retryInMs, undefined);
  assert.equal(c.fatal, ev.error);
  assert.equal(c.stats.reconnects, 0);
});

test("slow consumer: 1013 surfaces as TryAgainError and the client backs off and reconnects", async () => {
  const small = await demo(
    "--rate",
    "2000",
    "--levels",
    "200",
    "--send-queue-messages",
    "16",
    "--send-queue-bytes",
    "4096",
  );
  const c = new Client({ url: `ws://${small}/ws`, WebSocket, tryAgainMinMs: 200 });
  const events = [];
  c.on((ev) => ev.type === "close" && events.push(ev));
  await c.connect();
  c.subscribeBook(["BTC-USD", "ETH-USD", "SOL-USD"], { depth: 0 });
  c.subscribeTrades(["BTC-USD", "ETH-USD", "SOL-USD"]);
  // Stall the reader (the stall is the test's input, not a wait): the node's queue for it overflows,
  // and the 1013 close waits behind the data already in the socket until the reader resumes.
  c.ws._socket.pause();
  await new Promise((r) => setTimeout(r, 2000));
  c.ws._socket.resume();
  await waitFor("a 1013 close", () => events.length > 0);
  assert.ok(events[0].error instanceof TryAgainError, String(events[0].error));
  assert.ok(events[0].retryInMs >= 200);
  await waitFor("a reconnect", () => c.stats.reconnects > 0);
  c.close();
});

test("reconnect resumes the book: the chain continues after the reconnect with no snapshot", async () => {
  const c = new Client({ url: `ws://${node}/ws`, WebSocket, backoffInitialMs: 50 });
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
  c.close();
});

test("heartbeat timeout: a silent connection is dropped and redialled", async () => {
  const c = new Client({ url: `ws://${node}/ws`, WebSocket, heartbeatTimeoutMs: 300, backoffInitialMs: 50 });
  const closes = [];
  c.on((ev) => ev.type === "close" && closes.push(ev));
  await c.connect(); // no subscription: only heartbeats (every 5 s) would arrive
  await waitFor("a reconnect", () => c.stats.reconnects > 0);
  assert.equal(closes[0].error.code, 4000);
  c.close();
});
