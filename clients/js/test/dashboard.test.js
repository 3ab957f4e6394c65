// The dashboard (feed/web, embedded in the binary) keeps its books with this package's code: its sdk/
// folder is the build output, byte for byte, and its book module follows the shared vectors.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { MODULES } from "../scripts/dashboard.mjs";

const web = new URL("../../../feed/web/", import.meta.url);
const vectors = (name) =>
  JSON.parse(readFileSync(new URL(`../../../testdata/vectors/${name}`, import.meta.url), "utf8"));
const { applyMessage, bookState, cmpDec, crc32 } = await import(new URL("book.js", web));

test("feed/web/sdk/ is the build output of src/ (npm run build && npm run dashboard)", () => {
  assert.deepEqual(readdirSync(new URL("sdk/", web)).sort(), [...MODULES].sort());
  for (const m of MODULES) {
    const built = readFileSync(new URL(`../dist/${m}`, import.meta.url), "utf8");
    const served = readFileSync(new URL(`sdk/${m}`, web), "utf8");
    assert.ok(
      served === built,
      `feed/web/sdk/${m} differs from dist/${m}: run npm run build && npm run dashboard`,
    );
  }
});

test("no second book implementation in the dashboard", () => {
  for (const f of readdirSync(web).filter((f) => f.endsWith(".js"))) {
    const src = readFileSync(new URL(f, web), "utf8");
    assert.ok(!/0xedb88320/i.test(src), `feed/web/${f} has a CRC-32 of its own`);
  }
  assert.match(readFileSync(new URL("book.js", web), "utf8"), /from "\.\/sdk\/book\.js"/);
});

test("the dashboard's books follow sequences.json", () => {
  let messages = 0;
  let faults = 0;
  for (const seq of vectors("sequences.json").sequences) {
    const st = bookState(seq.symbol, seq.depth);
    for (const [i, step] of seq.steps.entries()) {
      const where = `${seq.name} step ${i}`;
      if (step.reconnect) {
        assert.ok(st.hasBook, where);
        assert.equal(st.seq, step.reconnect.resume, where); // what the page resumes from
        continue;
      }
      const got = applyMessage(st, step.message);
      if (step.error) {
        assert.equal(got, step.error, where);
        assert.equal(st.hasBook, false, where);
        faults++;
        continue;
      }
      assert.equal(got, step.message.type === "status" ? "status" : "verified", where);
      messages++;
      const x = step.expect;
      assert.equal(st.seq, x.seq, where);
      assert.equal(st.status, x.status, where);
      assert.deepEqual(
        st.bids.map((l) => [l.p, l.s]),
        x.bids,
        where,
      );
      assert.deepEqual(
        st.asks.map((l) => [l.p, l.s]),
        x.asks,
        where,
      );
      assert.equal(st.book.checksum(), x.checksum, where);
    }
  }
  assert.equal(faults, 4);
  assert.ok(messages > 400, `${messages} messages`);
});

test("the dashboard's crc32 and decimal order follow checksums.json and decimals.json", () => {
  for (const c of vectors("checksums.json").cases)
    for (const d of c.depths) assert.equal(crc32(d.string), d.crc32, `${c.name} depth ${d.depth}`);
  const valid = vectors("decimals.json").valid.filter((v) => !v.out.startsWith("-"));
  for (const v of valid) assert.equal(cmpDec(v.in, v.out), 0, v.in);
  const sorted = valid.map((v) => v.out).sort(cmpDec);
  for (let i = 1; i < sorted.length; i++)
    assert.ok(Number(sorted[i - 1]) <= Number(sorted[i]), `${sorted[i - 1]} before ${sorted[i]}`);
});
