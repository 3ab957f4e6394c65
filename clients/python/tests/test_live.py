"""The client against a live `depthcast demo` over real TCP WebSocket connections."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from depthcast import (
    BookEvent,
    Client,
    ClosedError,
    HandshakeError,
    Options,
    PolicyViolation,
    ReconnectEvent,
    RequestError,
    ResyncEvent,
    StatusEvent,
    TryAgainLater,
    replay_rows_async,
)

from .conftest import AuthNode, Node, kcat_or_skip, launch, produce

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
    after: list[str] = []  # book messages after the reconnect
    reconnected = False
    trades = 0
    async for ev in client:
        if isinstance(ev, ResyncEvent):
            raise AssertionError(ev.error)
        if isinstance(ev, ReconnectEvent):
            reconnected = True
        elif isinstance(ev, BookEvent):
            (after if reconnected else kinds).append(ev.kind)
            if len(kinds) == 50 and not reconnected:
                await client.reconnect()
            if len(after) > 50:
                break
        else:
            trades += 1
    await client.close()
    assert reconnected and trades > 0
    assert kinds[0] == "snapshot"
    # The chain goes on from the seq held: an update first. (A snapshot may come later all the same: the
    # simulated exchange re-snapshots each book now and then, and the feed passes that on.)
    assert after[0] == "update", f"resume answered with a {after[0]}"


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
    n: int = node.get("/v1/stats")["slow_consumers"]
    return n


async def test_slow_consumer_gets_1013_and_reconnects(small_queue_node: Node) -> None:
    node = small_queue_node
    # No heartbeat timeout while the reader is stalled: the node's close is what the test waits for.
    client = Client(node.url, Options(backoff_initial=0.05, try_again_min=0.1, heartbeat_timeout=600))
    client.subscribe_book(SYMBOLS)
    events = client.events()
    try:
        while client.verified < 3:
            ev = await anext(events)
            assert not isinstance(ev, ReconnectEvent), ev
        # Stop reading until the node has decided to close this connection as a slow consumer: its queue
        # overflows only once the socket buffers on both sides are full, however long that takes. The
        # close frame waits behind the data already in the socket for the node's write timeout (10 s).
        before = await asyncio.to_thread(slow_consumers, node)
        deadline = time.monotonic() + 120
        while await asyncio.to_thread(slow_consumers, node) == before:
            assert time.monotonic() < deadline, "no slow-consumer close"
            await asyncio.sleep(0.05)
        async with asyncio.timeout(60):
            async for ev in events:
                if isinstance(ev, ReconnectEvent):
                    assert isinstance(ev.error, TryAgainLater), ev.error
                    assert ev.error.code == 1013 and ev.delay >= 0.1
                    assert "slow consumer" in ev.error.reason or "write timeout" in ev.error.reason
                    print(f"1013 surfaced as TryAgainLater: {ev.error.reason!r}; reconnecting")
                    break
            async for ev in events:
                if isinstance(ev, BookEvent):
                    break
    finally:
        await events.aclose()
        await client.close()


async def test_node_restart_resumes(binary: Path, upstream: Node) -> None:
    """A serve node of the upstream broker stops (1001) and a new one starts on its address: the client
    reconnects, resumes each book from its seq, and its books equal the new node's."""
    first = launch(binary, "serve", "--brokers", upstream.broker, "--start", "earliest")
    second: Node | None = None
    sent: list[dict[str, Any]] = []
    client = RecordingClient(first.url, Options(backoff_initial=0.05, backoff_max=0.4), sent)
    client.subscribe_book(["BTC-USD", "ETH-USD"], depth=10).subscribe_trades(["BTC-USD"])
    history: dict[int, Levels] = {}
    closes: list[ReconnectEvent] = []
    after: list[BookEvent] = []
    held = 0
    events = client.events()
    try:
        async with asyncio.timeout(120):
            async for ev in events:
                if isinstance(ev, ResyncEvent):
                    raise AssertionError(ev.error)
                if isinstance(ev, ReconnectEvent):
                    closes.append(ev)
                if not isinstance(ev, BookEvent):
                    continue
                if ev.symbol == "BTC-USD":
                    history[ev.seq] = ev.book.levels()
                if closes:
                    after.append(ev)
                elif client.verified == 50:
                    held = client.book("BTC-USD").seq or 0
                    await asyncio.to_thread(first.stop)  # drains: this connection gets 1001
                    second = await asyncio.to_thread(
                        launch,
                        binary,
                        "serve",
                        "--brokers",
                        upstream.broker,
                        "--start",
                        "earliest",
                        port=first.port,
                    )
                if all(sum(e.symbol == s for e in after) > 20 for s in ("BTC-USD", "ETH-USD")):
                    break
            assert second is not None
            doc = await asyncio.to_thread(second.get, "/v1/book/BTC-USD?depth=10")
            async for ev in events:
                if isinstance(ev, BookEvent) and ev.symbol == "BTC-USD":
                    history[ev.seq] = ev.book.levels()
                    if ev.seq >= doc["seq"]:
                        break
    finally:
        await events.aclose()
        await client.close()
        first.stop()
        if second is not None:
            second.stop()
    assert isinstance(closes[0].error, ClosedError) and closes[0].error.code == 1001, closes[0].error
    resumed = [r for r in sent if r.get("channel") == "book" and "resume" in r]
    assert resumed and resumed[0]["resume"]["BTC-USD"] >= held, sent
    at = max(q for q in history if q <= doc["seq"])
    assert history[at] == ([tuple(x) for x in doc["bids"]], [tuple(x) for x in doc["asks"]])
    first_btc = next(e for e in after if e.symbol == "BTC-USD")
    print(
        f"restart: resumed BTC-USD from seq {resumed[0]['resume']['BTC-USD']}; the new node continued "
        f"with {'an update' if first_btc.kind == 'update' else 'a snapshot'} at {first_btc.seq}; "
        f"{client.verified} book messages verified in all"
    )


async def test_gap_upstream_stale_live_snapshot(upstream: Node) -> None:
    """A seq gap written upstream: status stale, nothing applied, then status live and the fresh snapshot."""
    kcat_or_skip()
    sym = "GAPPY-USD"

    def ev(**kw: Any) -> dict[str, Any]:
        return {"symbol": sym, "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"), **kw}

    produce(
        upstream.broker, ev(type="snapshot", seq=1, bids=[["100", "1"], ["99.5", "2"]], asks=[["101", "1"]])
    )
    deadline = time.monotonic() + 60
    while not any(s["symbol"] == sym for s in upstream.get("/v1/symbols")["symbols"]):
        assert time.monotonic() < deadline, "the node never knew the symbol"
        time.sleep(0.05)
    client = Client(upstream.url)
    client.subscribe_book([sym], depth=10)
    seen: list[str] = []
    try:
        async with asyncio.timeout(60):
            async for e in client:
                if isinstance(e, ResyncEvent | ReconnectEvent):
                    raise AssertionError(e)
                if isinstance(e, BookEvent):
                    seen.append(f"{e.kind} {e.seq}")
                    if e.seq == 1:
                        produce(upstream.broker, ev(type="delta", seq=2, bids=[["100", "1.5"]], asks=[]))
                    elif e.seq == 2:  # seq 3 never comes
                        produce(upstream.broker, ev(type="delta", seq=4, bids=[["99", "7"]], asks=[]))
                    elif e.seq == 5:
                        break
                elif isinstance(e, StatusEvent):
                    seen.append(f"status {e.status}")
                    if e.status == "stale":
                        book = client.book(sym)
                        assert book.status == "stale" and book.seq == 2, book
                        produce(
                            upstream.broker,
                            ev(
                                type="snapshot",
                                seq=5,
                                bids=[["100.25", "3"], ["100", "1"]],
                                asks=[["101", "2"], ["101.5", "4"]],
                            ),
                        )
    finally:
        await client.close()
    assert seen == ["snapshot 1", "update 2", "status stale", "status live", "snapshot 5"], seen
    book = client.book(sym)
    assert book.status == "live"
    assert book.levels() == ([("100.25", "3"), ("100", "1")], [("101", "2"), ("101.5", "4")])
    doc = upstream.get(f"/v1/book/{sym}?depth=10")
    assert doc["seq"] == 5 and book.levels() == (
        [tuple(x) for x in doc["bids"]],
        [tuple(x) for x in doc["asks"]],
    )


class RecordingClient(Client):
    """RecordingClient keeps every request it sends, for the assertions."""

    def __init__(self, url: str, options: Options, sent: list[dict[str, Any]]) -> None:
        super().__init__(url, options)
        self._sent = sent

    async def _send(self, ws: ClientConnection, req: dict[str, Any], own: bool = False) -> None:
        await super()._send(ws, req, own)
        self._sent.append(dict(req))
