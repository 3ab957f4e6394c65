package sim

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/depthcast/depthcast/schema"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func mustNew(t testing.TB, cfg Config) *Exchange {
	t.Helper()
	x, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func TestConfigValidate(t *testing.T) {
	for _, bad := range []Config{{Symbols: -1}, {Symbols: 1001}, {Levels: -2}, {Levels: MaxLevels + 1}, {TradeRatio: 0.6}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
		if _, err := New(bad); err == nil {
			t.Errorf("New(%+v): no error", bad)
		}
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero Config: %v", err)
	}
	x := mustNew(t, Config{})
	if got := x.Symbols(); len(got) != DefaultSymbols || got[0] != "BTC-USD" || got[1] != "ETH-USD" || got[3] != "DOGE-USD" {
		t.Errorf("default symbols %v", got)
	}
	x = mustNew(t, Config{Symbols: MaxSymbols})
	if s := x.Symbols(); s[8] != "SYM9-USD" || s[999] != "SYM1000-USD" {
		t.Errorf("generic names %v %v", s[8], s[999])
	}
	if b, a := x.Book("NOPE-USD"); b != nil || a != nil {
		t.Error("unknown symbol has a book")
	}
}

func TestDeterminism(t *testing.T) {
	gen := func(seed int64, n int) []Event {
		x := mustNew(t, Config{Seed: seed})
		out := make([]Event, n)
		for i := range out {
			out[i] = x.Next()
		}
		return out
	}
	a, b, c := gen(5, 20000), gen(5, 20000), gen(6, 20000)
	for i := range a {
		if a[i].Key != b[i].Key || !bytes.Equal(a[i].Value, b[i].Value) || !a[i].Time.Equal(b[i].Time) {
			t.Fatalf("event %d differs for the same seed:\n%s\n%s", i, a[i].Value, b[i].Value)
		}
	}
	same := 0
	for i := range a {
		if bytes.Equal(a[i].Value, c[i].Value) {
			same++
		}
	}
	if same > len(a)/100 {
		t.Errorf("seeds 5 and 6 share %d of %d events", same, len(a))
	}
}

// model is a consumer's copy of one book, built only from the decoded events. It caches its best prices.
type model struct {
	bids, asks   map[schema.Decimal]schema.Decimal
	seq          uint64
	bid, ask     schema.Decimal
	bidOK, askOK bool // the cached best price is valid
}

func (m *model) reset(e schema.Event) {
	m.bids, m.asks = map[schema.Decimal]schema.Decimal{}, map[schema.Decimal]schema.Decimal{}
	m.bidOK, m.askOK = false, false
	m.apply(e)
}

// apply applies the levels of a snapshot or delta, keeping the cached best prices right.
func (m *model) apply(e schema.Event) {
	for _, l := range e.Bids {
		if l.Size.Sign() == 0 {
			delete(m.bids, l.Price)
			if m.bidOK && l.Price == m.bid {
				m.bidOK = false
			}
			continue
		}
		m.bids[l.Price] = l.Size
		if m.bidOK && l.Price.Cmp(m.bid) > 0 {
			m.bid = l.Price
		}
	}
	for _, l := range e.Asks {
		if l.Size.Sign() == 0 {
			delete(m.asks, l.Price)
			if m.askOK && l.Price == m.ask {
				m.askOK = false
			}
			continue
		}
		m.asks[l.Price] = l.Size
		if m.askOK && l.Price.Cmp(m.ask) < 0 {
			m.ask = l.Price
		}
	}
}

func (m *model) best() (bid, ask schema.Decimal, okB, okA bool) {
	if !m.bidOK {
		for p := range m.bids {
			if !m.bidOK || p.Cmp(m.bid) > 0 {
				m.bid, m.bidOK = p, true
			}
		}
	}
	if !m.askOK {
		for p := range m.asks {
			if !m.askOK || p.Cmp(m.ask) < 0 {
				m.ask, m.askOK = p, true
			}
		}
	}
	return m.bid, m.ask, m.bidOK, m.askOK
}

func (m *model) side(ask bool) [][2]string {
	src := m.bids
	if ask {
		src = m.asks
	}
	ps := make([]schema.Decimal, 0, len(src))
	for p := range src {
		ps = append(ps, p)
	}
	slices.SortFunc(ps, func(a, b schema.Decimal) int {
		if ask {
			return a.Cmp(b)
		}
		return b.Cmp(a)
	})
	out := make([][2]string, len(ps))
	for i, p := range ps {
		out[i] = [2]string{p.String(), src[p].String()}
	}
	return out
}

func TestStream(t *testing.T) {
	seeds := []int64{1, 2, 3, 99}
	n := 100000
	resnap := 0 // the default
	switch {
	case testing.Short(): // fewer events: re-snapshots more often, so that every symbol still has some
		seeds, n, resnap = seeds[:1], 20000, 500
	case raceEnabled: // the race detector makes encoding/json about ten times slower
		seeds = seeds[:2]
	}
	for _, seed := range seeds {
		x := mustNew(t, Config{Seed: seed, ResnapshotEvery: resnap})
		books := map[string]*model{}
		resnaps := map[string]int{}
		tradeIDs := map[string]bool{}
		var nonCanonical, bigDeltas, deltas, trades int
		last := time.Time{}
		for i := range n {
			ev := x.Next()
			e, err := schema.DecodeEvent(ev.Value)
			if err != nil {
				t.Fatalf("seed %d event %d: %v\n%s", seed, i, err, ev.Value)
			}
			if e.Symbol != ev.Key {
				t.Fatalf("key %q, symbol %q", ev.Key, e.Symbol)
			}
			if ev.Time.Before(last) || schema.FormatTime(ev.Time) != e.Time {
				t.Fatalf("event %d time %v after %v, json %s", i, ev.Time, last, e.Time)
			}
			last = ev.Time
			m := books[e.Symbol]
			if m == nil {
				if e.Type != schema.EventSnapshot {
					t.Fatalf("first event of %s is a %v", e.Symbol, e.Type)
				}
				m = &model{}
				books[e.Symbol] = m
			}
			if e.Seq != m.seq+1 {
				t.Fatalf("%s seq %d after %d", e.Symbol, e.Seq, m.seq)
			}
			m.seq = e.Seq
			if hasTrailingZero(ev.Value) {
				nonCanonical++
			}
			switch e.Type {
			case schema.EventSnapshot:
				if m.bids != nil {
					resnaps[e.Symbol]++
					// A re-snapshot shows the same book the deltas built.
					before := [2][][2]string{m.side(false), m.side(true)}
					m.reset(e)
					if after := [2][][2]string{m.side(false), m.side(true)}; !equalBooks(before, after) {
						t.Fatalf("%s re-snapshot at seq %d differs from the book built by deltas", e.Symbol, e.Seq)
					}
				}
				if len(e.Bids) > DefaultLevels || len(e.Asks) > DefaultLevels || len(e.Bids) == 0 || len(e.Asks) == 0 {
					t.Fatalf("snapshot with %d bids and %d asks", len(e.Bids), len(e.Asks))
				}
				m.reset(e)
			case schema.EventDelta:
				deltas++
				if k := len(e.Bids) + len(e.Asks); k == 0 || k > 12 {
					t.Fatalf("delta with %d levels: %s", k, ev.Value)
				} else if k > 4 {
					bigDeltas++
				}
				m.apply(e)
			case schema.EventTrade:
				trades++
				if tradeIDs[e.TradeID] || e.TradeID == "" {
					t.Fatalf("trade id %q repeated or empty", e.TradeID)
				}
				tradeIDs[e.TradeID] = true
				touch, at := m.bids, "best bid"
				if e.Side == schema.Buy {
					touch, at = m.asks, "best ask"
				}
				bid, ask, _, _ := m.best()
				want := bid
				if e.Side == schema.Buy {
					want = ask
				}
				if e.Price != want || e.Size.Cmp(touch[want]) > 0 {
					t.Fatalf("%s trade %s@%s is not at the %s %s×%s", e.Symbol, e.Size, e.Price, at, want, touch[want])
				}
			}
			bid, ask, okB, okA := m.best()
			if !okB || !okA {
				t.Fatalf("seed %d event %d: %s has an empty side", seed, i, e.Symbol)
			}
			if bid.Cmp(ask) >= 0 {
				t.Fatalf("seed %d event %d: %s crossed: bid %s ask %s\n%s", seed, i, e.Symbol, bid, ask, ev.Value)
			}
			if i%9973 == 0 {
				compareBook(t, x, e.Symbol, m)
			}
		}
		for _, sym := range x.Symbols() {
			compareBook(t, x, sym, books[sym])
			if resnaps[sym] == 0 {
				t.Errorf("seed %d: no re-snapshot of %s in %d events", seed, sym, n)
			}
		}
		t.Logf("seed %d: %d deltas (%d over 4 levels), %d trades, %d non-canonical, re-snapshots %v", seed, deltas, bigDeltas, trades, nonCanonical, resnaps)
		if share := float64(trades) / float64(n); share < 0.14 || share > 0.16 {
			t.Errorf("seed %d: trade share %.3f", seed, share)
		}
		if bigDeltas > deltas/5 {
			t.Errorf("seed %d: %d of %d deltas have more than 4 levels", seed, bigDeltas, deltas)
		}
		if nonCanonical < n/50 {
			t.Errorf("seed %d: only %d events with non-canonical decimals", seed, nonCanonical)
		}
	}
}

// hasTrailingZero reports whether a JSON value holds a decimal string with a trailing fractional zero.
func hasTrailingZero(b []byte) bool {
	for i := 1; i < len(b); i++ {
		if b[i] != '"' || b[i-1] != '0' {
			continue
		}
		for j := i - 2; j >= 0 && b[j] != '"'; j-- {
			if b[j] == '.' {
				return true
			}
		}
	}
	return false
}

func equalBooks(a, b [2][][2]string) bool {
	return slices.Equal(a[0], b[0]) && slices.Equal(a[1], b[1])
}

func compareBook(t *testing.T, x *Exchange, sym string, m *model) {
	t.Helper()
	bids, asks := x.Book(sym)
	if !equalBooks([2][][2]string{bids, asks}, [2][][2]string{m.side(false), m.side(true)}) {
		t.Fatalf("%s: replayed book differs from Exchange.Book\nbook  %v | %v\nmodel %v | %v", sym, bids, asks, m.side(false), m.side(true))
	}
}

func TestPriceDrift(t *testing.T) {
	x := mustNew(t, Config{Seed: 3})
	start := map[string]string{}
	for _, s := range x.Symbols() {
		b, _ := x.Book(s)
		start[s] = b[0][0]
	}
	for range 200000 {
		x.Next()
	}
	for _, s := range x.Symbols() {
		b, a := x.Book(s)
		p0, _ := schema.ParseDecimal(start[s])
		p1, _ := schema.ParseDecimal(b[0][0])
		f0, _ := json.Number(p0.String()).Float64()
		f1, _ := json.Number(p1.String()).Float64()
		if f1 < f0*0.9 || f1 > f0*1.1 {
			t.Errorf("%s drifted from %s to %s", s, start[s], b[0][0])
		}
		if len(b) < DefaultLevels/2 || len(a) < DefaultLevels/2 || len(b) > DefaultLevels || len(a) > DefaultLevels {
			t.Errorf("%s has %d bids and %d asks", s, len(b), len(a))
		}
	}
}

func TestOptions(t *testing.T) {
	// No trades, no re-snapshots, one level, many symbols: still valid and never crossed.
	x := mustNew(t, Config{Symbols: 300, Levels: 1, TradeRatio: -1, ResnapshotEvery: -1, Seed: 11})
	snaps := 0
	for range 50000 {
		ev := x.Next()
		e, err := schema.DecodeEvent(ev.Value)
		if err != nil {
			t.Fatalf("%v: %s", err, ev.Value)
		}
		switch e.Type {
		case schema.EventTrade:
			t.Fatal("trade with TradeRatio < 0")
		case schema.EventSnapshot:
			snaps++
		}
	}
	if snaps != 300 {
		t.Errorf("%d snapshots, want one per symbol", snaps)
	}
	for _, s := range x.Symbols() {
		b, a := x.Book(s)
		if len(b) != 1 || len(a) != 1 {
			t.Fatalf("%s: %v | %v with Levels 1", s, b, a)
		}
	}

	// A clock changes the times only.
	now := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	y := mustNew(t, Config{Clock: func() time.Time { return now }})
	z := mustNew(t, Config{})
	for range 1000 {
		a, b := y.Next(), z.Next()
		if !a.Time.Equal(now) || !strings.Contains(string(a.Value), `"time":"2030-01-02T03:04:05.000000006Z"`) {
			t.Fatalf("clock ignored: %v %s", a.Time, a.Value)
		}
		ea, _ := schema.DecodeEvent(a.Value)
		eb, _ := schema.DecodeEvent(b.Value)
		ea.Time, eb.Time = "", ""
		if ea.Symbol != eb.Symbol || ea.Seq != eb.Seq || ea.Type != eb.Type || ea.Price != eb.Price {
			t.Fatalf("clock changed the stream: %s vs %s", a.Value, b.Value)
		}
	}
	if y.Count() != 1000 {
		t.Errorf("Count %d", y.Count())
	}
}

func BenchmarkNext(b *testing.B) {
	x := mustNew(b, Config{})
	var n int
	for b.Loop() {
		n += len(x.Next().Value)
	}
	b.SetBytes(int64(n / max(1, b.N)))
}
