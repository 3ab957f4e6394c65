package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"sort"
	"time"

	"github.com/depthcast/depthcast/book"
	"github.com/depthcast/depthcast/schema"
	"github.com/shopspring/decimal"
)

// The book scenario: one symbol, 1500 levels per side (ticks of 0.01 around 43000, every other tick
// filled), deltas of 2 levels touching the top 40 ticks of a side (60% replace a size, 40% delete a level
// that is there or insert one that is not). One update = apply the delta, get its net changes, and compute
// what a depth-10 and a depth-25 view must change. Inputs are already decoded (decoding is ingest's
// part). Single goroutine: per core.

const (
	bbLevels   = 1500
	bbTicks    = 2 * bbLevels
	bbMid      = 43000_00
	bbDeltas   = 8192
	bbPerDelta = 2
	bbTop      = 40
)

func bbPrice(bid bool, tick int) int64 {
	if bid {
		return bbMid - 1 - int64(tick)
	}
	return bbMid + 1 + int64(tick)
}

func bbDec(coef int64, exp uint8) schema.Decimal {
	return schema.Decimal{Coef: coef, Exp: exp}.Canonical()
}

func bookSetup() (snapB, snapA []schema.Level, deltas [][2][]schema.Level) {
	r := rand.New(rand.NewPCG(7, 11))
	present := [2]map[int]bool{{}, {}}
	var sides [2][]schema.Level
	for s := range 2 {
		for i := range bbLevels {
			present[s][2*i] = true
			sides[s] = append(sides[s], schema.Level{Price: bbDec(bbPrice(s == 0, 2*i), 2), Size: bbDec(1+r.Int64N(100000), 4)})
		}
	}
	for range bbDeltas {
		var d [2][]schema.Level
		used := map[[2]int]bool{}
		for len(d[0])+len(d[1]) < bbPerDelta {
			s, tick := r.IntN(2), r.IntN(bbTop)
			if used[[2]int{s, tick}] {
				continue
			}
			used[[2]int{s, tick}] = true
			size := bbDec(1+r.Int64N(100000), 4)
			if present[s][tick] && r.IntN(10) < 4 {
				size = schema.Decimal{}
			}
			present[s][tick] = size.Coef != 0
			d[s] = append(d[s], schema.Level{Price: bbDec(bbPrice(s == 0, tick), 2), Size: size})
		}
		deltas = append(deltas, d)
	}
	_ = bbTicks
	return sides[0], sides[1], deltas
}

type bookTrial struct {
	perSec, perCPU, allocs float64
}

// bbBatch is the number of updates per call of a trial's batch function, between two reads of the clock.
const bbBatch = 1024

// timedLoop calls batch (which makes n updates, the first numbered from) until d has passed and returns the
// updates/s, per CPU-s and allocations per update. The updates run in a loop inside batch, with the
// contender's state in locals: one closure call per update (an indirect call, and every variable it
// captures read and written through the closure) cost about a tenth of depthcast's update, which is not
// the book's work. The deltas are made before the loop; both contenders run the same way.
func timedLoop(d time.Duration, batch func(from, n int)) bookTrial {
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	w := startWindow()
	n := 0
	for time.Since(w.t0) < d {
		batch(n, bbBatch)
		n += bbBatch
	}
	w.stop()
	runtime.ReadMemStats(&m1)
	return bookTrial{perSec: float64(n) / w.wall.Seconds(), perCPU: float64(n) / w.cpu.Seconds(),
		allocs: float64(m1.Mallocs-m0.Mallocs) / float64(n)}
}

func bookTrialDepthcast(d time.Duration, checksum bool) (bookTrial, error) {
	bids, asks, deltas := bookSetup()
	bk := book.New("BTC-USD")
	if err := bk.ApplySnapshot(1, "t", bids, asks); err != nil {
		return bookTrial{}, err
	}
	seq := uint64(1)
	var vb, va []book.Level
	var sum uint32
	var failed error
	batch := func(from, n int) {
		q, b, a, c := seq, vb, va, sum // locals in the loop; written back after it
		j := from % len(deltas)
		for range n {
			dl := deltas[j]
			if j++; j == len(deltas) {
				j = 0
			}
			q++
			if err := bk.ApplyDelta(q, "t", dl[0], dl[1]); err != nil && failed == nil {
				failed = err
			}
			_ = bk.Changes()
			b, a = bk.ViewDiff(10, b[:0], a[:0])
			b, a = bk.ViewDiff(25, b[:0], a[:0])
			if checksum {
				c += bk.Checksum(10) + bk.Checksum(25)
			}
		}
		seq, vb, va, sum = q, b, a, c
	}
	batch(0, len(deltas)) // warm up: scratch slices at their working sizes
	t := timedLoop(d, batch)
	_ = sum
	return t, failed
}

// The baseline, as often written by hand: each side a best-first slice of shopspring decimals, found with
// sort.Search and Decimal.Cmp, changed with slices.Insert/Delete; the net change list is the delta's
// levels, and the view change is a diff of the top N before and after.

type decLevel struct{ price, size decimal.Decimal }

type decBook struct{ sides [2][]decLevel } // best first

func toDec(d schema.Decimal) decimal.Decimal { return decimal.New(d.Coef, -int32(d.Exp)) }

func bookTrialShopspring(d time.Duration) bookTrial {
	bids, asks, deltas := bookSetup()
	db := &decBook{}
	for s, ls := range [2][]schema.Level{bids, asks} {
		for _, l := range ls {
			db.sides[s] = append(db.sides[s], decLevel{toDec(l.Price), toDec(l.Size)})
		}
	}
	slices.SortFunc(db.sides[0], func(x, y decLevel) int { return y.price.Cmp(x.price) })
	slices.SortFunc(db.sides[1], func(x, y decLevel) int { return x.price.Cmp(y.price) })
	dd := make([][2][]decLevel, len(deltas))
	for i, dl := range deltas {
		for s := range 2 {
			for _, l := range dl[s] {
				dd[i][s] = append(dd[i][s], decLevel{toDec(l.Price), toDec(l.Size)})
			}
		}
	}
	var before [2][]decLevel
	var changes, view []decLevel
	batch := func(from, n int) {
		ch, v := changes, view // locals in the loop (as depthcast's); written back after it
		j := from % len(dd)
		for range n {
			dl := dd[j]
			if j++; j == len(dd) {
				j = 0
			}
			for s := range 2 {
				before[s] = append(before[s][:0], db.sides[s][:min(25, len(db.sides[s]))]...)
			}
			ch = ch[:0]
			for s := range 2 {
				for _, l := range dl[s] {
					var changed bool
					db.sides[s], changed = decSet(db.sides[s], l, s == 0)
					if changed {
						ch = append(ch, l)
					}
				}
			}
			for _, n := range []int{10, 25} {
				for s := range 2 {
					v = decViewDiff(v[:0], before[s][:min(n, len(before[s]))], db.sides[s][:min(n, len(db.sides[s]))], s == 0)
				}
			}
		}
		changes, view = ch, v
	}
	batch(0, len(dd)) // warm up, as depthcast's
	return timedLoop(d, batch)
}

func decSet(side []decLevel, l decLevel, bids bool) ([]decLevel, bool) {
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
			return slices.Delete(side, i, i+1), true
		}
		return side, false
	case found:
		if side[i].size.Equal(l.size) {
			return side, false
		}
		side[i].size = l.size
		return side, true
	default:
		return slices.Insert(side, i, l), true
	}
}

// decViewDiff appends what turns top-N a into top-N b (both best first).
func decViewDiff(dst, a, b []decLevel, bids bool) []decLevel {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		var c int
		switch {
		case j == len(b):
			c = -1
		case i == len(a):
			c = 1
		default:
			c = a[i].price.Cmp(b[j].price)
			if !bids {
				c = -c
			}
			c = -c // c < 0: a[i] is better than b[j]
		}
		switch {
		case c < 0:
			dst = append(dst, decLevel{price: a[i].price})
			i++
		case c > 0:
			dst = append(dst, b[j])
			j++
		default:
			if !a[i].size.Equal(b[j].size) {
				dst = append(dst, b[j])
			}
			i++
			j++
		}
	}
	return dst
}

func runBook(o *options, rep *report) error {
	d := o.scale(400*time.Millisecond, 3*time.Second)
	var dc, dcCPU, dcAllocs, base, baseCPU, baseAllocs, ck, ckAllocs []float64
	for r := 0; r < o.rounds; r++ {
		t, err := bookTrialDepthcast(d, false)
		if err != nil {
			return err
		}
		dc, dcCPU, dcAllocs = append(dc, t.perSec), append(dcCPU, t.perCPU), append(dcAllocs, t.allocs)
		b := bookTrialShopspring(d)
		base, baseCPU, baseAllocs = append(base, b.perSec), append(baseCPU, b.perCPU), append(baseAllocs, b.allocs)
		c, err := bookTrialDepthcast(d, true)
		if err != nil {
			return err
		}
		ck, ckAllocs = append(ck, c.perSec), append(ckAllocs, c.allocs)
		fmt.Fprintf(os.Stderr, "   book round %d: depthcast %s/s (%.2f allocs), shopspring %s/s (%.2f allocs), depthcast+checksums %s/s (%.2f allocs)\n",
			r+1, fmtNum(t.perSec), t.allocs, fmtNum(b.perSec), b.allocs, fmtNum(c.perSec), c.allocs)
	}
	v, bv := median(dc), median(base)
	rep.add(Row{Scenario: "book", Metric: "updates/s (1 goroutine)", Value: v, Unit: "upd/s", Baseline: "shopspring sorted slice",
		BaselineValue: bv, PerCPUSecond: median(dcCPU), BaselinePerCPU: median(baseCPU), Trials: dc, BaselineTrials: base,
		Target: "≥ 5M/s per core and ≥ 3×", Pass: boolp(v >= 5e6 && bv > 0 && v/bv >= 3),
		Notes: "1500 levels/side, 2-level deltas in the top 40 ticks; per update: ApplyDelta + Changes + ViewDiff(10) + ViewDiff(25); baseline: same deltas, change list and top-10/25 diff on shopspring decimals"})
	a := median(dcAllocs)
	rep.add(Row{Scenario: "book", Metric: "allocations/update", Value: a, Unit: "allocs", Baseline: "shopspring sorted slice",
		BaselineValue: median(baseAllocs), Target: "0", Pass: boolp(a < 0.01)})
	rep.add(Row{Scenario: "book", Metric: "updates/s incl. 2 checksums", Value: median(ck), Unit: "upd/s",
		Notes: fmt.Sprintf("same loop plus Checksum(10) and Checksum(25), as the feed computes per view: %.2f allocs/update", median(ckAllocs))})
	return nil
}
