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
    GapError,
    Options,
    PolicyViolation,
    ReconnectEvent,
    ResyncEvent,
    RetryEvent,
    TradeEvent,
    TryAgainLater,
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
