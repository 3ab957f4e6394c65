"""The book checksum: the string over the top levels and its CRC-32 (docs/protocol.md §2.2)."""

from __future__ import annotations

import zlib
from collections.abc import Iterable

from ._decimal import canonical

CHECKSUM_LEVELS = 10
"""CHECKSUM_LEVELS is the most levels per side the checksum covers."""


def checksum_levels(depth: int) -> int:
    """checksum_levels returns how many levels per side a subscription of ``depth`` covers (0: full book)."""
    if depth <= 0:
        return CHECKSUM_LEVELS
    return min(CHECKSUM_LEVELS, depth)


def checksum_string(bids: Iterable[tuple[str, str]], asks: Iterable[tuple[str, str]], depth: int = 0) -> str:
    """checksum_string builds the checksum input from levels best first (canonicalising each decimal)."""
    n = checksum_levels(depth)
    parts: list[str] = []
    for side_index, side in enumerate((bids, asks)):
        if side_index == 1:
            parts.append("|")
        for i, (price, size) in enumerate(side):
            if i >= n:
                break
            parts.append(f"{canonical(price)}:{canonical(size)};")
    return "".join(parts)


def crc32(text: str) -> int:
    """crc32 returns the CRC-32 (IEEE) of ``text`` in UTF-8 as an unsigned 32-bit integer."""
    return zlib.crc32(text.encode("utf-8")) & 0xFFFFFFFF
