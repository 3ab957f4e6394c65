package feed_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/feed"
	"github.com/depthcast/depthcast/node"
	"github.com/depthcast/depthcast/node/nodetest"
	"github.com/depthcast/depthcast/sim"
)

// simFlow draws upstream events from the simulated exchange and keeps a reference of every book state.
type simFlow struct {
	t      *testing.T
	x      *sim.Exchange
	ref    *reference
	trades map[string][]wsMsg // upstream trades by symbol, as the feed must send them
	deltas map[string]int
}

func newSimFlow(t *testing.T, cfg sim.Config) *simFlow {
	t.Helper()
	x, err := sim.New(cfg)
	if err != nil {
		t.Fatalf("sim.New: %v", err)
	}
	return &simFlow{t: t, x: x, ref: newReference(), trades: map[string][]wsMsg{}, deltas: map[string]int{}}
}

// next returns the next n upstream events.
func (s *simFlow) next(n int) [][]byte {
	out := make([][]byte, 0, n)
	for range n {
		e := s.x.Next()
		s.ref.add(e.Value)
		var ev struct {
			Type, Symbol, Price, Size, Side string
			Seq                             uint64
			TradeID                         string `json:"trade_id"`
		}
		if err := json.Unmarshal(e.Value, &ev); err != nil {
			s.t.Fatalf("sim event %s: %v", e.Value, err)
		}
		switch ev.Type {
		case "trade":
			p, _ := canon(ev.Price)
			sz, _ := canon(ev.Size)
			s.trades[ev.Symbol] = append(s.trades[ev.Symbol], wsMsg{Type: "trade", Channel: "trades", Symbol: ev.Symbol,
				Seq: ev.Seq, Price: p, Size: sz, Side: ev.Side, TradeID: ev.TradeID})
		case "delta":
			s.deltas[ev.Symbol]++
		}
		out = append(out, e.Value)
	}
	return out
}

// checkBookMessages applies msgs to c (every check of client.apply) and compares c's book after each one with
// upstream's book at the message's seq, top depth levels.
func checkBookMessages(t *testing.T, c *client, ref *reference, msgs []wsMsg) {
	t.Helper()
	for _, m := range msgs {
		if !m.isBook() {
			t.Fatalf("unexpected message on a book subscription: %s", m)
		}
		c.mustApply(m)
		want := ref.stateAt(m.Symbol, m.Seq, m.Type == "update")
		if want == nil {
			t.Fatalf("%s: upstream has no book event at seq %d", m, m.Seq)
		}
		if got, w := c.book(m.Symbol).book.top(c.depth), want.top(c.depth); got != w {
			t.Fatalf("after %s the client's book differs from upstream at seq %d:\n got  %s\n want %s", m, m.Seq, got, w)
		}
	}
}

// A book subscription gets "subscribed", a snapshot per symbol, then updates chained by prev_seq, each
// leaving the client's book equal to upstream's at that seq (top N for a depth N view, with a checksum of
// docs/protocol.md §2), and ends with the pipeline's own book.
func TestBookSubscriptionFollowsUpstream(t *testing.T) {
	for _, depth := range []int{0, 1, 10, 25} {
		t.Run(fmt.Sprintf("depth=%d", depth), func(t *testing.T) {
			f := newTestFeed(t, feed.Config{})
			flow := newSimFlow(t, sim.Config{Symbols: 2, Levels: 30, Seed: int64(depth) + 1})
			syms := flow.x.Symbols()
			f.submitAndFlush(flow.next(300)...) // history before the client comes

			c := f.dial()
			c.depth = depth
			extra := ""
			if depth > 0 {
				extra = fmt.Sprintf(`,"depth":%d`, depth)
			}
			c.subscribe(7, "book", syms, extra)
			f.submitAndFlush(flow.next(1500)...)
			msgs := c.barrier()
			checkBookMessages(t, c, flow.ref, msgs)

			for _, sym := range syms {
				cb := c.book(sym)
				if cb.snaps < 1 || cb.updates < 50 {
					t.Errorf("%s: %d snapshots and %d updates, want a snapshot and many updates", sym, cb.snaps, cb.updates)
				}
				pipe, _ := f.pipelineBook(sym, depth)
				if got := cb.book.top(depth); got != pipe {
					t.Errorf("%s: client book differs from the pipeline's:\n got  %s\n want %s", sym, got, pipe)
				}
				if got, want := cb.book.top(depth), simBook(flow.x, sym, depth); got != want {
					t.Errorf("%s: client book differs from the simulated exchange's:\n got  %s\n want %s", sym, got, want)
				}
			}
			if first := msgs[0]; first.Type != "snapshot" {
				t.Errorf("first message after subscribed is %s, want a snapshot", first)
			}
		})
	}
}

// simBook renders the exchange's own book of symbol like refBook.top.
func simBook(x *sim.Exchange, symbol string, n int) string {
	bids, asks := x.Book(symbol)
	b := newRefBook()
	conv := func(ls [][2]string) [][]string {
		out := make([][]string, len(ls))
		for i, l := range ls {
			out[i] = []string{l[0], l[1]}
		}
		return out
	}
	if err := b.apply(conv(bids), conv(asks), true); err != nil {
		panic(err)
	}
	return b.top(n)
}

// A depth N view sends a delete (size 0) for a level pushed out of the top N and the level that enters
// when one leaves, and nothing for a change below the top N.
func TestDepthViewEntersAndLeaves(t *testing.T) {
	f := newTestFeed(t, feed.Config{})
	u := newUpstream("ETH-USD")
	f.submitAndFlush(u.snapshot([]lv{{"100", "1"}, {"99", "2"}, {"98", "3"}}, []lv{{"101", "1"}, {"102", "2"}, {"103", "3"}}))
	c := f.dial()
	c.depth = 2
	c.subscribe(1, "book", []string{"ETH-USD"}, `,"depth":2`)
	snap := c.expect("snapshot")
	c.mustApply(snap)
	if got, want := c.book("ETH-USD").book.top(0), "100:1;99:2;|101:1;102:2;"; got != want {
		t.Fatalf("depth-2 snapshot holds %s, want %s", got, want)
	}

	steps := []struct {
		name       string
		bids, asks []lv // upstream delta
		wantBids   [][]string
		wantAsks   [][]string
		wantNone   bool // the view does not change: no message
		wantBook   string
	}{
		{name: "new best bid pushes 99 out", bids: []lv{{"100.5", "4"}},
			wantBids: [][]string{{"100.5", "4"}, {"99", "0"}}, wantAsks: [][]string{}, wantBook: "100.5:4;100:1;|101:1;102:2;"},
		{name: "its delete lets 99 back in", bids: []lv{{"100.5", "0"}},
			wantBids: [][]string{{"100.5", "0"}, {"99", "2"}}, wantAsks: [][]string{}, wantBook: "100:1;99:2;|101:1;102:2;"},
		{name: "a change below the top 2", bids: []lv{{"98", "7"}}, wantNone: true, wantBook: "100:1;99:2;|101:1;102:2;"},
		{name: "best ask deleted, 103 enters", asks: []lv{{"101", "0"}},
			wantBids: [][]string{}, wantAsks: [][]string{{"101", "0"}, {"103", "3"}}, wantBook: "100:1;99:2;|102:2;103:3;"},
		{name: "size change inside the view", asks: []lv{{"102", "5.50"}},
			wantBids: [][]string{}, wantAsks: [][]string{{"102", "5.5"}}, wantBook: "100:1;99:2;|102:5.5;103:3;"},
		{name: "new levels behind the view", bids: []lv{{"97", "1"}}, asks: []lv{{"104", "1"}}, wantNone: true,
			wantBook: "100:1;99:2;|102:5.5;103:3;"},
		{name: "delete of a level that is not there", asks: []lv{{"101.5", "0"}}, wantNone: true,
			wantBook: "100:1;99:2;|102:5.5;103:3;"},
		{name: "two asks deleted, one enters", asks: []lv{{"102", "0"}, {"103", "0"}},
			wantBids: [][]string{}, wantAsks: [][]string{{"102", "0"}, {"103", "0"}, {"104", "1"}}, wantBook: "100:1;99:2;|104:1;"},
	}
	for _, st := range steps {
		f.submitAndFlush(u.delta(st.bids, st.asks))
		msgs := c.barrier()
		if st.wantNone {
			if len(msgs) != 0 {
				t.Fatalf("%s: got %v, want no message", st.name, msgs)
			}
		} else {
			if len(msgs) != 1 || msgs[0].Type != "update" {
				t.Fatalf("%s: got %v, want one update", st.name, msgs)
			}
			m := msgs[0]
			if m.Seq != u.seq {
				t.Errorf("%s: update seq %d, want the delta's %d", st.name, m.Seq, u.seq)
			}
			if !slices.EqualFunc(m.Bids, st.wantBids, slices.Equal) || !slices.EqualFunc(m.Asks, st.wantAsks, slices.Equal) {
				t.Errorf("%s: update %s, want bids %v asks %v", st.name, m, st.wantBids, st.wantAsks)
			}
			c.mustApply(m)
		}
		if got := c.book("ETH-USD").book.top(0); got != st.wantBook {
			t.Fatalf("%s: client book %s, want %s", st.name, got, st.wantBook)
		}
		if pipe, _ := f.pipelineBook("ETH-USD", 2); pipe != st.wantBook {
			t.Fatalf("%s: pipeline top 2 %s, want %s", st.name, pipe, st.wantBook)
		}
	}
}

// A conflated subscription sends at most one update per interval, the net change since the last one, still
// chained by prev_seq; a subscriber joining the view gets a snapshot of what the view last sent; both end
// with the pipeline's book.
func TestConflatedBook(t *testing.T) {
	const interval = 100 * time.Millisecond
	f := newTestFeed(t, feed.Config{})
	flow := newSimFlow(t, sim.Config{Symbols: 1, Levels: 20, Seed: 11, TradeRatio: -1})
	sym := flow.x.Symbols()[0]
	f.submitAndFlush(flow.next(50)...)

	start := time.Now()
	early := f.dial()
	early.subscribe(1, "book", []string{sym}, `,"interval_ms":100`)
	late := f.dial()
	deltasBefore := flow.deltas[sym]
	for i := range 20 {
		if i == 10 {
			late.subscribe(2, "book", []string{sym}, `,"interval_ms":100`)
		}
		f.Submit(flow.next(100)...)
	}
	f.Flush()
	deltas := flow.deltas[sym] - deltasBefore
	want, _ := f.pipelineBook(sym, 0)

	for _, c := range []*client{early, late} {
		// The net change goes out on the next due flush: read until the client's book is the pipeline's.
		for c.books[sym] == nil || c.books[sym].book.top(0) != want {
			checkBookMessages(t, c, flow.ref, []wsMsg{c.next()})
		}
	}
	elapsed := time.Since(start)
	for name, c := range map[string]*client{"early": early, "late": late} {
		cb := c.book(sym)
		if cb.snaps != 1 {
			t.Errorf("%s: %d snapshots, want 1", name, cb.snaps)
		}
		// One update per 100 ms at most, over the whole time the subscription existed (plus the first).
		if limit := int(elapsed/interval) + 2; cb.updates > limit {
			t.Errorf("%s: %d updates in %v, more than one per %v", name, cb.updates, elapsed, interval)
		}
		if cb.updates*4 > deltas {
			t.Errorf("%s: %d updates for %d upstream deltas: not conflated", name, cb.updates, deltas)
		}
	}
	// Nothing else is pending: a ping is answered right away with nothing before it.
	f.Flush()
	for _, c := range []*client{early, late} {
		for _, m := range c.barrier() {
			checkBookMessages(t, c, flow.ref, []wsMsg{m})
		}
		if got := c.book(sym).book.top(0); got != want {
			t.Errorf("book after the last flush %s, want %s", got, want)
		}
	}
}

// resume {symbol: seq} gets only the updates after seq when the view's history still holds them, nothing
// when seq is the view's last, and a fresh snapshot otherwise.
func TestResume(t *testing.T) {
	f := newTestFeedHub(t, feed.Config{}, feed.HubConfig{ResumeHistory: 16})
	flow := newSimFlow(t, sim.Config{Symbols: 1, Levels: 20, Seed: 21, TradeRatio: -1})
	sym := flow.x.Symbols()[0]
	f.submitAndFlush(flow.next(30)...)

	// keeper holds the view (and so its history) open while the others come and go.
	keeper := f.dial()
	keeper.subscribe(1, "book", []string{sym}, "")
	a := f.dial()
	a.subscribe(1, "book", []string{sym}, "")
	f.submitAndFlush(flow.next(6)...)
	checkBookMessages(t, keeper, flow.ref, keeper.barrier())
	checkBookMessages(t, a, flow.ref, a.barrier())
	held := a.book(sym) // what a client had when it lost its connection
	_ = a.conn.Close()
	f.submitAndFlush(flow.next(6)...) // at most 6 updates: all in the history of 16
	checkBookMessages(t, keeper, flow.ref, keeper.barrier())

	// resume dials a client that holds from (when not nil) and subscribes with resume {sym: seq}.
	resume := func(seq uint64, from *clientBook) (*client, []wsMsg) {
		t.Helper()
		c := f.dial()
		if from != nil {
			c.books[sym] = &clientBook{book: from.book.clone(), have: true, lastSeq: from.lastSeq}
		}
		c.subscribe(9, "book", []string{sym}, fmt.Sprintf(`,"resume":{%q:%d}`, sym, seq))
		msgs := c.barrier()
		checkBookMessages(t, c, flow.ref, msgs)
		return c, msgs
	}
	// The cases run in order on one feed, each moving upstream on; from returns what the client holds.
	cases := []struct {
		name         string
		from         func() *clientBook
		seq          func() uint64 // default: from().lastSeq
		wantSnapshot bool
		wantNothing  bool
	}{
		{name: "seq in the history", from: func() *clientBook { return held }},
		{name: "seq is the view's latest", from: func() *clientBook { return keeper.book(sym) }, wantNothing: true},
		{name: "seq before the view existed", seq: func() uint64 { return 3 }, wantSnapshot: true},
		{name: "seq ahead of the feed", seq: func() uint64 { return 1 << 40 }, wantSnapshot: true},
		{name: "seq evicted from the history", from: func() *clientBook {
			f.submitAndFlush(flow.next(40)...) // more than 16 updates after held.lastSeq
			checkBookMessages(t, keeper, flow.ref, keeper.barrier())
			return held
		}, wantSnapshot: true},
	}
	for _, tc := range cases {
		var from *clientBook
		if tc.from != nil {
			from = tc.from()
		}
		var seq uint64
		if tc.seq != nil {
			seq = tc.seq()
		} else {
			seq = from.lastSeq
		}
		c, msgs := resume(seq, from)
		switch {
		case tc.wantNothing:
			if len(msgs) != 0 {
				t.Fatalf("%s: got %v, want nothing: the client is up to date", tc.name, msgs)
			}
		case tc.wantSnapshot:
			if len(msgs) != 1 || msgs[0].Type != "snapshot" {
				t.Fatalf("%s: got %v, want a snapshot", tc.name, msgs)
			}
		default:
			if len(msgs) == 0 {
				t.Fatalf("%s: got nothing, want the updates after the resume seq", tc.name)
			}
			for _, m := range msgs {
				if m.Type != "update" {
					t.Fatalf("%s: got %s, want only updates", tc.name, m)
				}
			}
			if *msgs[0].PrevSeq != seq {
				t.Fatalf("%s: first update %s does not follow the resume seq %d", tc.name, msgs[0], seq)
			}
		}
		if got, want := c.book(sym).book.top(0), flow.ref.books[sym].top(0); got != want {
			t.Fatalf("%s: book after resume differs from upstream:\n got  %s\n want %s", tc.name, got, want)
		}
		// The subscription goes on like any other.
		f.submitAndFlush(flow.next(5)...)
		checkBookMessages(t, c, flow.ref, c.barrier())
		checkBookMessages(t, keeper, flow.ref, keeper.barrier())
	}
}

// A client that was a view's only subscriber can still resume after reconnecting: the view keeps its
// history for ViewLinger after the last subscriber left, and is dropped after that.
func TestResumeAlone(t *testing.T) {
	for _, tc := range []struct {
		name         string
		linger       time.Duration
		wantSnapshot bool
	}{
		{"within the linger", time.Minute, false},
		{"view dropped at once", -1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newTestFeedHub(t, feed.Config{}, feed.HubConfig{ViewLinger: tc.linger})
			flow := newSimFlow(t, sim.Config{Symbols: 1, Levels: 20, Seed: 5, TradeRatio: -1})
			sym := flow.x.Symbols()[0]
			f.submitAndFlush(flow.next(30)...)
			a := f.dial()
			a.subscribe(1, "book", []string{sym}, "")
			f.submitAndFlush(flow.next(10)...)
			checkBookMessages(t, a, flow.ref, a.barrier())
			held := a.book(sym)
			_ = a.conn.Close()
			waitFor(t, "the subscription to go", func() bool { return f.metric("depthcast.feed.subscriptions") == 0 })
			f.submitAndFlush(flow.next(10)...)

			c := f.dial()
			c.books[sym] = &clientBook{book: held.book.clone(), have: true, lastSeq: held.lastSeq}
			c.subscribe(2, "book", []string{sym}, fmt.Sprintf(`,"resume":{%q:%d}`, sym, held.lastSeq))
			msgs := c.barrier()
			checkBookMessages(t, c, flow.ref, msgs)
			gotSnapshot := len(msgs) > 0 && msgs[0].Type == "snapshot"
			if gotSnapshot != tc.wantSnapshot {
				t.Fatalf("got %v, want a snapshot: %v", msgs, tc.wantSnapshot)
			}
		})
	}
}

// catchingUp is a node's input whose books the test feeds and whose readiness it sets: a node that has not
// read the stream up to where it stood at its start.
type catchingUp struct {
	*engine.Pipeline
	ready *atomic.Bool
}

func (c catchingUp) Ready() bool { return c.ready.Load() }

// A node still catching up refuses a resume past the seq its book has reached (unavailable: the client
// tries again), instead of taking the client's book back in time with an older snapshot; a resume at or
// below its seq is served as usual. Once caught up, a resume past its book (the stream's history started
// over) gets the node's snapshot.
func TestResumePastACatchingUpNode(t *testing.T) {
	var ready atomic.Bool
	var books *engine.Pipeline
	n := nodetest.Start(t, node.Config{MaxHTTPConnectionsPerIP: -1, Input: func(pub engine.Publisher) (node.Input, error) {
		p, err := engine.New(engine.Config{Shards: 1, Logger: quietLogger()}, pub)
		books = p
		return catchingUp{p, &ready}, err
	}})
	f := &testFeed{Node: n, t: t, srv: n.Feed()}
	n.Books = books
	u, e := newUpstream("BTC-USD"), newUpstream("ETH-USD")
	f.submitAndFlush(u.snapshot([]lv{{"100", "1"}}, []lv{{"101", "1"}}), u.delta([]lv{{"99", "2"}}, nil), // seq 1, 2
		e.snapshot([]lv{{"10", "1"}}, []lv{{"11", "1"}})) // seq 1

	c := f.dial()
	c.send(`{"op":"subscribe","id":7,"channel":"book","symbols":["BTC-USD"],"resume":{"BTC-USD":40}}`)
	// The refusal names the symbol and comes instead of "subscribed": nothing of the request stands.
	if m := c.next(); m.Type != "error" || m.Code != feed.CodeUnavailable || m.ID == nil || *m.ID != 7 || m.Symbol != "BTC-USD" || !strings.Contains(m.Message, "catching up") {
		t.Fatalf("resume past a catching-up node's book: %s, want unavailable for BTC-USD", m)
	}
	if msgs := c.barrier(); len(msgs) != 0 {
		t.Fatalf("after the refusal: %v, want nothing (no snapshot)", msgs)
	}
	// With another symbol in the same request, the refused one is answered first and left out of
	// "subscribed"; the other is served.
	c.send(`{"op":"subscribe","id":6,"channel":"book","symbols":["BTC-USD","ETH-USD"],"resume":{"BTC-USD":40}}`)
	if m := c.next(); m.Type != "error" || m.Code != feed.CodeUnavailable || m.Symbol != "BTC-USD" {
		t.Fatalf("two symbols, one past the book: %s, want unavailable for BTC-USD first", m)
	}
	if m := c.next(); m.Type != "subscribed" || len(m.Symbols) != 1 || m.Symbols[0] != "ETH-USD" {
		t.Fatalf("two symbols, one past the book: %s, want subscribed to ETH-USD alone", m)
	}
	if m := c.next(); m.Type != "snapshot" || m.Symbol != "ETH-USD" {
		t.Fatalf("two symbols, one past the book: %s, want ETH-USD's snapshot", m)
	}
	if msgs := c.barrier(); len(msgs) != 0 {
		t.Fatalf("after the refusal: %v, want nothing for BTC-USD", msgs)
	}
	// At or below its seq, a catching-up node serves the resume.
	c.send(`{"op":"subscribe","id":8,"channel":"book","symbols":["BTC-USD"],"resume":{"BTC-USD":2}}`)
	c.expect("subscribed")
	if msgs := c.barrier(); len(msgs) != 0 {
		t.Fatalf("resume at the book's seq: %v, want nothing to catch up on", msgs)
	}

	ready.Store(true)
	d := f.dial()
	d.subscribe(9, "book", []string{"BTC-USD"}, `,"resume":{"BTC-USD":40}`)
	if m := d.next(); m.Type != "snapshot" || m.Seq != 2 {
		t.Fatalf("resume past a caught-up node's book: %s, want its snapshot at seq 2", m)
	}
}
