import WebSocket from "ws";
import { Client } from "@depthcast/client";

const client = new Client({ url: process.argv[2] ?? "ws://127.0.0.1:8080/ws", WebSocket });
await client.connect();
client.subscribeBook(["BTC-USD"], { depth: 10 });
for await (const ev of client.events()) {
  if (ev.type !== "book") continue; // passed the prev_seq and checksum checks
  console.log(ev.seq, "bid", ev.bestBid, "ask", ev.bestAsk); // as of this message
  if (client.stats.verified >= 5) client.close();
}
