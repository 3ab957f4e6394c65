package book

import (
	"hash/crc32"

	"github.com/depthcast/depthcast/schema"
)

// sumLevel is one level of the last checksum input: its key and size, and where its "price:size;" is in
// that string.
type sumLevel struct {
	key, size int64
	from, to  int32
}

// Checksum returns schema.Checksum of the top min(10, n) levels of each side in the book's scales, the
// checksum a client with a depth-n view checks after applying an update. n <= 0 (a full-book view) means 10.
//
// The result is cached per n until a delta changes the levels it covers. The input string is
// schema.AppendChecksumInput's: each bid best first as "price:size;", "|", each ask best first. A level
// that was in the last input with the same size (and the scales have not changed) is copied from it
// rather than formatted again: a delta changes a few levels, so most of the string is copied.
func (b *Book) Checksum(n int) uint32 {
	if n <= 0 || n > schema.ChecksumDepth {
		n = schema.ChecksumDepth
	}
	if b.sumValid&(1<<n) != 0 {
		return b.sums[n]
	}
	if b.sumPexp != b.pexp || b.sumSexp != b.sexp {
		b.sumLevels[Bids], b.sumLevels[Asks] = b.sumLevels[Bids][:0], b.sumLevels[Asks][:0]
		b.sumPexp, b.sumSexp = b.pexp, b.sexp
	}
	buf, lastBuf := b.sum[:0], b.sumLast
	for s := Bids; s <= Asks; s++ {
		if s == Asks {
			buf = append(buf, '|')
		}
		a, last, next := b.sides[s], b.sumLevels[s], b.sumNext[s][:0]
		top := a[max(len(a)-n, 0):]
		// Unchanged levels come in runs whose strings lie one after the other in lastBuf: each run is
		// copied at once, when a level that is not in it comes (or the side ends).
		p := 0                 // in last: both go best first, that is by descending key
		runFrom, runTo := 0, 0 // the run of lastBuf not copied yet
		for i := len(top) - 1; i >= 0; i-- {
			l := top[i]
			for p < len(last) && last[p].key > l.Price {
				p++
			}
			if p < len(last) && last[p].key == l.Price && last[p].size == l.Size {
				e := &last[p]
				if int(e.from) != runTo {
					buf = append(buf, lastBuf[runFrom:runTo]...)
					runFrom = int(e.from)
				}
				runTo = int(e.to)
				from := len(buf) + int(e.from) - runFrom
				next = append(next, sumLevel{key: l.Price, size: l.Size, from: int32(from), to: int32(from) + e.to - e.from})
				continue
			}
			buf = append(buf, lastBuf[runFrom:runTo]...)
			runFrom, runTo = 0, 0
			from := len(buf)
			buf = appendChecksumLevel(buf, priceOf(s, l.Price), l.Size, b.pexp, b.sexp)
			next = append(next, sumLevel{key: l.Price, size: l.Size, from: int32(from), to: int32(len(buf))})
		}
		buf = append(buf, lastBuf[runFrom:runTo]...)
		b.sumLevels[s], b.sumNext[s] = next, last
	}
	b.sum, b.sumLast = b.sumLast, buf
	b.sums[n] = crc32.ChecksumIEEE(buf)
	b.sumValid |= 1 << n
	return b.sums[n]
}

// appendChecksumLevel appends one level of the checksum input as schema.AppendChecksumInput writes it.
func appendChecksumLevel(dst []byte, price, size int64, pexp, sexp uint8) []byte {
	dst = schema.AppendDecimal(dst, price, pexp)
	dst = append(dst, ':')
	dst = schema.AppendDecimal(dst, size, sexp)
	return append(dst, ';')
}
