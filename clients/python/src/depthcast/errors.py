"""Typed errors of the depthcast client."""

from __future__ import annotations


class DepthcastError(Exception):
    """DepthcastError is the base of every error the client raises."""


class BookError(DepthcastError):
    """BookError is a fault in one symbol's book; the client resubscribes that symbol."""

    def __init__(self, symbol: str, message: str) -> None:
        super().__init__(f"{symbol}: {message}")
        self.symbol = symbol


class GapError(BookError):
    """GapError: an update's ``prev_seq`` is not the seq the book holds (a message was missed)."""


class ChecksumError(BookError):
    """ChecksumError: the book after a message does not have the message's checksum."""


class MessageError(DepthcastError):
    """MessageError: a message from the feed that does not have the documented shape."""


class ClosedError(DepthcastError):
    """ClosedError: the feed closed the connection with ``code`` and ``reason``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"connection closed {code}: {reason}" if reason else f"connection closed {code}")
        self.code = code
        self.reason = reason


class TryAgainLater(ClosedError):
    """TryAgainLater is a 1013 close (slow consumer, load shedding): the client backs off and retries."""


class PolicyViolation(ClosedError):
    """PolicyViolation is a 1008 close (unauthorized, token expired, a limit): the client stops."""


class HandshakeError(DepthcastError):
    """HandshakeError: the HTTP upgrade was refused with ``status`` (401, 403, 429, ...)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"handshake refused with HTTP {status}: {message}")
        self.status = status


class RequestError(DepthcastError):
    """RequestError is an ``error`` reply of the feed to a request (``code`` as in docs/protocol.md §7).

    ``symbol`` is the one symbol of the request the error is about (``unavailable`` for one book; the
    request's other symbols stand), or None when it is about the whole request: nothing of it was done.
    """

    def __init__(self, code: str, message: str, request_id: int | None, symbol: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.request_id = request_id
        self.symbol = symbol
