// The client's resync, restore and close-code handling against a scripted WebSocket server (real TCP, the
// `ws` package's server), fed with the shared vectors.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import WebSocket, { WebSocketServer } from "ws";
import { Client, FeedCloseError, PolicyError, TryAgainError, checksum } from "../dist/index.js";
import { waitFor } from "./wait.js";

const { sequences } = JSON.parse(
  readFileSync(new URL("../../../testdata/vectors/sequences.json", import.meta.url), "utf8"),
);
const vector = (name) => sequences.find((s) => s.name === name);

/**
 * server starts a scripted server: script(ws, n, requests) runs for the n-th connection (0 first), with the
 * list its requests arrive in. It is closed when the test ends.
 */
async function server(t, script) {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise((r) => wss.once("listening", r));
  const requests = [];
  let n = 0;
  wss.on("connection", (ws) => {
    const mine = [];
    ws.on("message", (d) => {
      const req = JSON.parse(String(d));
      requests.push(req);
      mine.push(req);
      ws.emit("request", req);
    });
    script(ws, n++, mine);
  });
  t.after(() => {
    for (const c of wss.clients) c.terminate();
    return new Promise((r) => wss.close(r));
  });
  return { url: `ws://127.0.0.1:${wss.address().port}/ws`, requests, connections: () => n };
}

function client(t, opts) {
  const c = new Client({
    WebSocket,
    heartbeatTimeoutMs: 60000,
    backoffInitialMs: 20,
    backoffMaxMs: 100,
    ...opts,
  });
  t.after(() => c.close());
  return c;
}

const nextRequest = (ws) => new Promise((r) => ws.once("request", r));

test("a gap resubscribes that symbol alone, without resume, and the fresh snapshot is verified", async (t) => {
  const seq = vector("gap_missing_update");
  const msgs = seq.steps.map((s) => JSON.stringify(s.message));
  const srv = await server(t, (ws) => {
    ws.on("request", (req) => {
      if (req.op !== "subscribe") return;
      if (srv.requests.filter((r) => r.op === "subscribe").length === 1) msgs.forEach((m) => ws.send(m));
      else ws.send(msgs[0]); // the snapshot of the resubscribe
    });
  });
  const c = client(t, { url: srv.url });
  const events = [];
  c.on((ev) => events.push(ev));
  await c.connect();
  c.subscribeBook([seq.symbol, "OTHER-USD"], { depth: seq.depth });
  await waitFor(
    "the snapshot after the resync",
    () => events.some((e) => e.type === "resync") && c.book(seq.symbol).synced,
  );
  const resync = events.find((e) => e.type === "resync");
  assert.equal(resync.error.kind, "gap");
  assert.equal(resync.symbol, seq.symbol);
  const again = srv.requests.slice(1);
  assert.deepEqual(
    again.map((r) => [r.op, r.symbols, r.resume]),
    [
      ["unsubscribe", [seq.symbol], undefined],
      ["subscribe", [seq.symbol], undefined],
    ],
  );
  assert.equal(c.stats.reconnects, 0);
  assert.equal(c.book(seq.symbol).seq, seq.steps[0].message.seq);
  // Each book event carries the top of book as of its own message.
  const books = events.filter((e) => e.type === "book");
  const expects = seq.steps.filter((s) => s.expect).map((s) => s.expect);
  for (const [i, x] of expects.entries()) {
    assert.equal(books[i].seq, x.seq);
    assert.deepEqual(books[i].bestBid, x.bids[0]);
    assert.deepEqual(books[i].bestAsk, x.asks[0]);
  }
});

test("a restore the feed refuses as unknown_symbol is sent again after a backoff", async (t) => {
  const seq = vector("resume");
  const cut = seq.steps.findIndex((s) => s.reconnect);
  const first = seq.steps.slice(0, cut).map((s) => JSON.stringify(s.message));
  const rest = seq.steps.slice(cut + 1).map((s) => JSON.stringify(s.message));
  const srv = await server(t, async (ws, n) => {
    const req = await nextRequest(ws);
    if (n === 0) {
      first.forEach((m) => ws.send(m));
      ws.close(1001, "server draining");
      return;
    }
    // A node still reading its backlog: it does not know the symbol yet.
    ws.send(JSON.stringify({ type: "error", id: req.id, code: "unknown_symbol", message: "no such symbol" }));
    const retry = await nextRequest(ws);
    assert.deepEqual(retry.resume, { [seq.symbol]: seq.steps[cut].reconnect.resume });
    rest.forEach((m) => ws.send(m));
  });
  const c = client(t, { url: srv.url });
  const errors = [];
  c.on((ev) => ev.type === "error" && errors.push(ev));
  await c.connect();
  c.subscribeBook([seq.symbol], { depth: seq.depth });
  const last = seq.steps.at(-1).expect;
  await waitFor("the resumed book", () => c.book(seq.symbol).seq === last.seq);
  assert.equal(c.book(seq.symbol).checksum(), last.checksum);
  assert.equal(errors.length, 1);
  assert.equal(errors[0].error.code, "unknown_symbol");
  assert.ok(errors[0].retryInMs > 0);
  assert.equal(c.fatal, undefined);
});

// A restore refused for one of its symbols: the node names the symbol (it is still catching up to the seq the
// client holds), before or after its "subscribed" reply, or refuses the whole request. Only the refused
// symbols are sent again, with a backoff that grows while the refusals go on, and resume where they were.
const book = (symbol, seq, bid, ask) => {
  const bids = [[bid, "1"]];
  const asks = [[ask, "1"]];
  return {
    type: "snapshot",
    channel: "book",
    symbol,
    seq,
    time: "2026-12-07T00:00:00Z",
    bids,
    asks,
    checksum: checksum(bids, asks, 10),
  };
};
const update = (symbol, seq, bid, ask) => {
  const bids = [[bid, "2"]]; // the bid's size goes to 2; the ask stays
  return {
    ...book(symbol, seq, bid, ask),
    type: "update",
    prev_seq: seq - 1,
    bids,
    asks: [],
    checksum: checksum(bids, [[ask, "1"]], 10),
  };
};
const partialRefusals = [
  { name: "the error names ETH-USD before subscribed", order: "before", retried: ["ETH-USD"] },
  { name: "the error names ETH-USD after subscribed", order: "after", retried: ["ETH-USD"] },
  { name: "the error names no symbol: the whole request", order: "whole", retried: ["BTC-USD", "ETH-USD"] },
];
for (const { name, order, retried } of partialRefusals) {
  test(`a restore refused as unavailable, ${name}: only the refused symbols are retried`, async (t) => {
    const syms = ["BTC-USD", "ETH-USD"];
    const prices = { "BTC-USD": ["100", "101"], "ETH-USD": ["10", "11"] };
    const retries = [];
    const srv = await server(t, async (ws, n) => {
      const req = await nextRequest(ws);
      if (n === 0) {
        ws.send(
          JSON.stringify({
            type: "subscribed",
            id: req.id,
            channel: "book",
            symbols: syms,
            depth: 10,
            interval_ms: 0,
          }),
        );
        for (const s of syms) ws.send(JSON.stringify(book(s, 5, ...prices[s])));
        ws.close(1001, "server draining");
        return;
      }
      const refuse = (id, symbol) =>
        ws.send(
          JSON.stringify({
            type: "error",
            id,
            ...(symbol && { symbol }),
            code: "unavailable",
            message: "catching up",
          }),
        );
      const subscribed = (id, symbols) =>
        ws.send(
          JSON.stringify({ type: "subscribed", id, channel: "book", symbols, depth: 10, interval_ms: 0 }),
        );
      assert.deepEqual(req.resume, { "BTC-USD": 5, "ETH-USD": 5 });
      if (order === "before") {
        refuse(req.id, "ETH-USD");
        subscribed(req.id, ["BTC-USD"]);
      } else if (order === "after") {
        subscribed(req.id, syms);
        refuse(req.id, "ETH-USD");
      } else refuse(req.id);
      // Each refused symbol comes back alone; ETH-USD is refused twice more before the node serves it.
      let ethRefusals = 0;
      ws.on("request", (r) => {
        if (r.op !== "subscribe") return;
        retries.push(r);
        const [s] = r.symbols;
        if (s === "ETH-USD" && ethRefusals++ < 2) return refuse(r.id, s);
        subscribed(r.id, [s]);
        ws.send(JSON.stringify(update(s, 6, ...prices[s])));
      });
    });
    const c = client(t, { url: srv.url, backoffInitialMs: 20, backoffMaxMs: 1000 });
    const errors = [];
    c.on((ev) => ev.type === "error" && errors.push(ev));
    await c.connect();
    c.subscribeBook(syms, { depth: 10 });
    await waitFor("both books at seq 5", () => syms.every((s) => c.book(s).seq === 5));
    await waitFor("the refused books at seq 6", () => retried.every((s) => c.book(s).seq === 6));
    assert.deepEqual([...new Set(retries.map((r) => r.symbols.join(",")))].sort(), retried);
    for (const r of retries) assert.deepEqual(r.resume, { [r.symbols[0]]: 5 }, JSON.stringify(r));
    assert.equal(retries.filter((r) => r.symbols[0] === "ETH-USD").length, 3);
    for (const s of syms) assert.ok(c.book(s).synced, s);
    if (!retried.includes("BTC-USD")) assert.equal(c.book("BTC-USD").seq, 5);
    // The refusals of ETH-USD in a row: each one's backoff at least the one before's.
    const eth = errors
      .filter((e) => e.error.symbol === "ETH-USD" || e.error.symbol === undefined)
      .map((e) => e.retryInMs);
    assert.equal(eth.length, 3, JSON.stringify(errors.map((e) => String(e.error))));
    for (let i = 1; i < eth.length; i++) assert.ok(eth[i] >= eth[i - 1], JSON.stringify(eth));
    assert.equal(c.stats.resyncs, 0);
    assert.equal(c.fatal, undefined);
  });
}

// What the client does on each close code: reconnect (with at least tryAgainMinMs after a 1013) or stop.
const closes = [
  { code: 1000, retry: true, type: FeedCloseError },
  { code: 1001, retry: true, type: FeedCloseError },
  { code: 1006, retry: true, type: FeedCloseError }, // no close frame: the TCP connection dropped
  { code: 1011, retry: true, type: FeedCloseError },
  { code: 1013, retry: true, type: TryAgainError },
  { code: 1008, retry: false, type: PolicyError },
  { code: 1002, retry: false, type: FeedCloseError },
  { code: 1003, retry: false, type: FeedCloseError },
  { code: 1007, retry: false, type: FeedCloseError },
  { code: 1009, retry: false, type: FeedCloseError },
];
for (const { code, retry, type } of closes) {
  test(`close ${code}: ${type.name}, ${retry ? "reconnects" : "stops"}`, async (t) => {
    const srv = await server(t, async (ws, n) => {
      await nextRequest(ws);
      if (n > 0) return;
      if (code === 1006) ws.terminate();
      else ws.close(code, `closed with ${code}`);
    });
    const c = client(t, { url: srv.url, tryAgainMinMs: 150 });
    const seen = [];
    c.on((ev) => ev.type === "close" && seen.push(ev));
    await c.connect();
    c.subscribeTrades(["BTC-USD"]);
    await waitFor("the close", () => seen.length > 0);
    const ev = seen[0];
    assert.ok(ev.error instanceof type, String(ev.error));
    assert.equal(ev.error.code, code);
    if (retry) {
      assert.ok(ev.retryInMs > 0);
      if (code === 1013) assert.ok(ev.retryInMs >= 150);
      await waitFor("a reconnect", () => srv.connections() > 1 && c.stats.reconnects > 0);
      assert.equal(c.fatal, undefined);
    } else {
      assert.equal(ev.retryInMs, undefined);
      assert.equal(c.fatal, ev.error);
      assert.equal(srv.connections(), 1);
    }
  });
}
