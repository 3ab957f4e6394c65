// The shared vectors of testdata/vectors, generated from the Go implementation.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  Book,
  BookFaultError,
  DecimalError,
  canonicalDecimal,
  checksumString,
  crc32,
} from "../dist/index.js";

const load = (name) =>
  JSON.parse(readFileSync(new URL(`../../../testdata/vectors/${name}`, import.meta.url), "utf8"));

test("decimals.json", () => {
  const v = load("decimals.json");
  assert.ok(v.valid.length > 20 && v.invalid.length > 10);
  for (const { in: s, out } of v.valid) assert.equal(canonicalDecimal(s), out, `in ${JSON.stringify(s)}`);
  for (const { in: s, error } of v.invalid)
    assert.throws(
      () => canonicalDecimal(s),
      (e) => e instanceof DecimalError && e.code === error,
      `in ${JSON.stringify(s)}`,
    );
});

test("checksums.json", () => {
  const v = load("checksums.json");
  let n = 0;
  for (const c of v.cases)
    for (const d of c.depths) {
      assert.equal(checksumString(c.bids, c.asks, d.depth), d.string, `${c.name} depth ${d.depth}`);
      assert.equal(crc32(d.string), d.crc32, `${c.name} depth ${d.depth}`);
      n++;
    }
  assert.ok(n > 5);
});

test("sequences.json", () => {
  const v = load("sequences.json");
  let messages = 0;
  let faults = 0;
  for (const seq of v.sequences) {
    const book = new Book(seq.symbol, seq.depth);
    for (const [i, step] of seq.steps.entries()) {
      const where = `${seq.name} step ${i}`;
      if (step.reconnect) {
        assert.equal(book.seq, step.reconnect.resume, where);
        continue;
      }
      if (step.error) {
        assert.throws(
          () => book.apply(step.message),
          (e) => e instanceof BookFaultError && e.kind === step.error,
          where,
        );
        faults++;
        continue;
      }
      book.apply(step.message);
      messages++;
      const x = step.expect;
      assert.equal(book.seq, x.seq, where);
      assert.equal(book.status, x.status, where);
      assert.deepEqual(book.bids(), x.bids, where);
      assert.deepEqual(book.asks(), x.asks, where);
      assert.equal(book.checksumString(), x.checksum_string, where);
      assert.equal(book.checksum(), x.checksum, where);
    }
  }
  assert.equal(faults, v.sequences.filter((s) => s.steps.some((t) => t.error)).length);
  assert.ok(messages > 400, `${messages} messages`);
});

test("book accessors", () => {
  const b = new Book("X", 0);
  b.apply({
    type: "snapshot",
    symbol: "X",
    seq: 1,
    bids: [
      ["43000.1", "2"],
      ["42999", "1.5"],
    ],
    asks: [["43000.2", "1"]],
    checksum: 2185181894,
  });
  assert.deepEqual(b.bestBid(), ["43000.1", "2"]);
  assert.deepEqual(b.bestAsk(), ["43000.2", "1"]);
  assert.equal(b.mid(), "43000.15");
  assert.equal(b.spread(), "0.1");
  assert.deepEqual(b.top(1), { bids: [["43000.1", "2"]], asks: [["43000.2", "1"]] });
});
