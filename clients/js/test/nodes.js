// Live depthcast nodes for the tests: the binary built from this repository, `demo` and `serve` processes on
// free ports, killed when the test file ends (and when one fails), and the upstream the tests write to.
import { after } from "node:test";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "./wait.js";

export { waitFor };

const repo = new URL("../../../", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "depthcast-js-"));
/** bin is the depthcast binary the nodes run. */
export const bin = join(dir, "depthcast");
execFileSync("go", ["build", "-o", bin, "./cmd/depthcast"], { cwd: repo, stdio: "inherit" });

const running = new Set();
after(async () => {
  await Promise.all([...running].map((n) => n.stop()));
  rmSync(dir, { recursive: true, force: true });
});

/**
 * Node is one depthcast process. `http` and `ws` are its base URLs; `broker` is the address of a demo's
 * embedded Kafka-protocol broker (from its log).
 */
class Node {
  constructor(args) {
    this.args = args;
    this.log = "";
    this.exited = new Promise((resolve) => {
      this.proc = spawn(bin, args, {
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, DEPTHCAST_LOG_LEVEL: "info" },
      });
      this.proc.on("exit", (code, signal) => {
        running.delete(this);
        resolve({ code, signal });
      });
    });
    running.add(this);
    this.proc.stderr.on("data", (d) => {
      if (this.log.length < 1 << 20) this.log += d;
    });
    this.ready = new Promise((resolve, reject) => {
      let out = "";
      this.proc.stdout.on("data", (d) => {
        out += d;
        const m = /websocket\s+ws:\/\/(127\.0\.0\.1:\d+)\/ws/.exec(out);
        if (m) {
          this.addr = m[1];
          this.http = `http://${m[1]}`;
          this.ws = `ws://${m[1]}/ws`;
          resolve(this);
        }
      });
      this.exited.then(({ code, signal }) =>
        reject(new Error(`depthcast ${args[0]} exited (${code ?? signal}) before serving:\n${this.log}`)),
      );
    });
  }

  /** broker is the demo's embedded broker address, read from its log. */
  get broker() {
    const m = /embedded Kafka-protocol broker listening.* addr=(\S+)/.exec(this.log);
    if (!m) throw new Error(`no broker address in the demo's log:\n${this.log}`);
    return m[1];
  }

  /** stop sends SIGTERM (the node drains: clients get 1001) and waits; SIGKILL after 20 s. */
  async stop() {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill("SIGTERM");
    const t = setTimeout(() => this.proc.kill("SIGKILL"), 20000);
    await this.exited;
    clearTimeout(t);
  }

  /** caughtUp waits until GET /readyz answers 200: the node has read up to where the topic stood. */
  async caughtUp() {
    await waitFor(`${this.args[0]} caught up`, async () => (await fetch(this.http + "/readyz")).ok);
    return this;
  }

  async json(path) {
    const r = await fetch(this.http + path);
    if (!r.ok) throw new Error(`GET ${path}: HTTP ${r.status}`);
    return r.json();
  }
}

/** demo starts `depthcast demo` with 3 symbols on a free port and resolves once all 3 books are live. */
export async function demo(...args) {
  const n = await new Node(["demo", "--listen", "127.0.0.1:0", "--symbols", "3", ...args]).ready;
  await waitFor("3 live symbols on the demo", async () => {
    const { symbols } = await n.json("/v1/symbols");
    return symbols.filter((s) => s.status === "live").length >= 3;
  });
  return n;
}

/** serve starts `depthcast serve` reading a broker from its start, on listen (default a free port). */
export function serve(broker, listen = "127.0.0.1:0", ...args) {
  return new Node(["serve", "--brokers", broker, "--listen", listen, "--start", "earliest", ...args]).ready;
}

/**
 * kcatOr skips the calling test when kcat (the upstream producer the tests write with) is missing, or
 * fails it with CI=true; it returns whether the test can go on.
 */
export function kcatOr(t) {
  if (spawnSync("kcat", ["-V"]).error?.code !== "ENOENT") return true;
  if (process.env.CI === "true")
    throw new Error("kcat is needed to write upstream records: apt-get install kcat");
  t.skip("kcat is not installed (apt-get install kcat): no way to write upstream records");
  return false;
}

/** produce writes records (objects, each keyed by its symbol) to the demo topic of a broker with kcat. */
export function produce(broker, ...records) {
  const input = records.map((r) => `${r.symbol}|${JSON.stringify(r)}`).join("\n") + "\n";
  const r = spawnSync("kcat", ["-P", "-b", broker, "-t", "md.events", "-K", "|"], {
    input,
    timeout: 30000,
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`kcat: ${r.error ?? r.stderr}`);
}

/**
 * proxy forwards TCP connections to a node's address; stall() stops reading what the node sends (the node
 * sees a client that stopped reading, whatever the client's own code does) and resume() goes on. It is
 * closed when the test file ends.
 */
export async function proxy(addr) {
  const [host, port] = addr.split(":");
  const upstreams = new Set();
  let stalled = false;
  const server = net.createServer((down) => {
    const up = net.connect(Number(port), host);
    upstreams.add(up);
    if (stalled) up.pause();
    // Plain data handlers, not pipe(): pipe resumes a source when its destination drains, and nothing but
    // stall() and resume() may pause or resume `up`. An end is passed on after what was written before it.
    down.on("data", (d) => up.write(d));
    up.on("data", (d) => down.write(d));
    up.on("end", () => down.end());
    down.on("end", () => up.end());
    const fail = () => {
      up.destroy();
      down.destroy();
    };
    up.on("error", fail);
    down.on("error", fail);
    up.on("close", () => upstreams.delete(up));
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const p = {
    addr: `127.0.0.1:${server.address().port}`,
    stall() {
      stalled = true;
      for (const up of upstreams) up.pause();
    },
    resume() {
      stalled = false;
      for (const up of upstreams) up.resume();
    },
    close() {
      for (const up of upstreams) up.destroy();
      return new Promise((r) => server.close(r));
    },
  };
  proxies.add(p);
  return p;
}

const proxies = new Set();
after(() => Promise.all([...proxies].map((p) => p.close())));
