/**
 * A local order book kept from the feed's book messages: a snapshot, then updates chained by
 * prev_seq, each verified against the message's checksum. Pure: no I/O, no timers.
 */
import { checksum, checksumString } from "./checksum.js";
import { formatDecimal, parseDecimal, toTicks } from "./decimal.js";
/** BookFaultError is thrown by Book.apply for a message the book cannot follow; resubscribe the symbol. */
export class BookFaultError extends Error {
    kind;
    symbol;
    seq;
    constructor(kind, symbol, seq, detail) {
        super(`${symbol}: ${kind === "gap" ? "sequence gap" : "checksum mismatch"} at seq ${seq}: ${detail}`);
        this.name = "BookFaultError";
        this.kind = kind;
        this.symbol = symbol;
        this.seq = seq;
    }
}
/** Book is one symbol's local book at one subscription depth (0 = full book). */
export class Book {
    symbol;
    depth;
    /** seq of the last book message applied; 0 before the first snapshot. */
    seq = 0;
    /** status is "stale" from a status stale until the next snapshot. */
    status = "live";
    /** time of the last book message applied. */
    time = "";
    bidSide = [];
    askSide = [];
    constructor(symbol, depth = 0) {
        this.symbol = symbol;
        this.depth = depth;
    }
    /** synced reports whether a snapshot was applied since the book was created or reset. */
    get synced() {
        return this.seq !== 0;
    }
    /** reset forgets the levels, as before a fresh snapshot. */
    reset() {
        this.bidSide = [];
        this.askSide = [];
        this.seq = 0;
    }
    /**
     * apply applies a snapshot, update or status message and verifies the checksum. It throws
     * BookFaultError for an update whose prev_seq is not the book's seq, or a book that does not match
     * the message's checksum; the book must then be resubscribed.
     */
    apply(msg) {
        if (msg.type === "status") {
            // A book that went stale stays stale until the fresh snapshot that follows "live".
            if (msg.status === "stale")
                this.status = "stale";
            return;
        }
        if (msg.type === "snapshot") {
            this.bidSide = [];
            this.askSide = [];
        }
        else {
            if (!this.synced)
                throw new BookFaultError("gap", this.symbol, msg.seq, "update before snapshot");
            if (msg.prev_seq !== this.seq)
                throw new BookFaultError("gap", this.symbol, msg.seq, `prev_seq ${String(msg.prev_seq)}, book at ${this.seq}`);
        }
        for (const [p, q] of msg.bids)
            this.set(this.bidSide, p, q, true);
        for (const [p, q] of msg.asks)
            this.set(this.askSide, p, q, false);
        if (this.depth > 0) {
            if (this.bidSide.length > this.depth)
                this.bidSide.length = this.depth;
            if (this.askSide.length > this.depth)
                this.askSide.length = this.depth;
        }
        this.seq = msg.seq;
        this.time = msg.time ?? "";
        if (msg.type === "snapshot")
            this.status = "live";
        const got = this.checksum();
        if (got !== msg.checksum)
            throw new BookFaultError("checksum", this.symbol, msg.seq, `book ${got}, message ${msg.checksum}`);
    }
    set(side, price, size, desc) {
        const pd = parseDecimal(price);
        const sd = parseDecimal(size);
        const ticks = toTicks(pd);
        // Binary search for the level's position, best first.
        let lo = 0;
        let hi = side.length;
        while (lo < hi) {
            const mid = (lo + hi) >> 1;
            const t = side[mid].ticks;
            if (desc ? t > ticks : t < ticks)
                lo = mid + 1;
            else
                hi = mid;
        }
        const found = lo < side.length && side[lo].ticks === ticks;
        if (sd.coef === 0n) {
            if (found)
                side.splice(lo, 1);
            return;
        }
        const e = { ticks, price: formatDecimal(pd), size: formatDecimal(sd) };
        if (found)
            side[lo] = e;
        else
            side.splice(lo, 0, e);
    }
    /** bids returns the bid levels best (highest) first. */
    bids() {
        return this.bidSide.map((e) => [e.price, e.size]);
    }
    /** asks returns the ask levels best (lowest) first. */
    asks() {
        return this.askSide.map((e) => [e.price, e.size]);
    }
    /** bestBid returns the highest bid, or undefined for an empty side. */
    bestBid() {
        const e = this.bidSide[0];
        return e && [e.price, e.size];
    }
    /** bestAsk returns the lowest ask, or undefined for an empty side. */
    bestAsk() {
        const e = this.askSide[0];
        return e && [e.price, e.size];
    }
    /** top returns the best n levels of each side. */
    top(n) {
        return { bids: this.bids().slice(0, n), asks: this.asks().slice(0, n) };
    }
    /** mid returns (best bid + best ask) / 2 as an exact decimal string, or undefined. */
    mid() {
        const b = this.bidSide[0];
        const a = this.askSide[0];
        if (!b || !a)
            return undefined;
        return formatDecimal({ coef: (b.ticks + a.ticks) * 5n, scale: 19 });
    }
    /** spread returns best ask − best bid as an exact decimal string, or undefined. */
    spread() {
        const b = this.bidSide[0];
        const a = this.askSide[0];
        if (!b || !a)
            return undefined;
        return formatDecimal({ coef: a.ticks - b.ticks, scale: 18 });
    }
    /** checksumString returns the checksum input for the book's current levels. */
    checksumString() {
        return checksumString(this.bids(), this.asks(), this.depth);
    }
    /** checksum returns the CRC-32 the feed would send for the book's current levels. */
    checksum() {
        return checksum(this.bids(), this.asks(), this.depth);
    }
}
