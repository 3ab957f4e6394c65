"""Replay helper: a /replay session (docs/protocol.md §4) as rows for backtests."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from websockets.exceptions import ConnectionClosed

from .book import Book
from .client import Options, closed_error, open_connection, trade_event
from .errors import MessageError, RequestError

if TYPE_CHECKING:
    import pandas


async def replay_rows_async(
    url: str,
    symbols: list[str],
    *,
    channels: list[str] | None = None,
    depth: int = 0,
    start: str | None = None,
    end: str | None = None,
    speed: float = 0,
    options: Options | None = None,
) -> list[dict[str, Any]]:
    """replay_rows_async plays ``symbols`` from ``start`` to ``end`` (RFC 3339; default all that is
    recorded) and returns one row per book message and trade, in order.

    Book rows are verified like live ones (prev_seq chain, checksum) and carry the top of book after the
    message: ``type`` "book", ``symbol``, ``seq``, ``time``, ``bid``, ``bid_size``, ``ask``,
    ``ask_size``, ``mid``, ``spread`` (Decimal or None). Trade rows: ``type`` "trade", ``symbol``,
    ``seq``, ``time``, ``price``, ``size``, ``side``, ``trade_id``. A gap or mismatch raises.
    """
    opts = options or Options()
    req: dict[str, Any] = {
        "op": "replay",
        "id": 1,
        "symbols": symbols,
        "depth": depth,
        "speed": speed,
    }
    if channels is not None:
        req["channels"] = channels
    if start is not None:
        req["from"] = start
    if end is not None:
        req["to"] = end
    books = {s: Book(s, depth) for s in symbols}
    rows: list[dict[str, Any]] = []
    ws = await open_connection(url, "/replay", opts)
    try:
        await ws.send(json.dumps(req))
        while True:
            try:
                raw = await asyncio.wait_for(ws.recv(), opts.heartbeat_timeout)
            except ConnectionClosed as e:
                raise closed_error(e) from e
            msg = json.loads(raw)
            if not isinstance(msg, dict):
                raise MessageError("a message that is not a JSON object")
            kind = msg.get("type")
            if kind in ("snapshot", "update", "status"):
                book = books.get(str(msg.get("symbol")))
                if book is None:
                    continue
                book.apply(msg)
                if kind == "status":
                    continue
                bid, ask = book.best_bid(), book.best_ask()
                rows.append(
                    {
                        "type": "book",
                        "symbol": book.symbol,
                        "seq": book.seq,
                        "time": book.time,
                        "bid": bid[0] if bid else None,
                        "bid_size": bid[1] if bid else None,
                        "ask": ask[0] if ask else None,
                        "ask_size": ask[1] if ask else None,
                        "mid": book.mid(),
                        "spread": book.spread(),
                    }
                )
            elif kind == "trade":
                t = trade_event(msg)
                rows.append(
                    {
                        "type": "trade",
                        "symbol": t.symbol,
                        "seq": t.seq,
                        "time": t.time,
                        "price": t.price,
                        "size": t.size,
                        "side": t.side,
                        "trade_id": t.trade_id,
                    }
                )
            elif kind == "replay_end":
                if msg.get("reason") != "done":
                    raise RequestError("replay_error", str(msg.get("message")), 1)
                return rows
            elif kind == "error":
                raise RequestError(str(msg.get("code")), str(msg.get("message")), 1)
    finally:
        await ws.close()


def replay_rows(url: str, symbols: list[str], **kwargs: Any) -> list[dict[str, Any]]:
    """replay_rows is replay_rows_async for scripts (it runs its own event loop)."""
    return asyncio.run(replay_rows_async(url, symbols, **kwargs))


def replay_frame(url: str, symbols: list[str], **kwargs: Any) -> pandas.DataFrame:
    """replay_frame returns replay_rows as a pandas DataFrame (install the ``pandas`` extra)."""
    try:
        import pandas as pd
    except ImportError as e:
        raise ImportError("replay_frame needs pandas: pip install 'depthcast[pandas]'") from e
    return pd.DataFrame(replay_rows(url, symbols, **kwargs))
