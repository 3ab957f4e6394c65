package book

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/depthcast/depthcast/schema"
	"github.com/shopspring/decimal"
)

// The benchmark book: 2000 levels per side, prices in ticks of 0.01 around 43000 with about every other
// tick filled, sizes with up to 4 decimals. Deltas touch either the top 40 ticks of a side ("top", where
// most market activity is) or any tick of it ("spread"): 60% replace a level, 40% delete it when it is
// there, insert it when it is not. Both sides stay apart, so no delta crosses.

const (
	benchLevels = 2000     // per side
	benchTicks  = 2 * 4000 // tick range per side (every other tick filled)
	benchMid    = 43000_00 // in ticks of 0.01
	benchDeltas = 4096     // distinct deltas, cycled
	benchPexp   = 2        // price digits
	benchSexp   = 4        // size digits
	topTicks    = 40       // "top" deltas stay within this many ticks of the inside
)

func benchPrice(s Side, tick int) int64 {
	if s == Bids {
		return benchMid - 1 - int64(tick)
	}
	return benchMid + 1 + int64(tick)
}

func sdec(coef int64, exp uint8) schema.Decimal {
	return schema.Decimal{Coef: coef, Exp: exp}.Canonical()
}

// benchSetup returns the snapshot and the deltas with perDelta levels each.
func benchSetup(perDelta int, spread bool) (snapB, snapA []schema.Level, deltas [][2][]schema.Level) {
	r := rand.New(rand.NewPCG(1, uint64(perDelta)))
	present := [2]map[int]bool{{}, {}}
	var snapSides [2][]schema.Level
	for s := range 2 {
		for i := range benchLevels {
			tick := 2 * i
			present[s][tick] = true
			snapSides[s] = append(snapSides[s], schema.Level{
				Price: sdec(benchPrice(Side(s), tick), benchPexp),
				Size:  sdec(1+r.Int64N(100000), benchSexp)})
		}
	}
	for range benchDeltas {
		var d [2][]schema.Level
		for range perDelta {
			s := r.IntN(2)
			tick := r.IntN(topTicks)
			if spread {
				tick = r.IntN(benchTicks / 2)
			}
			size := sdec(1+r.Int64N(100000), benchSexp)
			if present[s][tick] && r.IntN(10) < 4 {
				size = schema.Decimal{}
			}
			present[s][tick] = size.Coef != 0
			d[s] = append(d[s], schema.Level{Price: sdec(benchPrice(Side(s), tick), benchPexp), Size: size})
		}
		deltas = append(deltas, d)
	}
	return snapSides[0], snapSides[1], deltas
}

func benchBook(b testing.TB, perDelta int, spread bool) (*Book, [][2][]schema.Level) {
	bids, asks, deltas := benchSetup(perDelta, spread)
	bk := New("BTC-USD")
	if err := bk.ApplySnapshot(1, "t", bids, asks); err != nil {
		b.Fatal(err)
	}
	// Warm up: grow the scratch slices and the side arrays to their working sizes.
	for i, d := range deltas {
		if err := bk.ApplyDelta(uint64(2+i), "t", d[0], d[1]); err != nil {
			b.Fatal(err)
		}
	}
	return bk, deltas
}

var benchCases = []struct {
	name     string
	perDelta int
	spread   bool
}{
	{"top/1-level", 1, false},
	{"top/4-level", 4, false},
	{"spread/1-level", 1, true},
	{"spread/4-level", 4, true},
}

// BenchmarkApplyDelta compares the book with the baseline below on the same deltas.
func BenchmarkApplyDelta(b *testing.B) {
	for _, bc := range benchCases {
		b.Run("book/"+bc.name, func(b *testing.B) {
			bk, deltas := benchBook(b, bc.perDelta, bc.spread)
			seq := bk.Seq()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				d := deltas[i%len(deltas)]
				seq++
				if err := bk.ApplyDelta(seq, "t", d[0], d[1]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*bc.perDelta), "ns/level")
		})
		b.Run("baseline-shopspring/"+bc.name, func(b *testing.B) {
			bids, asks, deltas := benchSetup(bc.perDelta, bc.spread)
			db := newDecBook(bids, asks)
			dd := make([]decDelta, len(deltas))
			for i, d := range deltas {
				dd[i] = toDecDelta(d)
			}
			for _, d := range dd { // same warm-up as the book
				db.apply(d)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				db.apply(dd[i%len(dd)])
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*bc.perDelta), "ns/level")
		})
	}
}

// BenchmarkViewDiff measures ViewDiff after "top" 4-level deltas. Each delta is applied once per 16
// ViewDiff calls (as the feed computes a few depth views per delta), so 1/16 of an ApplyDelta is included
// in each op.
func BenchmarkViewDiff(b *testing.B) {
	for _, n := range []int{10, 25} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			bk, deltas := benchBook(b, 4, false)
			seq := bk.Seq()
			var bids, asks []Level
			sent := 0
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if i%16 == 0 {
					d := deltas[(i/16)%len(deltas)]
					seq++
					if err := bk.ApplyDelta(seq, "t", d[0], d[1]); err != nil {
						b.Fatal(err)
					}
				}
				bids, asks = bk.ViewDiff(n, bids[:0], asks[:0])
				sent += len(bids) + len(asks)
			}
			b.ReportMetric(float64(sent)/float64(b.N), "levels/op")
		})
	}
}

func BenchmarkTop10(b *testing.B) {
	bk, _ := benchBook(b, 1, false)
	dst := make([]Level, 0, 10)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		dst = bk.Top(Bids, 10, dst[:0])
		dst = bk.Top(Asks, 10, dst[:0])
	}
}

func BenchmarkChecksum10(b *testing.B) {
	bk, _ := benchBook(b, 1, false)
	b.ReportAllocs()
	b.ResetTimer()
	var sum uint32
	for range b.N {
		sum += bk.Checksum(10)
	}
	_ = sum
}

// TestNoAllocs checks that a warm book does not allocate per update, change list, view, top or checksum.
func TestNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	for _, bc := range benchCases {
		bk, deltas := benchBook(t, bc.perDelta, bc.spread)
		seq, i := bk.Seq(), 0
		var bids, asks, top []Level
		allocs := testing.AllocsPerRun(1000, func() {
			d := deltas[i%len(deltas)]
			i++
			seq++
			if err := bk.ApplyDelta(seq, "t", d[0], d[1]); err != nil {
				t.Fatal(err)
			}
			_ = bk.Changes()
			bids, asks = bk.ViewDiff(10, bids[:0], asks[:0])
			bids, asks = bk.ViewDiff(0, bids[:0], asks[:0])
			top = bk.Top(Bids, 10, top[:0])
			_ = bk.Checksum(10) + bk.Checksum(3)
		})
		if allocs != 0 {
			t.Errorf("%s: %.1f allocations per update", bc.name, allocs)
		}
	}
}

// The baseline: what is often written by hand. Each side is a best-first slice of shopspring decimals,
// found with sort.Search and Decimal.Cmp, changed with slices.Insert and slices.Delete.

type decLevel struct{ price, size decimal.Decimal }

type decBook struct{ bids, asks []decLevel } // best first

type decDelta [2][]decLevel

func toDec(d schema.Decimal) decimal.Decimal { return decimal.New(d.Coef, -int32(d.Exp)) }

func toDecDelta(d [2][]schema.Level) (out decDelta) {
	for s := range 2 {
		for _, l := range d[s] {
			out[s] = append(out[s], decLevel{toDec(l.Price), toDec(l.Size)})
		}
	}
	return out
}

func newDecBook(bids, asks []schema.Level) *decBook {
	db := &decBook{}
	for _, l := range bids {
		db.bids = append(db.bids, decLevel{toDec(l.Price), toDec(l.Size)})
	}
	for _, l := range asks {
		db.asks = append(db.asks, decLevel{toDec(l.Price), toDec(l.Size)})
	}
	slices.SortFunc(db.bids, func(x, y decLevel) int { return y.price.Cmp(x.price) })
	slices.SortFunc(db.asks, func(x, y decLevel) int { return x.price.Cmp(y.price) })
	return db
}

func (db *decBook) apply(d decDelta) {
	for _, l := range d[0] {
		db.bids = decSet(db.bids, l, true)
	}
	for _, l := range d[1] {
		db.asks = decSet(db.asks, l, false)
	}
}

func decSet(side []decLevel, l decLevel, bids bool) []decLevel {
	i := sort.Search(len(side), func(i int) bool {
		c := side[i].price.Cmp(l.price)
		if bids {
			return c <= 0
		}
		return c >= 0
	})
	found := i < len(side) && side[i].price.Equal(l.price)
	switch {
	case l.size.IsZero():
		if found {
			side = slices.Delete(side, i, i+1)
		}
	case found:
		side[i].size = l.size
	default:
		side = slices.Insert(side, i, l)
	}
	return side
}

// BenchmarkUpdate is one update as the feed makes it: a "top" 2-level delta applied, its net changes, and
// the changes of a depth-10 and a depth-25 view (the bench harness's book scenario).
func BenchmarkUpdate(b *testing.B) { benchUpdate(b, false) }

// BenchmarkUpdateChecksums is BenchmarkUpdate plus the checksums of both views, as the feed computes them
// per update (the bench harness's book row with checksums).
func BenchmarkUpdateChecksums(b *testing.B) { benchUpdate(b, true) }

func benchUpdate(b *testing.B, checksums bool) {
	bk, deltas := benchBook(b, 2, false)
	seq := bk.Seq()
	var bids, asks []Level
	var sum uint32
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		d := deltas[i%len(deltas)]
		seq++
		if err := bk.ApplyDelta(seq, "t", d[0], d[1]); err != nil {
			b.Fatal(err)
		}
		_ = bk.Changes()
		bids, asks = bk.ViewDiff(10, bids[:0], asks[:0])
		bids, asks = bk.ViewDiff(25, bids[:0], asks[:0])
		if checksums {
			sum += bk.Checksum(10) + bk.Checksum(25)
		}
	}
	_ = sum
}
