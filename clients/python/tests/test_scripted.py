"""The client's resync, reconnect and close-code handling against a scripted WebSocket server (real TCP)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from depthcast import (
    HEARTBEAT_TIMEOUT,
    BookEvent,
    Client,
    ClosedError,
    Event,
    GapError,
    Options,
    PolicyViolation,
    ReconnectEvent,
    ResyncEvent,
    RetryEvent,
    TradeEvent,
    TryAgainLater,
    checksum_string,
    crc32,
)

from .test_vectors import SEQUENCES

Handler = Callable[[ServerConnection], Awaitable[None]]


async def with_server(handler: Handler, body: Callable[[str], Awaitable[None]]) -> None:
    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        await asyncio.wait_for(body(f"ws://127.0.0.1:{port}"), 60)


def vector(name: str) -> dict[str, Any]:
    return next(s for s in SEQUENCES if s["name"] == name)


async def test_gap_resubscribes_symbol() -> None:
    seq = vector("gap_missing_update")
    msgs = [json.dumps(st["message"]) for st in seq["steps"]]
    subscribes: list[dict[str, Any]] = []

    async def handler(ws: ServerConnection) -> None:
        async for raw in ws:
            req = json.loads(raw)
            subscribes.append(req)
            if len(subscribes) == 1:
                for m in msgs:  # snapshot, updates, then one whose prev_seq skips
                    await ws.send(m)
            else:
                await ws.send(msgs[0])  # the fresh snapshot of the resubscribe

    async def body(url: str) -> None:
        client = Client(url, Options(heartbeat_timeout=120))  # a reconnect would not be a resubscribe
        client.subscribe_book([seq["symbol"]], depth=seq["depth"])
        events: list[Any] = []
        async for ev in client:
            assert not isinstance(ev, ReconnectEvent), ev
            events.append(ev)
            if isinstance(ev, BookEvent) and any(isinstance(e, ResyncEvent) for e in events):
                break
        await client.close()
        resync = next(e for e in events if isinstance(e, ResyncEvent))
        assert isinstance(resync.error, GapError)
        assert len(subscribes) == 2 and subscribes[1]["symbols"] == [seq["symbol"]]
        assert "resume" not in subscribes[1]
        assert events[-1].kind == "snapshot"

    await with_server(handler, body)


async def test_try_again_later_backs_off_and_resumes() -> None:
    seq = vector("resume")
    steps = seq["steps"]
    cut = next(i for i, st in enumerate(steps) if "reconnect" in st)
    first = [json.dumps(st["message"]) for st in steps[:cut]]
    rest = [json.dumps(st["message"]) for st in steps[cut + 1 :]]
    requests: list[dict[str, Any]] = []

    async def handler(ws: ServerConnection) -> None:
        req = json.loads(await ws.recv())
        requests.append(req)
        if len(requests) == 1:
            for m in first:
                await ws.send(m)
            await ws.close(1013, "slow consumer: 100 bytes queued")
            return
        for m in rest:
            await ws.send(m)
        await ws.wait_closed()

    async def body(url: str) -> None:
        client = Client(url, Options(backoff_initial=0.01, try_again_min=0.2))
        client.subscribe_book([seq["symbol"]], depth=seq["depth"])
        reconnects: list[ReconnectEvent] = []
        n = 0
        async for ev in client:
            if isinstance(ev, ReconnectEvent):
                reconnects.append(ev)
            elif isinstance(ev, BookEvent):
                n += 1
                if n == len(first) + len(rest):
                    break
            else:
                raise AssertionError(ev)
        await client.close()
        assert len(reconnects) == 1 and isinstance(reconnects[0].error, TryAgainLater)
        assert reconnects[0].delay >= 0.2
        assert requests[1]["resume"] == {seq["symbol"]: steps[cut]["reconnect"]["resume"]}
        assert client.book(seq["symbol"]).checksum() == steps[-1]["expect"]["checksum"]

    await with_server(handler, body)


async def test_heartbeat_timeout_reconnects() -> None:
    connections = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        await ws.wait_closed()  # says nothing, not even a heartbeat

    async def body(url: str) -> None:
        client = Client(url, Options(heartbeat_timeout=0.3, backoff_initial=0.01))
        client.subscribe_trades(["BTC-USD"])
        async for ev in client:
            assert isinstance(ev, ReconnectEvent)
            assert isinstance(ev.error, ClosedError) and ev.error.code == HEARTBEAT_TIMEOUT
            if ev.attempt == 2:
                break
        await client.close()
        assert connections >= 2

    await with_server(handler, body)


async def test_refused_restore_is_retried() -> None:
    """A node that has not read a symbol yet refuses the restore after a reconnect (unknown_symbol): the
    client asks again for that symbol after a backoff instead of giving up or raising."""
    seq = vector("resume")
    steps = seq["steps"]
    cut = next(i for i, st in enumerate(steps) if "reconnect" in st)
    first = [json.dumps(st["message"]) for st in steps[:cut]]
    requests: list[dict[str, Any]] = []

    async def handler(ws: ServerConnection) -> None:
        async for raw in ws:
            req = json.loads(raw)
            requests.append(req)
            if len(requests) == 1:
                for m in first:
                    await ws.send(m)
                await ws.close(1001, "server draining")
                return
            if len(requests) == 2:
                await ws.send(
                    json.dumps(
                        {
                            "type": "error",
                            "id": req["id"],
                            "code": "unknown_symbol",
                            "message": "no such symbol",
                        }
                    )
                )
            else:
                await ws.send(first[0])  # a fresh snapshot

    async def body(url: str) -> None:
        client = Client(url, Options(backoff_initial=0.05, heartbeat_timeout=120))
        client.subscribe_book([seq["symbol"]], depth=seq["depth"])
        kinds: list[str] = []
        async for ev in client:
            kinds.append(type(ev).__name__)
            if isinstance(ev, RetryEvent):
                assert ev.symbol == seq["symbol"] and ev.error.code == "unknown_symbol" and ev.delay > 0
            if isinstance(ev, BookEvent) and "RetryEvent" in kinds:
                break
        await client.close()
        assert kinds.count("BookEvent") == len(first) + 1
        assert "ReconnectEvent" in kinds and kinds[-2:] == ["RetryEvent", "BookEvent"], kinds
        assert len(requests) == 3 and requests[2]["symbols"] == [seq["symbol"]]

    await with_server(handler, body)


BTC, ETH = "BTC-USD", "ETH-USD"
HELD = {BTC: 10, ETH: 20}  # the seq of each book when the first node goes


def book_message(kind: str, symbol: str, seq: int) -> dict[str, Any]:
    """book_message is a snapshot or update at ``seq`` of a book with one bid (100, size seq) and one ask."""
    msg: dict[str, Any] = {
        "type": kind,
        "channel": "book",
        "symbol": symbol,
        "seq": seq,
        "time": "2026-11-24T10:00:00Z",
        "bids": [["100", str(seq)]],
        "asks": [["101", "1"]],
        "checksum": crc32(checksum_string([("100", str(seq))], [("101", "1")])),
    }
    if kind == "update":
        msg["prev_seq"] = seq - 1
    return msg


def subscribed(rid: int, symbols: list[str]) -> dict[str, Any]:
    return {
        "type": "subscribed",
        "id": rid,
        "channel": "book",
        "symbols": symbols,
        "depth": 0,
        "interval_ms": 0,
    }


def unavailable(rid: int, symbol: str | None) -> dict[str, Any]:
    """unavailable is the error of a node still catching up: about ``symbol`` alone, or the whole request."""
    msg: dict[str, Any] = {
        "type": "error",
        "id": rid,
        "code": "unavailable",
        "message": f"{symbol or 'the request'} is not available now: this node is catching up; try again",
    }
    if symbol is not None:
        msg["symbol"] = symbol
    return msg


# How a node still catching up answers the restore of BTC-USD and ETH-USD after a reconnect (by the id of
# the restore request), the symbol its error names, how many of the client's retries of ETH-USD it refuses
# too, and the symbols the client retries, in order.
REFUSED_RESTORES: list[tuple[str, Callable[[int], list[dict[str, Any]]], str | None, int, list[str]]] = [
    (
        "symbol_error_before_subscribed",
        lambda rid: [unavailable(rid, ETH), subscribed(rid, [BTC]), book_message("update", BTC, 11)],
        ETH,
        0,
        [ETH],
    ),
    (
        "symbol_error_after_subscribed",  # the book's writer did not answer in time
        lambda rid: [subscribed(rid, [BTC, ETH]), book_message("update", BTC, 11), unavailable(rid, ETH)],
        ETH,
        0,
        [ETH],
    ),
    ("whole_request_error", lambda rid: [unavailable(rid, None)], None, 0, [BTC, ETH]),
    (
        "repeated_symbol_errors",
        lambda rid: [unavailable(rid, ETH), subscribed(rid, [BTC]), book_message("update", BTC, 11)],
        ETH,
        3,
        [ETH, ETH, ETH, ETH],
    ),
]


@pytest.mark.parametrize(
    "restore,named,refusals,retried", [c[1:] for c in REFUSED_RESTORES], ids=[c[0] for c in REFUSED_RESTORES]
)
async def test_refused_restore_retries_refused_symbols(
    restore: Callable[[int], list[dict[str, Any]]], named: str | None, refusals: int, retried: list[str]
) -> None:
    """A node that restarted and is still catching up refuses the resume of a book it is behind on: the
    client retries that symbol alone, resuming from the seq it holds, with a delay that grows with each
    refusal; the request's other symbols stand. An error that names no symbol is about the whole request."""
    connections = 0
    requests: list[dict[str, Any]] = []  # on the second connection: the restore, then the retries

    async def handler(ws: ServerConnection) -> None:
        nonlocal connections, refusals
        connections += 1
        first = connections == 1
        async for raw in ws:
            req = json.loads(raw)
            if first:
                await ws.send(json.dumps(subscribed(req["id"], req["symbols"])))
                for sym in (BTC, ETH):
                    await ws.send(json.dumps(book_message("snapshot", sym, HELD[sym])))
                await ws.close(1001, "server draining")
                return
            requests.append(req)
            replies = restore(req["id"]) if len(requests) == 1 else []
            if len(requests) > 1:
                sym = req["symbols"][0]
                if sym == ETH and refusals > 0:
                    refusals -= 1
                    replies = [unavailable(req["id"], ETH)]  # and no "subscribed": nothing is left
                elif "resume" in req:
                    replies = [
                        subscribed(req["id"], [sym]),
                        book_message("update", sym, req["resume"][sym] + 1),
                    ]
                else:  # a snapshot from a node still behind: the client's book back in time
                    replies = [subscribed(req["id"], [sym]), book_message("snapshot", sym, HELD[sym] - 5)]
            for m in replies:
                await ws.send(json.dumps(m))

    async def body(url: str) -> None:
        client = Client(url, Options(backoff_initial=0.02, heartbeat_timeout=120))
        client.subscribe_book([BTC, ETH])
        events: list[Event] = []
        waiting: list[tuple[int | None, str]] = []  # each refused book when its RetryEvent comes
        async for ev in client:
            events.append(ev)
            if isinstance(ev, RetryEvent):
                waiting.append((client.book(ev.symbol).seq, client.book(ev.symbol).status))
            since = next((i for i, e in enumerate(events) if isinstance(e, ReconnectEvent)), len(events))
            got = {e.symbol for e in events[since:] if isinstance(e, BookEvent)}
            if got == {BTC, ETH}:
                break
        await client.close()

        retries = [e for e in events if isinstance(e, RetryEvent)]
        assert [e.symbol for e in retries] == retried, events
        assert all(e.error.code == "unavailable" and e.error.symbol == named for e in retries)
        for i, e in enumerate(e for e in retries if e.symbol == ETH):  # the delay doubles per refusal
            assert 0.02 * 2**i / 2 <= e.delay <= 0.02 * 2**i, (i, e.delay)
        assert waiting == [(HELD[e.symbol], "stale") for e in retries]  # kept while the retry waits
        # Each retry names its symbol alone and resumes from the seq held; no other symbol is asked again.
        # (Retries of several symbols wait out delays of their own: their order is not the events'.)
        assert sorted(str(r["symbols"]) for r in requests[1:]) == sorted(str([s]) for s in retried), requests
        assert all(r["resume"] == {s: HELD[s] for s in r["symbols"]} for r in requests[1:]), requests
        since = next(i for i, e in enumerate(events) if isinstance(e, ReconnectEvent))
        resumed = [(e.symbol, e.kind, e.seq) for e in events[since:] if isinstance(e, BookEvent)]
        assert sorted(resumed) == [(BTC, "update", 11), (ETH, "update", 21)], resumed
        assert refusals == 0

    await with_server(handler, body)


TRADE = {
    "type": "trade",
    "channel": "trades",
    "symbol": "BTC-USD",
    "seq": 1,
    "time": "2026-11-24T10:00:00Z",
    "price": "1",
    "size": "1",
    "side": "buy",
    "trade_id": "t-1",
}

# What the client does on each close code: reconnect (at least try_again_min after a 1013) or raise.
CLOSES: list[tuple[int, type[ClosedError], bool]] = [
    (1000, ClosedError, True),
    (1001, ClosedError, True),
    (1006, ClosedError, True),  # no close frame: the TCP connection dropped
    (1011, ClosedError, True),
    (1013, TryAgainLater, True),
    (1008, PolicyViolation, False),
    (1002, ClosedError, False),
    (1003, ClosedError, False),
    (1007, ClosedError, False),
    (1009, ClosedError, False),
]


@pytest.mark.parametrize("code,kind,retry", CLOSES, ids=[str(c[0]) for c in CLOSES])
async def test_close_codes(code: int, kind: type[ClosedError], retry: bool) -> None:
    connections = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        await ws.recv()
        if connections > 1:
            await ws.send(json.dumps(TRADE))
            await ws.wait_closed()
        elif code == 1006:
            ws.transport.abort()
        else:
            await ws.close(code, f"closed with {code}")

    async def body(url: str) -> None:
        client = Client(url, Options(backoff_initial=0.01, try_again_min=0.15, heartbeat_timeout=60))
        client.subscribe_trades(["BTC-USD"])
        if not retry:
            with pytest.raises(kind) as e:
                async for ev in client:
                    raise AssertionError(ev)
            assert type(e.value) is kind and e.value.code == code
            assert connections == 1
            return
        events = client.events()
        ev = await anext(events)
        assert isinstance(ev, ReconnectEvent), ev
        assert type(ev.error) is kind and ev.error.code == code, ev.error
        assert ev.delay >= (0.15 if code == 1013 else 0)
        assert isinstance(await anext(events), TradeEvent)  # from the second connection
        assert connections == 2
        await events.aclose()
        await client.close()

    await with_server(handler, body)
