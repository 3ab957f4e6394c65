"""depthcast: a client for the depthcast market data feed that keeps verified order books.

See clients/python/README.md. Decimals are decimal.Decimal in the API and integer ticks inside.
"""

from ._decimal import DecimalError, canonical, decimal_to_ticks, format_ticks, parse_ticks
from .book import Book, Level
from .checksum import checksum_levels, checksum_string, crc32
from .client import (
    FATAL_CLOSE_CODES,
    HEARTBEAT_TIMEOUT,
    BookEvent,
    Client,
    Event,
    Options,
    ReconnectEvent,
    ResyncEvent,
    RetryEvent,
    StatusEvent,
    TradeEvent,
)
from .errors import (
    BookError,
    ChecksumError,
    ClosedError,
    DepthcastError,
    GapError,
    HandshakeError,
    MessageError,
    PolicyViolation,
    RequestError,
    TryAgainLater,
)
from .replay import replay_frame, replay_rows, replay_rows_async

__all__ = [
    "FATAL_CLOSE_CODES",
    "HEARTBEAT_TIMEOUT",
    "BookEvent",
    "Client",
    "Event",
    "Options",
    "ReconnectEvent",
    "ResyncEvent",
    "RetryEvent",
    "StatusEvent",
    "TradeEvent",
    "replay_frame",
    "replay_rows",
    "replay_rows_async",
    "Book",
    "BookError",
    "ChecksumError",
    "ClosedError",
    "DecimalError",
    "DepthcastError",
    "GapError",
    "HandshakeError",
    "Level",
    "MessageError",
    "PolicyViolation",
    "RequestError",
    "TryAgainLater",
    "canonical",
    "checksum_levels",
    "checksum_string",
    "crc32",
    "decimal_to_ticks",
    "format_ticks",
    "parse_ticks",
]
