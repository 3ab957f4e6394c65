import WebSocket from "ws";
import { Client } from "@depthcast/client";

const client = new Client({ url: process.argv[2] ?? "ws://127.0.0.1:8080/ws", WebSocket });
await client.connect();
client.subscribeBook(["BTC-USD"], { depth: 10 });
for await (const ev of client.events()) {
  if (ev.type !== "book") continue; // every book here passed the prev_seq and checksum checks
  console.log(ev.book.seq, "bid", ev.book.bestBid(), "ask", ev.book.bestAsk(), "spread", ev.book.spread());
  if (client.stats.verified >= 5) client.close();
}
