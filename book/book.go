package book

import (
	"errors"
	"fmt"

	"github.com/depthcast/depthcast/schema"
)

// Level is a price level in the book's scales: Price in ticks of 10^-PriceExp, Size in lots of 10^-SizeExp.
type Level = schema.IntLevel

// Side is a side of the book.
type Side uint8

// The two sides of a book.
const (
	Bids Side = iota
	Asks
)

// String returns "bids" or "asks".
func (s Side) String() string {
	switch s {
	case Bids:
		return "bids"
	case Asks:
		return "asks"
	}
	return fmt.Sprintf("Side(%d)", uint8(s))
}

// Change is one net level change made by the last ApplyDelta. Old == 0: the level was inserted; New == 0:
// deleted. Price, Old and New are in the book's scales.
type Change struct {
	Side            Side
	Price, Old, New int64
}

// Errors returned by the book, wrapped with the symbol and seq; test them with errors.Is.
var (
	// ErrNotLive: a delta arrived before the first snapshot or after MarkStale.
	ErrNotLive = errors.New("book not live")
	// ErrScale: the prices or sizes, at the scale the event needs, do not fit in int64.
	ErrScale = errors.New("book scale overflow")
	// ErrCrossed: the snapshot, or the book after the delta, would have best bid >= best ask.
	ErrCrossed = errors.New("book crossed")
	// ErrInvalid: a level with a price that is not positive or a negative size. The schema decoder refuses
	// these already; the book checks again so that its invariants never depend on the caller.
	ErrInvalid = errors.New("invalid level")
	// ErrTooManyLevels: the snapshot, or the book after the delta, would hold more levels on a side than
	// the book's limit (see SetMaxLevels).
	ErrTooManyLevels = errors.New("too many levels")
)

// DefaultMaxLevels is the limit of levels per side of a new book: more than real venues publish, far fewer
// than a hostile source could add.
const DefaultMaxLevels = 10000

// Book is the L2 order book of one symbol. The zero value is not usable; call New.
// Book is not safe for concurrent use; one writer per symbol.
type Book struct {
	symbol     string
	live       bool
	seq        uint64
	time       string
	pexp, sexp uint8
	maxLevels  int  // the limit of levels per side (see SetMaxLevels)
	bulk       bool // the last delta was merged whole (see mergeSide): rollback restores spare

	// sides[s] is sorted ascending by key (see key), so the best level is last.
	// Level.Price holds the key: the price for bids, the negated price for asks.
	sides [2][]Level

	changes []Change // net changes of the last successful ApplyDelta, bids best first then asks best first
	// above[j] is the number of levels better than changes[j].Price on its side after that delta: where
	// ViewDiff and keepChecksums start from, found once per change instead of once per use.
	above []int
	nbids int // the number of bid changes: changes[:nbids] are bids, changes[nbids:] asks

	// Scratch, reused between calls so that a warm book does not allocate.
	spare [2][]Level // ApplySnapshot builds here, then swaps with sides
	in    []input    // ApplyDelta's converted input
	log   []edit     // ApplyDelta's undo log, in the order applied
	sum   []byte     // Checksum's next input string (the last one's buffer before that)

	// sums caches Checksum(n) for n = 1..10 until the book changes; bit n of sumValid says it holds.
	sums     [schema.ChecksumDepth + 1]uint32
	sumValid uint16

	// The last checksum input, kept so that the next one copies its unchanged levels instead of
	// formatting them again (see Checksum): the string, and per side its levels, best first, in the
	// scales sumPexp and sumSexp. sumNext is scratch for the next levels.
	sumLast          []byte
	sumLevels        [2][]sumLevel
	sumNext          [2][]sumLevel
	sumPexp, sumSexp uint8
}

// input is one delta level converted to the book's scales.
type input struct {
	side      Side
	key, size int64
}

// edit is one applied level change: the undo log entry of ApplyDelta. (Four fields, side and above in
// one: the compiler keeps a struct of at most four fields in registers, so an edit is appended to the log
// with four stores instead of being built on the stack and copied.)
type edit struct {
	place
	key      int64
	old, new int64
}

// place is where an edit is: its side, and the number of levels better than its key on that side once the
// edit is made (see buildChanges).
type place struct {
	side  Side
	above int32
}

// New returns an empty book for symbol that is not live: it accepts deltas only after a snapshot.
func New(symbol string) *Book { return &Book{symbol: symbol, maxLevels: DefaultMaxLevels} }

// SetMaxLevels sets the limit of levels per side (n <= 0: DefaultMaxLevels). A snapshot or delta that would
// pass it is refused with ErrTooManyLevels and leaves the book unchanged. It does not trim a book already
// over a lower new limit; the next event that adds a level to such a side is refused.
func (b *Book) SetMaxLevels(n int) {
	if n <= 0 {
		n = DefaultMaxLevels
	}
	b.maxLevels = n
}

// MaxLevels returns the limit of levels per side.
func (b *Book) MaxLevels() int { return b.maxLevels }

// Symbol returns the book's symbol.
func (b *Book) Symbol() string { return b.symbol }

// Live reports whether the book follows its source: true after a snapshot, false before the first one and
// after MarkStale until the next one.
func (b *Book) Live() bool { return b.live }

// MarkStale marks the book as not live (for example after a sequence gap). The content is kept and can
// still be read, but ApplyDelta returns ErrNotLive until the next ApplySnapshot.
func (b *Book) MarkStale() { b.live = false }

// Seq returns the seq of the last applied snapshot or delta, 0 before any.
func (b *Book) Seq() uint64 { return b.seq }

// Time returns the time of the last applied snapshot or delta, as given.
func (b *Book) Time() string { return b.time }

// PriceExp returns the number of fractional digits of stored prices.
func (b *Book) PriceExp() uint8 { return b.pexp }

// SizeExp returns the number of fractional digits of stored sizes.
func (b *Book) SizeExp() uint8 { return b.sexp }

// Len returns the number of levels on side s.
func (b *Book) Len(s Side) int { return len(b.sides[s]) }

// Changes returns the net changes made by the last successful ApplyDelta: one per (side, price) whose
// size differs from before the delta, bids best first, then asks best first. It returns nil after
// ApplySnapshot and when the last delta changed nothing. The slice is owned by the book and valid until the
// next Apply call; a refused delta leaves it as it was.
func (b *Book) Changes() []Change {
	if len(b.changes) == 0 {
		return nil
	}
	return b.changes
}

// Top appends the best n levels of side s to dst, best first, and returns it. n <= 0 means all levels.
func (b *Book) Top(s Side, n int, dst []Level) []Level {
	a := b.sides[s]
	if n <= 0 || n > len(a) {
		n = len(a)
	}
	for i := len(a) - 1; i >= len(a)-n; i-- {
		dst = append(dst, Level{Price: priceOf(s, a[i].Price), Size: a[i].Size})
	}
	return dst
}

// Size returns the size resting at price on side s, 0 if there is no such level.
func (b *Book) Size(s Side, price int64) int64 {
	a := b.sides[s]
	if i, ok := search(a, keyOf(s, price)); ok {
		return a[i].Size
	}
	return 0
}

// keyOf returns the sort key of price on side s: ascending keys go from worst to best on both sides.
func keyOf(s Side, price int64) int64 {
	if s == Asks {
		return -price
	}
	return price
}

// priceOf is the inverse of keyOf.
func priceOf(s Side, key int64) int64 { return keyOf(s, key) }

// nearLevels is the number of best levels that search bisects in a fixed, unrolled sequence of steps.
const nearLevels = 32

// search returns the first index i with a[i].Price >= key, and whether a[i].Price == key.
//
// Most changes are near the best level, that is near the end of a. When key is within the best
// nearLevels levels (one test), it bisects them in five unrolled steps without a branch on the
// comparisons or a bounds check. Otherwise it gallops from the end (1, 2, 4, … levels back) to bracket
// key, then bisects the bracket without a branch on the comparison: O(log d) for a key d levels from the
// best, whatever len(a) is, and few mispredicted branches.
func search(a []Level, key int64) (int, bool) {
	n := len(a)
	if n == 0 || a[n-1].Price < key {
		return n, false
	}
	if n >= nearLevels {
		w := (*[nearLevels]Level)(a[n-nearLevels:])
		if w[0].Price < key {
			// w[0] < key <= w[31]: find the last j with w[j] < key; j+1 is the answer. Every index stays
			// below 32 (j <= 30 after each step), the masks only tell the compiler so.
			j := 16 * b2i(w[16].Price < key)
			j += 8 * b2i(w[(j+8)&(nearLevels-1)].Price < key)
			j += 4 * b2i(w[(j+4)&(nearLevels-1)].Price < key)
			j += 2 * b2i(w[(j+2)&(nearLevels-1)].Price < key)
			j += b2i(w[(j+1)&(nearLevels-1)].Price < key)
			return n - nearLevels + j + 1, w[(j+1)&(nearLevels-1)].Price == key
		}
	}
	// a[hi].Price >= key; find lo < hi with a[lo].Price < key (or lo = -1).
	hi, step := n-1, 1
	lo := hi - step
	for lo >= 0 && a[lo].Price >= key {
		hi = lo
		step <<= 1
		lo = hi - step
	}
	// The answer is in (lo, hi]: bisect [base, base+m) keeping a[base+m-1] >= key known.
	base := max(lo+1, 0)
	for m := hi - base + 1; m > 1; m -= m >> 1 {
		half := m >> 1
		base += half & lessMask(a[base+half-1].Price, key)
	}
	return base, a[base].Price == key
}

// b2i is 1 for true and 0 for false. The compiler makes it a SETcc without a branch, and a multiple of it
// an address computation: the unrolled steps of search cost a compare and three or four instructions.
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// lessMask is -1 if x < key, else 0, without overflow (Hacker's Delight 2-12) and without a branch: the
// compiler keeps a branch for a conditional assignment in a loop, and this comparison is unpredictable.
func lessMask(x, key int64) int {
	d := x - key
	return int((d ^ ((x ^ key) & (d ^ x))) >> 63)
}

// crossed reports whether the book's best bid is at or above its best ask.
func (b *Book) crossed() bool {
	bids, asks := b.sides[Bids], b.sides[Asks]
	return crossedSides(bids, asks)
}

func crossedSides(bids, asks []Level) bool {
	return len(bids) > 0 && len(asks) > 0 && bids[len(bids)-1].Price >= -asks[len(asks)-1].Price
}
