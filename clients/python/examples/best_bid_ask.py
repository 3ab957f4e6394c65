"""Prints the verified best bid and ask of BTC-USD from a node (default the demo on 127.0.0.1:8080)."""

import sys

from depthcast import BookEvent, Client

client = Client(sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:8080")
client.subscribe_book(["BTC-USD"], depth=10)
for ev in client:  # blocking iterator; `async for ev in client` inside asyncio
    if isinstance(ev, BookEvent):  # prev_seq chain and checksum verified
        print(ev.seq, "bid", ev.book.best_bid(), "ask", ev.book.best_ask(), "spread", ev.book.spread())
        if client.verified == 5:
            break
