"""Book is one symbol's local order book kept from the feed's snapshot and updates."""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ._decimal import DecimalError, format_ticks, parse_ticks, ticks_to_decimal
from .checksum import checksum_levels, crc32
from .errors import ChecksumError, GapError, MessageError

Level = tuple[Decimal, Decimal]
"""Level is a (price, size) pair."""


def _levels(symbol: str, raw: Any, field: str) -> list[tuple[int, int]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise MessageError(f"{symbol}: {field} is not a list")
    out: list[tuple[int, int]] = []
    for lvl in raw:
        if (
            not isinstance(lvl, list)
            or len(lvl) != 2
            or not isinstance(lvl[0], str)
            or not isinstance(lvl[1], str)
        ):
            raise MessageError(f"{symbol}: {field} level is not a [price, size] pair")
        try:
            out.append((parse_ticks(lvl[0]), parse_ticks(lvl[1])))
        except DecimalError as e:
            raise MessageError(f"{symbol}: {field}: {e}") from e
    return out


def _int(msg: Mapping[str, Any], field: str) -> int:
    v = msg.get(field)
    if not isinstance(v, int) or isinstance(v, bool):
        raise MessageError(f"{msg.get('symbol')}: {field} missing or not an integer")
    return v


class Book:
    """Book is the verified top of one symbol's book for a subscription of ``depth`` (0: full book).

    Prices and sizes are integer ticks inside and decimal.Decimal at the accessors. ``apply`` checks the
    ``prev_seq`` chain and the checksum of every message. A Book is not safe for use from several threads.
    """

    def __init__(self, symbol: str, depth: int = 0) -> None:
        self.symbol = symbol
        self.depth = depth
        self.seq: int | None = None
        self.status = "stale"
        self.time: str | None = None
        self._bids: dict[int, int] = {}
        self._asks: dict[int, int] = {}

    def reset(self) -> None:
        """reset empties the book; it waits for a snapshot."""
        self.seq = None
        self.status = "stale"
        self._bids.clear()
        self._asks.clear()

    @property
    def ready(self) -> bool:
        """ready is True once a snapshot was applied."""
        return self.seq is not None

    def apply(self, msg: Mapping[str, Any]) -> None:
        """apply applies a ``snapshot``, ``update`` or ``status`` message.

        A ``status`` ``stale`` marks the book stale; it turns ``live`` again with the next snapshot.

        It raises GapError when an update does not chain to the book's seq and ChecksumError when the
        book afterwards does not have the message's checksum; the book is then reset.
        """
        kind = msg.get("type")
        if kind == "status":
            status = msg.get("status")
            if status not in ("live", "stale"):
                raise MessageError(f"{self.symbol}: unknown status {status!r}")
            if status == "stale":
                self.status = "stale"  # "live" waits for the snapshot that follows it
            return
        if kind == "snapshot":
            seq = _int(msg, "seq")
            bids = _levels(self.symbol, msg.get("bids"), "bids")
            asks = _levels(self.symbol, msg.get("asks"), "asks")
            self._bids = {p: s for p, s in bids if s != 0}
            self._asks = {p: s for p, s in asks if s != 0}
        elif kind == "update":
            seq = _int(msg, "seq")
            prev = _int(msg, "prev_seq")
            if self.seq is None or prev != self.seq:
                have = self.seq
                self.reset()
                raise GapError(self.symbol, f"update prev_seq {prev} does not follow seq {have}")
            bids = _levels(self.symbol, msg.get("bids"), "bids")
            asks = _levels(self.symbol, msg.get("asks"), "asks")
            for side, delta in ((self._bids, bids), (self._asks, asks)):
                for p, s in delta:
                    if s == 0:
                        side.pop(p, None)
                    else:
                        side[p] = s
        else:
            raise MessageError(f"{self.symbol}: not a book message: {kind!r}")
        self.seq = seq
        self.status = "live"
        t = msg.get("time")
        self.time = t if isinstance(t, str) else None
        want = _int(msg, "checksum")
        got = self.checksum()
        if got != want:
            text = self.checksum_string()
            self.reset()
            raise ChecksumError(
                self.symbol, f"checksum {got} of {text!r} at seq {seq} is not the feed's {want}"
            )

    def _top_ticks(self, n: int | None) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        if n is None:
            bp = sorted(self._bids, reverse=True)
            ap = sorted(self._asks)
        else:
            bp = heapq.nlargest(n, self._bids)
            ap = heapq.nsmallest(n, self._asks)
        return [(p, self._bids[p]) for p in bp], [(p, self._asks[p]) for p in ap]

    def checksum_string(self) -> str:
        """checksum_string is the checksum input of the book as it stands (docs/protocol.md §2.2)."""
        bids, asks = self._top_ticks(checksum_levels(self.depth))
        b = "".join(f"{format_ticks(p)}:{format_ticks(s)};" for p, s in bids)
        a = "".join(f"{format_ticks(p)}:{format_ticks(s)};" for p, s in asks)
        return f"{b}|{a}"

    def checksum(self) -> int:
        """checksum is the CRC-32 of checksum_string."""
        return crc32(self.checksum_string())

    def levels(self) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """levels returns the whole book as canonical decimal strings, best first."""
        bids, asks = self._top_ticks(None)
        return (
            [(format_ticks(p), format_ticks(s)) for p, s in bids],
            [(format_ticks(p), format_ticks(s)) for p, s in asks],
        )

    def top(self, n: int) -> tuple[list[Level], list[Level]]:
        """top returns the best ``n`` bids and asks as (price, size) Decimals, best first."""
        bids, asks = self._top_ticks(n)
        return (
            [(ticks_to_decimal(p), ticks_to_decimal(s)) for p, s in bids],
            [(ticks_to_decimal(p), ticks_to_decimal(s)) for p, s in asks],
        )

    def best_bid(self) -> Level | None:
        """best_bid returns the highest bid, or None when there is none."""
        if not self._bids:
            return None
        p = max(self._bids)
        return ticks_to_decimal(p), ticks_to_decimal(self._bids[p])

    def best_ask(self) -> Level | None:
        """best_ask returns the lowest ask, or None when there is none."""
        if not self._asks:
            return None
        p = min(self._asks)
        return ticks_to_decimal(p), ticks_to_decimal(self._asks[p])

    def mid(self) -> Decimal | None:
        """mid returns (best bid + best ask) / 2 exactly, or None when a side is empty."""
        if not self._bids or not self._asks:
            return None
        total = max(self._bids) + min(self._asks)
        return ticks_to_decimal(total) / 2

    def spread(self) -> Decimal | None:
        """spread returns best ask - best bid, or None when a side is empty."""
        if not self._bids or not self._asks:
            return None
        return ticks_to_decimal(min(self._asks) - max(self._bids))

    def __repr__(self) -> str:
        return f"Book({self.symbol!r}, depth={self.depth}, seq={self.seq}, status={self.status!r})"
