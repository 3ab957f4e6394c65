package book

import (
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/depthcast/depthcast/schema"
)

// This file checks Book against a reference model: per side a map from canonical price to canonical size,
// with every rule written the slow and obvious way. FuzzBook drives it from fuzz input; TestBookModel from
// a seeded random source so that it runs in every `go test`.

// model is the reference book.
type model struct {
	live  bool
	sides [2]map[schema.Decimal]schema.Decimal
}

func newModel() *model {
	return &model{sides: [2]map[schema.Decimal]schema.Decimal{{}, {}}}
}

func (m *model) clone() *model {
	return &model{live: m.live, sides: [2]map[schema.Decimal]schema.Decimal{maps.Clone(m.sides[0]), maps.Clone(m.sides[1])}}
}

// sorted returns the levels of side s best first.
func (m *model) sorted(s Side) []schema.Level {
	var out []schema.Level
	for p, z := range m.sides[s] {
		out = append(out, schema.Level{Price: p, Size: z})
	}
	slices.SortFunc(out, func(x, y schema.Level) int {
		if s == Bids {
			return y.Price.Cmp(x.Price)
		}
		return x.Price.Cmp(y.Price)
	})
	return out
}

func (m *model) top(s Side, n int) []schema.Level {
	l := m.sorted(s)
	if n > 0 && len(l) > n {
		l = l[:n]
	}
	return l
}

// tooMany reports whether a side of the model holds more than limit levels.
func (m *model) tooMany(limit int) bool {
	return len(m.sides[Bids]) > limit || len(m.sides[Asks]) > limit
}

func (m *model) crossed() bool {
	b, a := m.top(Bids, 1), m.top(Asks, 1)
	return len(b) == 1 && len(a) == 1 && b[0].Price.Cmp(a[0].Price) >= 0
}

// overflows reports whether some level of the model or of extra does not fit in int64 at the given scales.
func (m *model) overflows(pe, se uint8, extra ...[]schema.Level) bool {
	all := append([][]schema.Level{m.sorted(Bids), m.sorted(Asks)}, extra...)
	for _, ls := range all {
		for _, l := range ls {
			if l.Size.Sign() == 0 {
				continue
			}
			if _, ok := l.Price.Rescale(pe); !ok {
				return true
			}
			if _, ok := l.Size.Rescale(se); !ok {
				return true
			}
		}
	}
	return false
}

// dec converts a book integer in scale exp to a canonical Decimal.
func dec(v int64, exp uint8) schema.Decimal { return schema.Decimal{Coef: v, Exp: exp}.Canonical() }

// gen turns fuzz bytes into values; past the end it returns zeros.
type gen struct {
	data []byte
	pos  int
}

func (g *gen) more() bool { return g.pos < len(g.data) }

func (g *gen) byte() byte {
	if g.pos >= len(g.data) {
		return 0
	}
	g.pos++
	return g.data[g.pos-1]
}

// price returns a price around 100..104 in steps of 0.1, now and then with extra digits that put it
// between the usual levels or force the book to a finer scale.
func (g *gen) price(tick int) schema.Decimal {
	exps := [...]uint8{1, 1, 1, 1, 1, 1, 2, 3, 1, 1, 1, 1, 1, 2, 6, 16}
	e := exps[g.byte()%uint8(len(exps))]
	coef := int64(1000+tick) * schema.Pow10(e-1)
	if e > 1 {
		coef += int64(g.byte() % 3)
	}
	return schema.Decimal{Coef: coef, Exp: e}.Canonical()
}

// size returns a size; zero when allowZero and the byte says so. Exp 17 is rare and makes large sizes
// overflow, to exercise ErrScale.
func (g *gen) size(allowZero bool) schema.Decimal {
	c := g.byte()
	if allowZero && c%4 == 0 {
		return schema.Decimal{}
	}
	var e uint8
	switch x := g.byte(); {
	case x == 255:
		e = 17
	case x < 160:
		e = 0
	case x < 230:
		e = 1
	case x < 254:
		e = 3
	default:
		e = 8
	}
	return schema.Decimal{Coef: 1 + int64(c%200), Exp: e}.Canonical()
}

// levels returns up to max levels with ticks in [lo, hi].
func (g *gen) levels(maxN, lo, hi int, allowZero bool) []schema.Level {
	n := int(g.byte()) % (maxN + 1)
	out := make([]schema.Level, n)
	for i := range out {
		t := lo + int(g.byte())%(hi-lo+1)
		out[i] = schema.Level{Price: g.price(t), Size: g.size(allowZero)}
	}
	return out
}

// viewDepths are the client depths checked through ViewDiff; 0 is the full book.
var viewDepths = [...]int{1, 2, 3, 10, 0}

// runModel runs one random scenario from data and reports the first disagreement.
func runModel(t *testing.T, data []byte) {
	t.Helper()
	g := &gen{data: data}
	b := New("TEST")
	// Half the scenarios give the book a limit of levels per side that their sides reach (up to about two
	// dozen prices a side): past it a snapshot or delta is refused whole, on the merged path too.
	limit := DefaultMaxLevels
	if l := g.byte(); l%2 == 0 {
		limit = 1 + int(l/2)%24
	}
	b.SetMaxLevels(limit)
	m := newModel()
	var seq uint64
	for step := 0; g.more() && step < 200; step++ {
		seq++
		views := clientViews(b)
		before := state(b)
		var err error
		var want *model
		var what string
		switch op := g.byte() % 16; {
		case op == 0 || step == 0 || op == 1 && !m.live:
			// Snapshot: usually bids below 102 and asks above; sometimes overlapping, so crossed.
			split := 20
			if g.byte()%8 == 0 {
				split = 25
			}
			bids := g.levels(12, 0, split, false)
			asks := g.levels(12, 40-split, 40, false)
			what = fmt.Sprintf("snapshot %v %v", bids, asks)
			want = newModel()
			for s, ls := range [2][]schema.Level{bids, asks} {
				for _, l := range ls {
					want.sides[s][l.Price] = l.Size
				}
			}
			want.live = true
			err = b.ApplySnapshot(seq, "t", bids, asks)
			switch {
			case want.overflows(np(bids, asks), ns(bids, asks), bids, asks):
				want = nil
				checkErr(t, err, ErrScale, what)
			case want.tooMany(limit):
				want = nil
				checkErr(t, err, ErrTooManyLevels, what)
			case want.crossed():
				want = nil
				checkErr(t, err, ErrCrossed, what)
			default:
				checkErr(t, err, nil, what)
			}
		case op == 1:
			b.MarkStale()
			m.live = false
			continue
		default:
			// Delta: ticks overlap the other side a little, so some deltas would cross.
			// Sometimes long ones, past maxTracked edits, with prices repeated.
			n := 6
			if g.byte()%8 == 0 {
				n = 2 * maxTracked
			}
			bids := g.levels(n, 0, 22, true)
			asks := g.levels(n, 18, 40, true)
			what = fmt.Sprintf("delta %v %v", bids, asks)
			want = m.clone()
			for s, ls := range [2][]schema.Level{bids, asks} {
				for _, l := range ls {
					if l.Size.Sign() == 0 {
						delete(want.sides[s], l.Price)
					} else {
						want.sides[s][l.Price] = l.Size
					}
				}
			}
			pe, se := b.PriceExp(), b.SizeExp()
			for _, ls := range [2][]schema.Level{bids, asks} {
				for _, l := range ls {
					if l.Size.Sign() != 0 {
						pe, se = max(pe, l.Price.Exp), max(se, l.Size.Exp)
					}
				}
			}
			err = b.ApplyDelta(seq, "t", bids, asks)
			switch {
			case !m.live:
				want = nil
				checkErr(t, err, ErrNotLive, what)
			case m.overflows(pe, se, bids, asks):
				want = nil
				checkErr(t, err, ErrScale, what)
			case want.tooMany(limit):
				want = nil
				checkErr(t, err, ErrTooManyLevels, what)
			case want.crossed():
				want = nil
				checkErr(t, err, ErrCrossed, what)
			default:
				checkErr(t, err, nil, what)
				checkChanges(t, b, m, want, what)
				checkViews(t, b, views, want, what)
			}
		}
		if want == nil { // refused: exactly as before
			if got := state(b); got != before {
				t.Fatalf("%s: refused with %v but the book changed:\nbefore %s\nafter  %s", what, err, before, got)
			}
			seq-- // the next event reuses the seq, as a producer that skips a bad record would not
			continue
		}
		m = want
		checkBook(t, b, m, seq, what)
	}
}

func np(bids, asks []schema.Level) (e uint8) {
	for _, l := range append(slices.Clip(bids), asks...) {
		e = max(e, l.Price.Exp)
	}
	return e
}

func ns(bids, asks []schema.Level) (e uint8) {
	for _, l := range append(slices.Clip(bids), asks...) {
		e = max(e, l.Size.Exp)
	}
	return e
}

func checkErr(t *testing.T, err, want error, what string) {
	t.Helper()
	if want == nil && err != nil || want != nil && !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

// state is a complete printout of the book, to check that a refused event changed nothing.
func state(b *Book) string {
	return fmt.Sprintf("live=%v seq=%d time=%q exp=%d/%d bids=%v asks=%v changes=%v",
		b.Live(), b.Seq(), b.Time(), b.PriceExp(), b.SizeExp(), b.Top(Bids, 0, nil), b.Top(Asks, 0, nil), b.Changes())
}

// checkBook compares every level of the book with the model, and the book's other invariants.
func checkBook(t *testing.T, b *Book, m *model, seq uint64, what string) {
	t.Helper()
	if b.Live() != m.live || b.Seq() != seq {
		t.Fatalf("%s: live=%v seq=%d, want %v %d", what, b.Live(), b.Seq(), m.live, seq)
	}
	for _, s := range []Side{Bids, Asks} {
		got := b.Top(s, 0, nil)
		want := m.sorted(s)
		if len(got) != len(want) || b.Len(s) != len(want) {
			t.Fatalf("%s: %s has %d levels (Len %d), model %d\nbook  %v\nmodel %v", what, s, len(got), b.Len(s), len(want), got, want)
		}
		for i, l := range got {
			if dec(l.Price, b.PriceExp()) != want[i].Price || dec(l.Size, b.SizeExp()) != want[i].Size {
				t.Fatalf("%s: %s[%d] = %v, model %v", what, s, i, l, want[i])
			}
			if b.Size(s, l.Price) != l.Size {
				t.Fatalf("%s: Size(%s, %d) = %d, want %d", what, s, l.Price, b.Size(s, l.Price), l.Size)
			}
		}
	}
	if b.crossed() {
		t.Fatalf("%s: book is crossed", what)
	}
	// The checksum, from the model's levels written out as the protocol says, for every depth it covers.
	for _, n := range []int{1, 3, 10, 0} {
		var sb strings.Builder
		for i, s := range []Side{Bids, Asks} {
			if i == 1 {
				sb.WriteString("|")
			}
			for _, l := range m.top(s, min(max(n, 0), 10)+10*boolInt(n == 0)) {
				sb.WriteString(l.Price.String() + ":" + l.Size.String() + ";")
			}
		}
		if got, want := b.Checksum(n), crc32.ChecksumIEEE([]byte(sb.String())); got != want {
			t.Fatalf("%s: Checksum(%d) = %d, want %d of %q", what, n, got, want, sb.String())
		}
	}
}

func boolInt(v bool) int {
	if v {
		return 1
	}
	return 0
}

// checkChanges compares Changes with the difference of the model before and after.
func checkChanges(t *testing.T, b *Book, before, after *model, what string) {
	t.Helper()
	var want []string
	for _, s := range []Side{Bids, Asks} {
		prices := map[schema.Decimal]bool{}
		for p := range before.sides[s] {
			prices[p] = true
		}
		for p := range after.sides[s] {
			prices[p] = true
		}
		var ps []schema.Decimal
		for p := range prices {
			if before.sides[s][p] != after.sides[s][p] {
				ps = append(ps, p)
			}
		}
		slices.SortFunc(ps, func(x, y schema.Decimal) int {
			if s == Bids {
				return y.Cmp(x)
			}
			return x.Cmp(y)
		})
		for _, p := range ps {
			want = append(want, fmt.Sprintf("%s %s %s->%s", s, p, before.sides[s][p], after.sides[s][p]))
		}
	}
	var got []string
	pe, se := b.PriceExp(), b.SizeExp()
	for _, c := range b.Changes() {
		got = append(got, fmt.Sprintf("%s %s %s->%s", c.Side, dec(c.Price, pe), dec(c.Old, se), dec(c.New, se)))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s: Changes\n got %v\nwant %v", what, got, want)
	}
}

// clientView is what a client with a depth-n subscription holds: canonical price -> canonical size.
type clientView [2]map[schema.Decimal]schema.Decimal

func clientViews(b *Book) (views [len(viewDepths)]clientView) {
	for i, n := range viewDepths {
		for s := range 2 {
			views[i][s] = map[schema.Decimal]schema.Decimal{}
			for _, l := range b.Top(Side(s), n, nil) {
				views[i][s][dec(l.Price, b.PriceExp())] = dec(l.Size, b.SizeExp())
			}
		}
	}
	return views
}

// checkViews applies ViewDiff to each client view held before the delta and checks that it gives exactly
// the new top n, that it is best first, and that every level it sends changes the client's view.
func checkViews(t *testing.T, b *Book, views [len(viewDepths)]clientView, m *model, what string) {
	t.Helper()
	for i, n := range viewDepths {
		bids, asks := b.ViewDiff(n, nil, nil)
		for s, diff := range [2][]Level{bids, asks} {
			side := Side(s)
			view := views[i][s]
			for j, l := range diff {
				p, z := dec(l.Price, b.PriceExp()), dec(l.Size, b.SizeExp())
				if j > 0 && keyOf(side, diff[j-1].Price) <= keyOf(side, l.Price) {
					t.Fatalf("%s: depth %d: %s diff %v is not best first", what, n, side, diff)
				}
				old, had := view[p]
				if z.Sign() == 0 {
					if !had {
						t.Fatalf("%s: depth %d: %s diff %v deletes %s which the client does not have", what, n, side, diff, p)
					}
					delete(view, p)
					continue
				}
				if had && old == z {
					t.Fatalf("%s: depth %d: %s diff %v sends %s unchanged", what, n, side, diff, p)
				}
				view[p] = z
			}
			want := m.top(side, n)
			ok := len(view) == len(want)
			for _, l := range want {
				if z, has := view[l.Price]; !has || z != l.Size {
					ok = false
				}
			}
			if !ok {
				t.Fatalf("%s: depth %d: %s: client view after ViewDiff %v\n= %v\nwant top %v", what, n, side, diff, view, want)
			}
		}
	}
}

// FuzzBook checks Book against the model on random snapshots and deltas:
// go test -fuzz=FuzzBook ./book/
func FuzzBook(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		f.Add(randomBytes(r, 400))
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) { runModel(t, data) })
}

// TestBookModel is FuzzBook on seeded random input, many times.
func TestBookModel(t *testing.T) {
	iters := 3000
	if testing.Short() {
		iters = 300
	}
	r := rand.New(rand.NewPCG(20261124, 7))
	for i := range iters {
		data := randomBytes(r, 200+r.IntN(1200))
		t.Run("", func(t *testing.T) {
			defer func() {
				if t.Failed() {
					t.Logf("iteration %d input %x", i, data)
				}
			}()
			runModel(t, data)
		})
		if t.Failed() {
			return
		}
	}
}

func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}
