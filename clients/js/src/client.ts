/**
 * Client connects to a depthcast feed (`ws://HOST:PORT/ws`), keeps verified local books and streams
 * trades. It resubscribes a symbol whose book has a gap or a checksum mismatch, reconnects with
 * exponential backoff and jitter and resumes each book from its seq, treats a missing heartbeat as a
 * dead connection, and surfaces close codes as typed errors (1013: back off and retry; 1008: stop).
 */
import { Book, BookFaultError, type BookMessage, type StatusMessage } from "./book.js";
import type { Level } from "./checksum.js";

/** WebSocketLike is the part of the platform WebSocket the client uses. */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/**
 * WebSocketConstructor builds a WebSocketLike: the browser's WebSocket, or `ws` on Node. The third
 * argument is passed only with `tokenIn: "header"` (the `ws` package's options, carrying the header).
 */
export type WebSocketConstructor = new (
  url: string,
  protocols?: string | string[],
  options?: { headers: Record<string, string> },
) => WebSocketLike;

/** ClientOptions configure a Client. Durations are in milliseconds. */
export interface ClientOptions {
  /** url of the feed, e.g. ws://127.0.0.1:8080/ws. */
  url: string;
  /** token: an API key or JWT, presented at the handshake as tokenIn says. */
  token?: string;
  /**
   * tokenIn: "query" (default) sends ?token=, which browsers can do; "header" sends
   * `Authorization: Bearer` (Node with the `ws` package: keeps the token out of URLs and logs).
   */
  tokenIn?: "query" | "header";
  /** WebSocket constructor; default globalThis.WebSocket. */
  WebSocket?: WebSocketConstructor;
  /** heartbeatTimeoutMs: no message for this long means the connection is dead (default 15000). */
  heartbeatTimeoutMs?: number;
  /** backoffInitialMs: first reconnect delay (default 250). */
  backoffInitialMs?: number;
  /** backoffMaxMs: largest reconnect delay (default 30000). */
  backoffMaxMs?: number;
  /** tryAgainMinMs: least delay after a 1013 close (default 1000). */
  tryAgainMinMs?: number;
  /** reconnect: whether to reconnect after a close that allows it (default true). */
  reconnect?: boolean;
}

/**
 * FATAL_CLOSE_CODES end the client instead of a reconnect: 1008 (policy: not authorized, a limit) and
 * the codes for a fault in what the client sent (1002, 1003, 1007, 1009), which a retry would repeat.
 */
export const FATAL_CLOSE_CODES: readonly number[] = [1002, 1003, 1007, 1008, 1009];

/** HEARTBEAT_TIMEOUT_CODE is the close code of a connection the client drops for silence. */
export const HEARTBEAT_TIMEOUT_CODE = 4000;

/** RETRIED_REFUSALS are the error codes for which a subscription the client restores itself is retried. */
const RETRIED_REFUSALS = new Set(["unknown_symbol", "unavailable"]);

/** FeedCloseError is a close of the connection by the feed, with its WebSocket code and reason. */
export class FeedCloseError extends Error {
  readonly code: number;
  readonly reason: string;
  constructor(code: number, reason: string, message?: string) {
    super(message ?? `feed closed the connection: ${code} ${reason}`);
    this.name = "FeedCloseError";
    this.code = code;
    this.reason = reason;
  }
}

/** TryAgainError is a 1013 close (slow consumer or load shedding): the client backs off and reconnects. */
export class TryAgainError extends FeedCloseError {
  constructor(reason: string) {
    super(1013, reason, `feed asked to try again later (1013): ${reason}`);
    this.name = "TryAgainError";
  }
}

/** PolicyError is a 1008 close (not authorized, over a limit): the client stops and does not retry. */
export class PolicyError extends FeedCloseError {
  constructor(reason: string) {
    super(1008, reason, `feed closed for a policy violation (1008): ${reason}`);
    this.name = "PolicyError";
  }
}

/**
 * FeedError is an `error` reply of the feed to a request (bad_request, unknown_symbol, ...). `symbol` names the
 * one symbol of the request it is about when the request's other symbols stand; it is undefined when the
 * error concerns the whole request.
 */
export class FeedError extends Error {
  readonly code: string;
  readonly id: number | undefined;
  readonly symbol: string | undefined;
  constructor(code: string, message: string, id?: number, symbol?: string) {
    super(`${code}: ${message}`);
    this.name = "FeedError";
    this.code = code;
    this.id = id;
    this.symbol = symbol;
  }
}

/** Trade is a feed `trade` message. */
export interface Trade {
  type: "trade";
  symbol: string;
  seq: number;
  time: string;
  price: string;
  size: string;
  side: "buy" | "sell";
  trade_id: string;
}

/** ClientEvent is what the async iterator and the listeners receive. */
export type ClientEvent =
  | { type: "open" }
  | BookEvent
  | { type: "trade"; trade: Trade }
  | { type: "status"; symbol: string; status: "live" | "stale" }
  | { type: "resync"; symbol: string; error: BookFaultError }
  | { type: "error"; error: Error; retryInMs?: number }
  | { type: "close"; error: FeedCloseError; retryInMs: number | undefined };

/**
 * BookEvent: a snapshot or update was applied to `book` and verified (prev_seq chain and checksum).
 * `seq`, `bestBid` and `bestAsk` are as of this message; `book` is the live book, which an iterator
 * that reads behind the feed may see further on.
 */
export interface BookEvent {
  type: "book";
  symbol: string;
  seq: number;
  bestBid: Level | undefined;
  bestAsk: Level | undefined;
  book: Book;
  message: BookMessage;
}

/** BookSubscription is the depth and conflation interval of a book subscription. */
export interface BookSubscription {
  depth?: number;
  intervalMs?: number;
}

type Listener = (ev: ClientEvent) => void;

/** Client is a connection to the feed; it is not safe to share between unrelated owners. */
export class Client {
  private readonly opts: Required<Omit<ClientOptions, "token" | "WebSocket">> & { token?: string };
  /**
   * pending maps a symbol to the id of the book subscribe the client sent on its own for it (a restore, a
   * resync, a retry) until the request is settled for that symbol: by an error about it, or by its first
   * snapshot or update. At most one request per symbol: a newer one supersedes it.
   */
  private readonly pending = new Map<string, number>();
  private readonly retryTimers = new Set<ReturnType<typeof setTimeout>>();
  private readonly refusals = new Map<string, number>();
  private readonly stopWaiters = new Set<() => void>();
  private readonly WS: WebSocketConstructor;
  private ws: WebSocketLike | undefined;
  private readonly books = new Map<string, Book>();
  private readonly bookSubs = new Map<string, Required<BookSubscription>>();
  private readonly tradeSubs = new Set<string>();
  private readonly listeners = new Set<Listener>();
  private nextId = 1;
  private attempt = 0;
  private heartbeat: ReturnType<typeof setTimeout> | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  /** fatal is the close that stopped the client (1008, or 1002, 1003, 1007, 1009), if any. */
  fatal: Error | undefined;
  /** counts of messages received and verified. */
  readonly stats = { messages: 0, verified: 0, resyncs: 0, reconnects: 0 };

  constructor(opts: ClientOptions) {
    const WS = opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!WS) throw new Error("no WebSocket: pass the WebSocket option (e.g. the ws package on Node)");
    this.WS = WS;
    this.opts = {
      url: opts.url,
      heartbeatTimeoutMs: opts.heartbeatTimeoutMs ?? 15000,
      backoffInitialMs: opts.backoffInitialMs ?? 250,
      backoffMaxMs: opts.backoffMaxMs ?? 30000,
      tryAgainMinMs: opts.tryAgainMinMs ?? 1000,
      reconnect: opts.reconnect ?? true,
      tokenIn: opts.tokenIn ?? "query",
      ...(opts.token !== undefined ? { token: opts.token } : {}),
    };
  }

  /** on adds a listener for every event; it returns a function that removes it. */
  on(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** book returns the local book of a subscribed symbol. */
  book(symbol: string): Book | undefined {
    return this.books.get(symbol);
  }

  /** connect opens the connection; it resolves once open and rejects on the first close before that. */
  connect(): Promise<void> {
    this.stopped = false;
    return new Promise((resolve, reject) => {
      const off = this.on((ev) => {
        if (ev.type === "open") {
          off();
          resolve();
        } else if (ev.type === "close" && (ev.retryInMs === undefined || !this.opts.reconnect)) {
          off();
          reject(ev.error);
        }
      });
      this.dial();
    });
  }

  /** subscribeBook subscribes symbols' books at a depth (0 = full) and interval (0 = every update). */
  subscribeBook(symbols: string[], sub: BookSubscription = {}): void {
    const s = { depth: sub.depth ?? 0, intervalMs: sub.intervalMs ?? 0 };
    for (const sym of symbols) {
      this.bookSubs.set(sym, s);
      this.books.set(sym, new Book(sym, s.depth));
    }
    this.sendBookSubscribe(symbols, s, false, false);
  }

  /** subscribeTrades subscribes symbols' trades. */
  subscribeTrades(symbols: string[]): void {
    for (const sym of symbols) this.tradeSubs.add(sym);
    this.send({ op: "subscribe", id: this.nextId++, channel: "trades", symbols });
  }

  /** close closes the connection and stops reconnecting. */
  close(): void {
    this.stop();
    this.ws?.close(1000, "client closed");
  }

  /** stop ends reconnects, retries and the heartbeat timer; events() then ends. */
  private stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.heartbeat);
    this.clearRetries();
    this.wakeIterators();
  }

  /** clearRetries cancels the pending retries of refused subscribes. */
  private clearRetries(): void {
    for (const t of this.retryTimers) clearTimeout(t);
    this.retryTimers.clear();
  }

  /**
   * backoffMs is the delay before try n (from 0): backoffInitialMs doubled n times, at most backoffMaxMs, of
   * which a random half or more (jitter).
   */
  private backoffMs(n: number): number {
    const cap = Math.min(this.opts.backoffMaxMs, this.opts.backoffInitialMs * 2 ** n);
    return cap / 2 + (Math.random() * cap) / 2;
  }

  /** events returns an async iterator over the client's events; it ends when the client stops. */
  async *events(): AsyncGenerator<ClientEvent> {
    const queue: ClientEvent[] = [];
    let wake: (() => void) | undefined;
    const off = this.on((ev) => {
      queue.push(ev);
      wake?.();
    });
    const onStop = (): void => wake?.();
    this.stopWaiters.add(onStop);
    try {
      for (;;) {
        while (queue.length > 0) {
          const ev = queue.shift()!;
          yield ev;
          if (ev.type === "close" && ev.retryInMs === undefined) return;
        }
        if (this.stopped) return;
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
    } finally {
      off();
      this.stopWaiters.delete(onStop);
    }
  }

  private wakeIterators(): void {
    for (const w of [...this.stopWaiters]) w();
  }

  private emit(ev: ClientEvent): void {
    for (const fn of [...this.listeners]) fn(ev);
  }

  private send(msg: unknown): void {
    if (this.ws && this.ws.readyState === 1) this.ws.send(JSON.stringify(msg));
  }

  private sendBookSubscribe(
    symbols: string[],
    s: Required<BookSubscription>,
    resume: boolean,
    own: boolean,
  ): void {
    const id = this.nextId++;
    for (const sym of symbols) {
      if (own) this.pending.set(sym, id);
      else this.pending.delete(sym);
    }
    const msg: Record<string, unknown> = {
      op: "subscribe",
      id,
      channel: "book",
      symbols,
      depth: s.depth,
      interval_ms: s.intervalMs,
    };
    if (resume) {
      const r: Record<string, number> = {};
      for (const sym of symbols) {
        const b = this.books.get(sym);
        if (b?.synced) r[sym] = b.seq;
      }
      if (Object.keys(r).length > 0) msg["resume"] = r;
    }
    this.send(msg);
  }

  private dial(): void {
    let url = this.opts.url;
    const token = this.opts.token;
    let ws: WebSocketLike;
    if (token !== undefined && this.opts.tokenIn === "header") {
      ws = new this.WS(url, undefined, { headers: { Authorization: `Bearer ${token}` } });
    } else {
      if (token !== undefined) url += (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);
      ws = new this.WS(url);
    }
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.attempt = 0;
      this.pending.clear();
      this.armHeartbeat();
      // Resubscribe what was subscribed, each book group resuming from its seq.
      const groups = new Map<string, string[]>();
      for (const [sym, s] of this.bookSubs) {
        const k = `${s.depth}/${s.intervalMs}`;
        groups.set(k, [...(groups.get(k) ?? []), sym]);
      }
      for (const syms of groups.values())
        this.sendBookSubscribe(syms, this.bookSubs.get(syms[0]!)!, true, this.stats.reconnects > 0);
      if (this.tradeSubs.size > 0)
        this.send({ op: "subscribe", id: this.nextId++, channel: "trades", symbols: [...this.tradeSubs] });
      this.emit({ type: "open" });
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      this.armHeartbeat();
      this.handle(String(ev.data));
    };
    ws.onerror = () => {};
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      clearTimeout(this.heartbeat);
      this.closed(ev.code, ev.reason);
    };
  }

  private closed(code: number, reason: string): void {
    let err: FeedCloseError;
    if (code === 1008) err = new PolicyError(reason);
    else if (code === 1013) err = new TryAgainError(reason);
    else err = new FeedCloseError(code, reason);
    const fatal = FATAL_CLOSE_CODES.includes(code);
    if (this.stopped || fatal || !this.opts.reconnect) {
      if (fatal) this.fatal = err;
      this.stop();
      this.emit({ type: "close", error: err, retryInMs: undefined });
      return;
    }
    this.clearRetries();
    // Exponential backoff with jitter; a 1013 waits at least tryAgainMinMs.
    let delay = this.backoffMs(this.attempt);
    this.attempt++;
    if (code === 1013) delay = Math.max(delay, this.opts.tryAgainMinMs);
    this.emit({ type: "close", error: err, retryInMs: delay });
    this.retryTimer = setTimeout(() => {
      if (this.stopped) return;
      this.stats.reconnects++;
      this.dial();
    }, delay);
  }

  private armHeartbeat(): void {
    clearTimeout(this.heartbeat);
    const ws = this.ws;
    this.heartbeat = setTimeout(() => {
      if (this.ws !== ws || !ws) return;
      this.ws = undefined;
      ws.close(HEARTBEAT_TIMEOUT_CODE, "heartbeat timeout");
      this.closed(HEARTBEAT_TIMEOUT_CODE, "heartbeat timeout");
    }, this.opts.heartbeatTimeoutMs);
  }

  private handle(data: string): void {
    let msg: { type?: unknown; [k: string]: unknown };
    try {
      msg = JSON.parse(data) as typeof msg;
    } catch (e) {
      this.emit({ type: "error", error: new Error(`malformed feed message: ${String(e)}`) });
      return;
    }
    this.stats.messages++;
    switch (msg.type) {
      case "snapshot":
      case "update":
      case "status":
        return this.onBook(msg as unknown as BookMessage | StatusMessage);
      case "trade":
        return this.emit({ type: "trade", trade: msg as unknown as Trade });
      case "error":
        return this.onError(
          new FeedError(
            String(msg["code"]),
            String(msg["message"]),
            msg["id"] as number | undefined,
            typeof msg["symbol"] === "string" ? msg["symbol"] : undefined,
          ),
        );
      default:
        // subscribed: a request the client sent on its own stays pending until its data or an error about
        // one of its symbols, which may follow the reply. unsubscribed, heartbeat, pong: nothing to do.
        return;
    }
  }

  /**
   * onError handles an error reply. A restore or resync the client sent on its own and the feed refused
   * with unknown_symbol or unavailable (a node that just started and has not read every symbol yet) is
   * sent again after an exponential backoff: for the one symbol the error names, or for each of the
   * request's symbols when it names none. Other refusals only surface.
   */
  private onError(err: FeedError): void {
    const syms: string[] = [];
    for (const [sym, id] of this.pending)
      if (id === err.id && (err.symbol === undefined || err.symbol === sym)) syms.push(sym);
    for (const sym of syms) this.pending.delete(sym);
    if (syms.length === 0 || !RETRIED_REFUSALS.has(err.code)) {
      this.emit({ type: "error", error: err });
      return;
    }
    let longest = 0;
    for (const sym of syms) {
      if (!this.bookSubs.has(sym)) continue;
      const n = this.refusals.get(sym) ?? 0;
      this.refusals.set(sym, n + 1);
      const delay = this.backoffMs(n);
      longest = Math.max(longest, delay);
      const t = setTimeout(() => {
        this.retryTimers.delete(t);
        const s = this.bookSubs.get(sym);
        if (this.stopped || s === undefined) return;
        this.sendBookSubscribe([sym], s, true, true);
      }, delay);
      this.retryTimers.add(t);
    }
    this.emit({ type: "error", error: err, retryInMs: longest });
  }

  private onBook(msg: BookMessage | StatusMessage): void {
    const book = this.books.get(msg.symbol);
    if (!book) return;
    // While a symbol resyncs, its updates are from the abandoned subscription: wait for the snapshot.
    if (msg.type === "update" && !book.synced) return;
    try {
      book.apply(msg);
    } catch (e) {
      if (!(e instanceof BookFaultError)) throw e;
      this.resync(book, e);
      return;
    }
    if (msg.type === "status") {
      this.emit({ type: "status", symbol: msg.symbol, status: msg.status });
      return;
    }
    // The book's data settles the request that asked for it, and ends its run of refusals.
    this.pending.delete(msg.symbol);
    this.refusals.delete(msg.symbol);
    this.stats.verified++;
    this.emit({
      type: "book",
      symbol: msg.symbol,
      seq: book.seq,
      bestBid: book.bestBid(),
      bestAsk: book.bestAsk(),
      book,
      message: msg,
    });
  }

  private resync(book: Book, err: BookFaultError): void {
    this.stats.resyncs++;
    book.reset();
    this.emit({ type: "resync", symbol: book.symbol, error: err });
    const s = this.bookSubs.get(book.symbol)!;
    this.send({ op: "unsubscribe", id: this.nextId++, channel: "book", symbols: [book.symbol] });
    this.sendBookSubscribe([book.symbol], s, false, true);
  }
}
