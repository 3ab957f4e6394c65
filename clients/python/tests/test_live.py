"""The client against a live `depthcast demo` over real TCP WebSocket connections."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from typing import Any

import pytest

from depthcast import (
    BookEvent,
    Client,
    HandshakeError,
    Options,
    PolicyViolation,
    ReconnectEvent,
    RequestError,
    ResyncEvent,
    TryAgainLater,
    replay_rows_async,
)

from .conftest import AuthNode, Node

SYMBOLS = ["BTC-USD", "ETH-USD", "SOL-USD"]
Levels = tuple[list[tuple[str, str]], list[tuple[str, str]]]


def http_book(node: Node, symbol: str, depth: int) -> dict[str, Any]:
    q = f"?depth={depth}" if depth else ""
    with urllib.request.urlopen(f"{node.http}/v1/book/{symbol}{q}", timeout=10) as r:
        doc: dict[str, Any] = json.load(r)
    return doc


async def run_client(node: Node, depth: int, interval_ms: int, want: int) -> tuple[Client, int]:
    """run_client verifies ``want`` book messages, then checks each book against GET /v1/book."""
    client = Client(node.url, Options(heartbeat_timeout=30))
    client.subscribe_book(SYMBOLS, depth=depth, interval_ms=interval_ms)
    history: dict[str, dict[int, Levels]] = {s: {} for s in SYMBOLS}
    pending: dict[str, dict[str, Any]] = {}
    resyncs = 0
    deadline = time.monotonic() + 120
    async for ev in client:
        assert time.monotonic() < deadline, f"depth {depth}: timed out"
        if isinstance(ev, ResyncEvent):
            resyncs += 1
        if isinstance(ev, ReconnectEvent):
            raise AssertionError(f"unexpected reconnect: {ev.error}")
        if not isinstance(ev, BookEvent):
            continue
        if interval_ms == 0:
            history[ev.symbol][ev.seq] = ev.book.levels()
        if client.verified >= want and not pending:
            if interval_ms:
                break
            # The node's own book, then read on until our book has reached its seq.
            pending = {s: await asyncio.to_thread(http_book, node, s, depth) for s in SYMBOLS}
        if pending and all((client.books[s].seq or 0) >= pending[s]["seq"] for s in SYMBOLS):
            break
    for sym, doc in pending.items():
        at = max(q for q in history[sym] if q <= doc["seq"])
        bids, asks = history[sym][at]
        assert bids == [tuple(x) for x in doc["bids"]], (sym, depth, doc["seq"])
        assert asks == [tuple(x) for x in doc["asks"]], (sym, depth, doc["seq"])
    assert resyncs == 0
    await client.close()
    return client, client.verified


async def test_books_verified_and_equal_to_http(node: Node) -> None:
    runs = [(1, 0), (5, 0), (25, 0), (0, 0), (10, 100)]
    results = await asyncio.gather(*(run_client(node, d, i, 400) for d, i in runs))
    for (d, i), (client, n) in zip(runs, results, strict=True):
        print(f"depth={d} interval_ms={i}: {n} book messages, checksum verified on each")
        assert n >= 400 and client.verified == n
        for b in client.books.values():
            bb, ba = b.best_bid(), b.best_ask()
            assert bb is not None and ba is not None and bb[0] < ba[0]
            assert b.mid() is not None and (b.spread() or 0) > 0


async def test_reconnect_resumes_without_snapshot(node: Node) -> None:
    client = Client(node.url, Options(backoff_initial=0.05))
    client.subscribe_book(["BTC-USD"], depth=10).subscribe_trades(["BTC-USD"])
    kinds: list[str] = []
    reconnected = False
    trades = 0
    async for ev in client:
        if isinstance(ev, ResyncEvent):
            raise AssertionError(ev.error)
        if isinstance(ev, ReconnectEvent):
            reconnected = True
        elif isinstance(ev, BookEvent):
            kinds.append(ev.kind)
            if len(kinds) == 50:
                await client.reconnect()
            if reconnected and len(kinds) > 100:
                break
        else:
            trades += 1
    await client.close()
    assert reconnected and trades > 0
    assert kinds[0] == "snapshot" and kinds[1:].count("snapshot") == 0, "resume sent a snapshot"


async def test_policy_violation_is_typed_and_stops(strict_node: Node) -> None:
    # --ops-per-second 1 (burst 2): four subscribe requests in a row are over the limit.
    client = Client(strict_node.url, Options(backoff_initial=0.05))
    for depth in (1, 2, 3):
        client.subscribe_book([SYMBOLS[depth - 1]], depth=depth)
    client.subscribe_trades(SYMBOLS)
    with pytest.raises(PolicyViolation) as e:
        async for ev in client:
            assert not isinstance(ev, ReconnectEvent), ev
    assert e.value.code == 1008
    print(f"1008 raised as PolicyViolation: {e.value.reason!r}")


async def test_replay_rows(replay_node: Node) -> None:
    node = replay_node
    rows: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        rows = await replay_rows_async(node.url, ["BTC-USD"], depth=10, speed=0)
        if any(r["type"] == "trade" for r in rows) and len(rows) > 100:
            break
        await asyncio.sleep(0.5)
    kinds = {r["type"] for r in rows}
    assert kinds == {"book", "trade"}, kinds
    seqs = [r["seq"] for r in rows]
    assert seqs == sorted(seqs)
    book_rows = [r for r in rows if r["type"] == "book"]
    assert all(r["bid"] < r["ask"] for r in book_rows)
    print(f"replay: {len(rows)} rows, {len(book_rows)} verified book rows")
    try:
        import pandas  # noqa: F401
    except ImportError:
        return
    from depthcast import replay_frame

    frame = await asyncio.to_thread(replay_frame, node.url, ["BTC-USD"], depth=10, speed=0)
    assert len(frame) >= len(rows)


def test_blocking_iterator(node: Node) -> None:
    client = Client(node.url)
    client.subscribe_book(["BTC-USD"], depth=5)
    for ev in client:
        if isinstance(ev, BookEvent):
            bid, ask = ev.book.best_bid(), ev.book.best_ask()
            assert bid is not None and ask is not None and bid[0] < ask[0]
            if client.verified >= 20:
                break
    assert client.verified >= 20


@pytest.mark.parametrize("in_query", [False, True], ids=["header", "query"])
async def test_token(auth_node: AuthNode, in_query: bool) -> None:
    url = auth_node.node.url
    client = Client(url, Options(token=auth_node.key, token_in_query=in_query))
    client.subscribe_book(["BTC-USD"], depth=5)
    async for ev in client:
        assert not isinstance(ev, ReconnectEvent), ev
        if isinstance(ev, BookEvent):
            break
    await client.close()
    # A symbol the key may not see is refused by the feed; a bad token by the handshake.
    other = Client(url, Options(token=auth_node.key, token_in_query=in_query))
    other.subscribe_book(["ETH-USD"])
    with pytest.raises(RequestError) as e:
        async for _ in other:
            pass
    assert e.value.code == "unauthorized"
    bad = Client(url, Options(token="dck_wrong", token_in_query=in_query))
    bad.subscribe_trades(["BTC-USD"])
    with pytest.raises(HandshakeError) as h:
        async for _ in bad:
            pass
    assert h.value.status == 401


def slow_consumers(node: Node) -> int:
    with urllib.request.urlopen(node.http + "/metrics", timeout=10) as r:
        text = r.read().decode()
    return sum(
        int(float(line.rsplit(" ", 1)[1]))
        for line in text.splitlines()
        if line.startswith("depthcast_feed_slow_consumers")
    )


async def test_slow_consumer_gets_1013_and_reconnects(small_queue_node: Node) -> None:
    node = small_queue_node
    before = slow_consumers(node)
    client = Client(node.url, Options(backoff_initial=0.05, try_again_min=0.1))
    client.subscribe_book(["BTC-USD", "ETH-USD", "SOL-USD"])
    events = client.events()
    first = await anext(events)
    assert isinstance(first, BookEvent)
    # Stop reading until the node has closed this connection as a slow consumer.
    deadline = time.monotonic() + 120
    while slow_consumers(node) == before:
        assert time.monotonic() < deadline, "no slow-consumer close"
        await asyncio.sleep(0.2)
    async for ev in events:
        if isinstance(ev, ReconnectEvent):
            assert isinstance(ev.error, TryAgainLater), ev.error
            assert ev.error.code == 1013 and ev.delay >= 0.1
            print(f"1013 surfaced as TryAgainLater: {ev.error.reason!r}; reconnecting")
            break
    async for ev in events:
        if isinstance(ev, BookEvent):
            break
    await events.aclose()
    await client.close()
