"""The shared vectors of testdata/vectors, generated from the Go implementation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from depthcast import (
    Book,
    BookError,
    ChecksumError,
    DecimalError,
    GapError,
    canonical,
    checksum_string,
    crc32,
)

VECTORS = Path(__file__).resolve().parents[3] / "testdata" / "vectors"


def load(name: str) -> Any:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


def test_decimals_valid() -> None:
    cases = load("decimals.json")["valid"]
    assert cases
    for c in cases:
        assert canonical(c["in"]) == c["out"], c


def test_decimals_invalid() -> None:
    cases = load("decimals.json")["invalid"]
    assert cases
    for c in cases:
        with pytest.raises(DecimalError) as e:
            canonical(c["in"])
        assert e.value.reason == c["error"], c


def test_checksums() -> None:
    n = 0
    for case in load("checksums.json")["cases"]:
        bids = [tuple(x) for x in case["bids"]]
        asks = [tuple(x) for x in case["asks"]]
        for d in case["depths"]:
            s = checksum_string(bids, asks, d["depth"])
            assert s == d["string"], (case["name"], d["depth"])
            assert crc32(s) == d["crc32"], (case["name"], d["depth"])
            n += 1
    assert n > 0


SEQUENCES = load("sequences.json")["sequences"]


@pytest.mark.parametrize("seq", SEQUENCES, ids=[s["name"] for s in SEQUENCES])
def test_sequences(seq: dict[str, Any]) -> None:
    book = Book(seq["symbol"], seq["depth"])
    for i, step in enumerate(seq["steps"]):
        if "reconnect" in step:
            assert book.seq == step["reconnect"]["resume"]
            continue
        msg = step["message"]
        if "error" in step:
            want: type[BookError] = GapError if step["error"] == "gap" else ChecksumError
            with pytest.raises(want):
                book.apply(msg)
            assert not book.ready
            assert i == len(seq["steps"]) - 1
            return
        book.apply(msg)
        exp = step.get("expect")
        if exp is None:
            continue
        assert book.seq == exp["seq"], i
        assert book.status == exp["status"], i
        bids, asks = book.levels()
        assert bids == [tuple(x) for x in exp["bids"]], i
        assert asks == [tuple(x) for x in exp["asks"]], i
        assert book.checksum_string() == exp["checksum_string"], i
        assert book.checksum() == exp["checksum"], i
