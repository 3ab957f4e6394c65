"""Client: a WebSocket connection to a depthcast node that keeps verified books (docs/protocol.md §2).

A Client is used from one asyncio task at a time: iterate ``events()`` (or the client itself with
``async for``), or iterate it with a plain ``for`` from a script, which runs its own event loop.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from ._decimal import DecimalError, parse_ticks, ticks_to_decimal
from .book import Book
from .errors import (
    BookError,
    ClosedError,
    HandshakeError,
    MessageError,
    PolicyViolation,
    RequestError,
    TryAgainLater,
)


@dataclass(frozen=True)
class BookEvent:
    """BookEvent: ``book`` applied a snapshot or update with seq ``seq``; its checksum was verified."""

    symbol: str
    kind: Literal["snapshot", "update"]
    seq: int
    book: Book


@dataclass(frozen=True)
class TradeEvent:
    """TradeEvent is one trade of ``symbol``."""

    symbol: str
    seq: int
    time: str
    price: Decimal
    size: Decimal
    side: str
    trade_id: str


@dataclass(frozen=True)
class StatusEvent:
    """StatusEvent: the feed marked ``symbol`` ``stale`` or ``live``."""

    symbol: str
    status: str


@dataclass(frozen=True)
class ResyncEvent:
    """ResyncEvent: ``symbol``'s book had a gap or a checksum mismatch (``error``) and was resubscribed."""

    symbol: str
    error: BookError


@dataclass(frozen=True)
class ReconnectEvent:
    """ReconnectEvent: the connection ended (``error``); the client reconnects after ``delay`` seconds."""

    attempt: int
    delay: float
    error: Exception


@dataclass(frozen=True)
class RetryEvent:
    """RetryEvent: the feed refused ``symbol`` of a subscription the client made by itself (``error``:
    ``unknown_symbol`` from a node that has not read every symbol yet, ``unavailable`` from one still
    catching up); it is sent again for ``symbol`` alone after ``delay`` seconds. An unconflated book that
    holds a seq keeps it meanwhile (``stale``) and resumes from it; any other starts again from a snapshot."""

    symbol: str
    delay: float
    error: RequestError


Event = BookEvent | TradeEvent | StatusEvent | ResyncEvent | ReconnectEvent | RetryEvent
"""Event is what the client's iterators yield."""

HEARTBEAT_TIMEOUT = 4000
"""HEARTBEAT_TIMEOUT is the close code of a connection the client drops because nothing arrived for
``Options.heartbeat_timeout`` seconds."""

FATAL_CLOSE_CODES = frozenset({1002, 1003, 1007, 1008, 1009})
"""FATAL_CLOSE_CODES end the client instead of a reconnect: 1008 (policy) and the codes for a fault in
what the client sent, which a retry would repeat."""

_RETRIED_REFUSALS = frozenset({"unknown_symbol", "unavailable"})


@dataclass
class _BookSub:
    depth: int
    interval_ms: int


@dataclass
class Options:
    """Options of a Client; every field has a default.

    - ``token``: API key or JWT; sent as ``Authorization: Bearer`` unless ``token_in_query``.
    - ``heartbeat_timeout``: seconds without any message before the connection is dropped (default 15;
      the feed sends a heartbeat at least every 5 s).
    - ``backoff_initial`` / ``backoff_max``: reconnect delay bounds in seconds (0.25, 30); the delay
      doubles per failed attempt with full jitter in [delay/2, delay].
    - ``try_again_min``: the least delay after a 1013 close (2 s).
    - ``max_attempts``: failed connection attempts in a row before giving up (None: never).
    """

    token: str | None = None
    token_in_query: bool = False
    heartbeat_timeout: float = 15.0
    backoff_initial: float = 0.25
    backoff_max: float = 30.0
    try_again_min: float = 2.0
    max_attempts: int | None = None
    open_timeout: float = 10.0
    extra_headers: dict[str, str] = field(default_factory=dict)


def _ws_url(url: str, path: str, token: str | None, in_query: bool) -> str:
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    p = parts.path if parts.path not in ("", "/") else path
    query = parts.query
    if token is not None and in_query:
        query = (query + "&" if query else "") + "token=" + quote(token, safe="")
    return urlunsplit((scheme, parts.netloc, p, query, ""))


async def open_connection(url: str, path: str, opts: Options) -> ClientConnection:
    """open_connection opens a WebSocket to ``path`` of ``url`` with the token of ``opts``."""
    headers = dict(opts.extra_headers)
    if opts.token is not None and not opts.token_in_query:
        headers["Authorization"] = f"Bearer {opts.token}"
    try:
        return await connect(
            _ws_url(url, path, opts.token, opts.token_in_query),
            additional_headers=headers,
            open_timeout=opts.open_timeout,
            max_size=64 << 20,
            ping_interval=None,
        )
    except InvalidStatus as e:
        body = e.response.body.decode("utf-8", "replace") if e.response.body else ""
        raise HandshakeError(e.response.status_code, body.strip()) from e


def closed_error(e: ConnectionClosed) -> ClosedError:
    """closed_error maps a websockets close to a typed error by its code (docs/protocol.md §6)."""
    code, reason = (e.rcvd.code, e.rcvd.reason) if e.rcvd is not None else (1006, "no close frame")
    if code == 1013:
        return TryAgainLater(code, reason)
    if code == 1008:
        return PolicyViolation(code, reason)
    return ClosedError(code, reason)


def _decimal(msg: dict[str, Any], name: str) -> Decimal:
    v = msg.get(name)
    if not isinstance(v, str):
        raise MessageError(f"{msg.get('symbol')}: {name} is not a decimal string")
    try:
        return ticks_to_decimal(parse_ticks(v))
    except DecimalError as e:
        raise MessageError(f"{msg.get('symbol')}: {name}: {e}") from e


def trade_event(msg: dict[str, Any]) -> TradeEvent:
    """trade_event decodes a ``trade`` message."""
    seq = msg.get("seq")
    if not isinstance(seq, int):
        raise MessageError("trade without an integer seq")
    return TradeEvent(
        symbol=str(msg.get("symbol", "")),
        seq=seq,
        time=str(msg.get("time", "")),
        price=_decimal(msg, "price"),
        size=_decimal(msg, "size"),
        side=str(msg.get("side", "")),
        trade_id=str(msg.get("trade_id", "")),
    )


class Client:
    """Client keeps verified books and forwards trades over one connection that it keeps open.

    On a gap or checksum mismatch it resubscribes that symbol alone. When the connection ends (1001,
    1006, a heartbeat timeout, 1013 and others) it reconnects with exponential backoff and jitter and
    resubscribes each unconflated book with ``resume`` at the seq it holds. When the feed refuses one of
    these requests of its own as ``unknown_symbol`` or ``unavailable`` (a node still reading its backlog),
    the client retries each refused symbol alone, with a backoff that grows with each refusal until the
    symbol's book data arrives: the symbol the error names (the request's other symbols stand), or every
    symbol of the request still waiting for its book when the error names none. A 1008 close (or 1002,
    1003, 1007, 1009) or a refused handshake (401, 403) raises and stops; so does an ``error`` reply to one
    of the caller's own subscriptions.
    """

    def __init__(self, url: str, options: Options | None = None) -> None:
        self.url = url
        self.options = options or Options()
        self.books: dict[str, Book] = {}
        self.messages = 0
        self.verified = 0
        self._book_subs: dict[str, _BookSub] = {}
        self._trades: list[str] = []
        self._next_id = 1
        self._ws: ClientConnection | None = None
        self._closed = False
        self._connections = 0
        # This connection's requests for the caller's subscriptions, by id: an error reply to one is raised.
        self._callers: set[int] = set()
        # The symbols of the requests the client made by itself (restore, resync, retry) that have not
        # had their book data or an error yet: the id of the newest such request for each.
        self._own: dict[str, int] = {}
        self._refusals: dict[str, int] = {}  # refusals of each symbol since its book data last arrived
        self._retries: dict[str, asyncio.Task[None]] = {}  # the retry waiting for each refused symbol

    def subscribe_book(self, symbols: list[str], depth: int = 0, interval_ms: int = 0) -> Client:
        """subscribe_book adds book subscriptions; call before iterating (or while, taking effect on
        the next connection)."""
        for s in symbols:
            self._book_subs[s] = _BookSub(depth, interval_ms)
            self.books[s] = Book(s, depth)
        return self

    def subscribe_trades(self, symbols: list[str]) -> Client:
        """subscribe_trades adds trade subscriptions."""
        self._trades.extend(s for s in symbols if s not in self._trades)
        return self

    def book(self, symbol: str) -> Book:
        """book returns the local book of ``symbol`` (KeyError if not subscribed)."""
        return self.books[symbol]

    async def close(self) -> None:
        """close ends the connection; iteration stops."""
        self._closed = True
        if self._ws is not None:
            await self._ws.close()

    async def reconnect(self) -> None:
        """reconnect drops the connection; the client reconnects and resumes as after a network fault."""
        if self._ws is not None:
            await self._ws.close()

    def _id(self) -> int:
        i = self._next_id
        self._next_id += 1
        return i

    async def _send(self, ws: ClientConnection, req: dict[str, Any], own: bool = False) -> None:
        rid = req["id"] = self._id()
        if own:
            for sym in req["symbols"]:
                self._own[sym] = rid  # supersedes an older request of the client's own for sym
        else:
            self._callers.add(rid)
        await ws.send(json.dumps(req, separators=(",", ":")))

    async def _subscribe_all(self, ws: ClientConnection) -> None:
        groups: dict[tuple[int, int], list[str]] = {}
        for sym, sub in self._book_subs.items():
            groups.setdefault((sub.depth, sub.interval_ms), []).append(sym)
        for (depth, interval), syms in groups.items():
            req = self._book_request(syms, _BookSub(depth, interval), resume=True)
            if "resume" not in req:
                for s in syms:
                    self.books[s].reset()
            await self._send(ws, req, own=self._connections > 1)
        if self._trades:
            await self._send(ws, {"op": "subscribe", "channel": "trades", "symbols": self._trades})

    async def _resubscribe(self, ws: ClientConnection, symbol: str) -> None:
        sub = self._book_subs[symbol]
        self.books[symbol].reset()
        await self._send(ws, self._book_request([symbol], sub, resume=False), own=True)

    def _book_request(self, symbols: list[str], sub: _BookSub, resume: bool) -> dict[str, Any]:
        """_book_request is the book subscribe request of ``symbols`` at ``sub``'s depth and interval.
        With ``resume``, and ``sub`` unthrottled (interval_ms 0), it resumes each of the symbols whose
        book has a seq; without such a symbol it has no resume."""
        req: dict[str, Any] = {
            "op": "subscribe",
            "channel": "book",
            "symbols": symbols,
            "depth": sub.depth,
            "interval_ms": sub.interval_ms,
        }
        if resume and sub.interval_ms == 0:
            seqs = {s: seq for s in symbols if (seq := self.books[s].seq) is not None}
            if seqs:
                req["resume"] = seqs
        return req

    def _refused(self, ws: ClientConnection, err: RequestError) -> list[RetryEvent] | None:
        """_refused schedules the retries of a request the client made by itself that the feed refused
        for now (unknown_symbol, unavailable): of the symbol the error names alone (the request's other
        symbols stand), or, when it names none, of each of the request's symbols still waiting for its
        book. None when the error is for the caller: a reply to one of the caller's requests, or a refusal
        that a retry would repeat."""
        rid = err.request_id
        if rid is None or not 0 < rid < self._next_id or rid in self._callers:
            return None
        if err.code not in _RETRIED_REFUSALS:
            return None
        if err.symbol is None:
            syms = [sym for sym, r in self._own.items() if r == rid]
        elif self._own.get(err.symbol, rid) > rid or (
            err.symbol not in self._own and err.symbol in self._retries
        ):
            return []  # a newer request of the client's own, or a retry on its way, answers for it
        else:
            syms = [err.symbol]
        events: list[RetryEvent] = []
        for sym in syms:
            self._own.pop(sym, None)
            sub = self._book_subs.get(sym)
            if sub is None:
                continue
            n = self._refusals.get(sym, 0)
            self._refusals[sym] = n + 1
            delay = self._delay(n, err)
            book = self.books[sym]
            if book.seq is None or sub.interval_ms != 0:
                book.reset()
            else:
                book.status = "stale"  # kept: the retry resumes from its seq
            self._schedule_retry(ws, sym, delay)
            events.append(RetryEvent(sym, delay, err))
        return events

    def _schedule_retry(self, ws: ClientConnection, symbol: str, delay: float) -> None:
        """_schedule_retry sends the subscription of ``symbol`` again after ``delay`` seconds, in place of
        a retry of it already waiting."""
        old = self._retries.pop(symbol, None)
        if old is not None:
            old.cancel()
        task = asyncio.get_running_loop().create_task(self._retry(ws, symbol, delay))
        self._retries[symbol] = task

        def done(t: asyncio.Task[None]) -> None:
            if self._retries.get(symbol) is t:
                del self._retries[symbol]

        task.add_done_callback(done)

    async def _retry(self, ws: ClientConnection, symbol: str, delay: float) -> None:
        await asyncio.sleep(delay)
        sub = self._book_subs.get(symbol)
        if sub is None or self._closed:
            return
        try:
            await self._send(ws, self._book_request([symbol], sub, resume=True), own=True)
        except ConnectionClosed:
            pass  # the reconnect restores it

    def _delay(self, attempt: int, err: Exception) -> float:
        o = self.options
        d = min(o.backoff_max, o.backoff_initial * (2 ** min(attempt, 30)))
        d = random.uniform(d / 2, d)
        if isinstance(err, TryAgainLater | HandshakeError):
            d = max(d, o.try_again_min)
        return d

    async def events(self) -> AsyncGenerator[Event, None]:
        """events yields the client's events until close, a 1008, or a refused handshake."""
        attempt = 0
        while not self._closed:
            err: Exception
            try:
                ws = await open_connection(self.url, "/ws", self.options)
            except HandshakeError as e:
                if e.status != 429 and e.status < 500:
                    raise
                err = e
            except (OSError, asyncio.TimeoutError, InvalidHandshake) as e:
                err = e
            else:
                self._ws = ws
                self._connections += 1
                self._callers.clear()
                self._own.clear()
                try:
                    await self._subscribe_all(ws)
                    async for ev in self._read(ws):
                        attempt = 0
                        yield ev
                    if self._closed:
                        return
                    err = ClosedError(HEARTBEAT_TIMEOUT, "heartbeat timeout")
                    await ws.close(HEARTBEAT_TIMEOUT, "heartbeat timeout")
                except ConnectionClosed as e:
                    if self._closed:
                        return
                    err = closed_error(e)
                    if err.code in FATAL_CLOSE_CODES:
                        raise err from e
                finally:
                    self._ws = None
                    for task in self._retries.values():
                        task.cancel()
                    self._retries.clear()
                    await ws.close()  # a no-op after the heartbeat close
            attempt += 1
            if self.options.max_attempts is not None and attempt > self.options.max_attempts:
                raise err
            delay = self._delay(attempt - 1, err)
            yield ReconnectEvent(attempt, delay, err)
            await asyncio.sleep(delay)

    async def _read(self, ws: ClientConnection) -> AsyncIterator[Event]:
        while True:
            try:
                raw = await asyncio.wait_for(ws.recv(), self.options.heartbeat_timeout)
            except asyncio.TimeoutError:
                return
            self.messages += 1
            try:
                msg = json.loads(raw)
            except ValueError as e:
                raise MessageError(f"a message that is not JSON: {e}") from e
            if not isinstance(msg, dict):
                raise MessageError("a message that is not a JSON object")
            kind = msg.get("type")
            if kind in ("snapshot", "update"):
                sym = msg.get("symbol")
                book = self.books.get(sym) if isinstance(sym, str) else None
                if book is None or (kind == "update" and book.seq is None):
                    continue  # not ours, or in flight before the snapshot of a resubscribe
                try:
                    book.apply(msg)
                except BookError as e:
                    await self._resubscribe(ws, book.symbol)
                    yield ResyncEvent(book.symbol, e)
                    continue
                self.verified += 1
                self._own.pop(book.symbol, None)
                self._refusals.pop(book.symbol, None)
                assert book.seq is not None
                yield BookEvent(book.symbol, kind, book.seq, book)
            elif kind == "trade":
                yield trade_event(msg)
            elif kind == "status":
                sym = msg.get("symbol")
                if isinstance(sym, str) and sym in self.books:
                    self.books[sym].apply(msg)
                    self._own.pop(sym, None)  # the subscription stands: its snapshot follows when live
                yield StatusEvent(str(sym), str(msg.get("status")))
            elif kind == "error":
                rid, sym = msg.get("id"), msg.get("symbol")
                err = RequestError(
                    str(msg.get("code")),
                    str(msg.get("message")),
                    rid if isinstance(rid, int) and not isinstance(rid, bool) else None,
                    sym if isinstance(sym, str) else None,
                )
                retries = self._refused(ws, err)
                if retries is None:
                    raise err
                for r in retries:
                    yield r
            # subscribed (the symbols of a request of the client's own wait for their book data, as an
            # error about one of them may follow), unsubscribed, heartbeat, pong: nothing to do beyond
            # resetting the timeout

    def __aiter__(self) -> AsyncIterator[Event]:
        return self.events()

    def __iter__(self) -> Iterator[Event]:
        """__iter__ is the blocking iterator for scripts: it runs the client on its own event loop."""
        loop = asyncio.new_event_loop()
        agen = self.events()
        try:
            while True:
                try:
                    yield loop.run_until_complete(agen.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            loop.run_until_complete(agen.aclose())
            loop.close()
