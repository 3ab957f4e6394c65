"""Decimal canonicalisation: decimal strings to integer ticks and back (docs/protocol.md §2)."""

from __future__ import annotations

import re
from decimal import Decimal

SCALE = 18
"""SCALE is the number of fractional digits of a tick: every price and size is an integer count of 1e-18."""

_ONE = 10**SCALE
_INT64_MAX = 2**63 - 1
_INT64_MIN = -(2**63)
_PATTERN = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?")


class DecimalError(ValueError):
    """DecimalError is raised for a string that is not a decimal or does not fit.

    ``reason`` is ``"not_decimal"`` or ``"overflow"``.
    """

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(f"{reason.replace('_', ' ')}: {text!r}")
        self.text = text
        self.reason = reason


def parse_ticks(text: str) -> int:
    """parse_ticks returns ``text`` as an integer count of 1e-18 units, never rounding.

    It accepts a sign, leading zeros, an exponent and a leading point; it raises DecimalError when the
    string is not a decimal, when its coefficient exceeds a signed 64-bit integer, or when a non-zero
    digit lies beyond 18 fractional digits.
    """
    m = _PATTERN.fullmatch(text)
    if m is None:
        raise DecimalError(text, "not_decimal")
    sign, whole, frac, exp = m.group(1), m.group(2), m.group(3), m.group(4)
    frac = frac or ""
    if not whole and not frac:
        raise DecimalError(text, "not_decimal")
    if len(text) > 400 or (exp is not None and len(exp.lstrip("+-")) > 6):
        raise DecimalError(text, "overflow")
    mantissa = int(whole + frac)
    e = (int(exp) if exp is not None else 0) - len(frac)
    while e < 0 and mantissa != 0 and mantissa % 10 == 0:
        mantissa //= 10
        e += 1
    if mantissa == 0:
        return 0
    if sign == "-":
        mantissa = -mantissa
    if e < -SCALE:
        raise DecimalError(text, "overflow")
    if e > 0:
        if e > 19:
            raise DecimalError(text, "overflow")
        mantissa *= 10**e
        e = 0
    if mantissa > _INT64_MAX or mantissa < _INT64_MIN:
        raise DecimalError(text, "overflow")
    return mantissa * int(10 ** (SCALE + e))


def format_ticks(ticks: int) -> str:
    """format_ticks returns the canonical string of a tick count: no exponent, no trailing zeros."""
    sign = "-" if ticks < 0 else ""
    whole, frac = divmod(abs(ticks), _ONE)
    if frac == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{str(frac).rjust(SCALE, '0').rstrip('0')}"


def canonical(text: str) -> str:
    """canonical returns the canonical form of a decimal string (``"43000.10"`` → ``"43000.1"``)."""
    return format_ticks(parse_ticks(text))


def ticks_to_decimal(ticks: int) -> Decimal:
    """ticks_to_decimal returns a tick count as an exact decimal.Decimal."""
    return Decimal(format_ticks(ticks))


def decimal_to_ticks(value: Decimal | str) -> int:
    """decimal_to_ticks returns a Decimal (or decimal string) as a tick count, never rounding."""
    text = value if isinstance(value, str) else format(value, "f")
    return parse_ticks(text)
