package client_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/depthcast/depthcast/client"
	"github.com/depthcast/depthcast/feed"
	"github.com/depthcast/depthcast/sim"
)

// converge waits until the client's book of symbol equals the node's GET /v1/book at depth (0: full).
func converge(t *testing.T, c *client.Client, n feedNode, symbol string, depth int) {
	t.Helper()
	var mine, theirs string
	deadline := time.Now().Add(waitTimeout)
	for {
		theirs, _ = n.httpBook(symbol, depth)
		v, ok := c.Book(symbol, 0)
		if ok {
			mine = render(v)
			if mine == theirs && v.ChecksumOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s (depth %d): the client's book\n  %s\ndiffers from the feed's\n  %s", symbol, depth, mine, theirs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// After thousands of updates, with full, top-N and conflated subscriptions, upstream gaps and re-snapshots,
// every local book equals the feed's book, and no update failed its prev_seq or checksum check.
func TestBooksMatchTheFeed(t *testing.T) {
	n := newNode(t, feed.Config{})
	x, err := sim.New(sim.Config{Symbols: 4, Levels: 40, Seed: 3, ResnapshotEvery: 400})
	if err != nil {
		t.Fatal(err)
	}
	n.submit(next(x, 200)...) // every symbol has its snapshot
	syms := x.Symbols()
	subs := map[string]client.BookOptions{
		syms[0]: {},                          // full book
		syms[1]: {Depth: 5},                  // top 5
		syms[2]: {Depth: 25},                 // top 25
		syms[3]: {Depth: 10, IntervalMS: 20}, // conflated
	}
	c := dial(t, n.url(), client.Config{})
	rec := record(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for sym, opts := range subs {
		if err := c.SubscribeBook(ctx, opts, sym); err != nil {
			t.Fatalf("SubscribeBook %s: %v", sym, err)
		}
	}
	if err := c.SubscribeTrades(ctx, syms[0]); err != nil {
		t.Fatalf("SubscribeTrades: %v", err)
	}
	wantTrades := 0
	skipped := false
	for range 20 {
		batch := next(x, 200)
		for i := 0; i < len(batch); i++ {
			if batch[i].Key == syms[0] && bytes.Contains(batch[i].Value, []byte(`"type":"trade"`)) {
				wantTrades++
			}
			// Drop one delta of syms[1] upstream: the feed marks it stale until its next re-snapshot.
			if !skipped && batch[i].Key == syms[1] && bytes.Contains(batch[i].Value, []byte(`"type":"delta"`)) {
				batch = append(batch[:i], batch[i+1:]...)
				skipped = true
			}
		}
		n.submit(batch...)
	}
	for sym, opts := range subs {
		converge(t, c, n, sym, opts.Depth)
	}
	countTrades := func() int {
		got := 0
		for _, ev := range rec.all() {
			if te, ok := ev.(client.TradeEvent); ok && te.Symbol == syms[0] {
				got++
			}
		}
		return got
	}
	deadline := time.Now().Add(waitTimeout)
	for countTrades() != wantTrades && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := countTrades(); got != wantTrades {
		t.Errorf("%d trades of %s, want %d; stats %+v", got, syms[0], wantTrades, c.Stats())
		for _, ev := range rec.all() {
			if te, ok := ev.(client.TradeEvent); ok && te.Symbol == syms[0] {
				t.Log(te.Seq)
			}
		}
	}
	st := c.Stats()
	if st.Gaps != 0 || st.Checksums != 0 || st.Updates < 1000 || st.Connects != 1 {
		t.Errorf("stats %+v: want no gap, no checksum mismatch, over 1000 updates, one connection", st)
	}
	var stale, live bool
	for _, ev := range rec.all() {
		switch ev := ev.(type) {
		case client.StatusEvent:
			if ev.Symbol == syms[1] && ev.Status == client.StatusStale {
				stale = true
			}
			if ev.Symbol == syms[1] && ev.Status == client.StatusLive && stale {
				live = true
			}
		case client.BookEvent:
			if !ev.Book.ChecksumOK {
				t.Errorf("book event with a bad checksum: %+v", ev.Book)
			}
			if want := max(subs[ev.Book.Symbol].Depth, 10); len(ev.Book.Bids) > want || len(ev.Book.Asks) > want {
				t.Errorf("%s view holds %d/%d levels, want at most %d", ev.Book.Symbol, len(ev.Book.Bids), len(ev.Book.Asks), want)
			}
		case client.ErrorEvent:
			t.Errorf("error event: %v", ev.Err)
		}
	}
	if !stale || !live {
		t.Errorf("%s: status stale seen %v, live again %v; want both after the upstream gap", syms[1], stale, live)
	}
}

// A node shuts down (1001); the client redials at once, reaches another node that read the same stream on
// the same address, resumes from the seq it holds without a snapshot, and its book follows the new node.
func TestResumeOnAnotherNode(t *testing.T) {
	a := newNode(t, feed.Config{})
	b := newNode(t, feed.Config{})
	x := exchange(t, 1, 30)
	sym := x.Symbols()[0]
	both := func(evs []sim.Event) {
		a.submit(evs...)
		b.submit(evs...)
	}
	both(next(x, 50))
	// A watcher keeps b's depth-10 view, and so its resume history, alive.
	watcher := dial(t, b.url(), client.Config{})
	_ = record(t, watcher)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := watcher.SubscribeBook(ctx, client.BookOptions{Depth: 10}, sym); err != nil {
		t.Fatal(err)
	}

	c := dial(t, a.url(), client.Config{MinBackoff: 50 * time.Millisecond})
	rec := record(t, c)
	if err := c.SubscribeBook(ctx, client.BookOptions{Depth: 10}, sym); err != nil {
		t.Fatal(err)
	}
	both(next(x, 300))
	converge(t, c, a, sym, 10)
	converge(t, watcher, b, sym, 10)

	addr := a.Addr()
	a.Stop()
	ev := rec.wait("the wait after 1001", func(ev client.Event) bool {
		se, ok := ev.(client.StateEvent)
		return ok && se.State == client.StateWaiting
	}).(client.StateEvent)
	if client.CloseCode(ev.Err) != client.CloseGoingAway || ev.Delay != 0 {
		t.Errorf("after the node's shutdown: %+v, want 1001 and no delay", ev)
	}
	b.submit(next(x, 100)...) // while the client has no node
	b.Listen(addr)
	resumed := rec.wait("the resumed update", func(ev client.Event) bool {
		be, ok := ev.(client.BookEvent)
		return ok && (be.Resumed || be.Snapshot && be.Book.Seq > 350)
	}).(client.BookEvent)
	if !resumed.Resumed {
		t.Errorf("the new node sent a snapshot at seq %d instead of resuming", resumed.Book.Seq)
	}
	b.submit(next(x, 200)...)
	converge(t, c, b, sym, 10)
	if st := c.Stats(); st.Resumes != 1 || st.Snapshots != 1 || st.Gaps != 0 || st.Checksums != 0 {
		t.Errorf("stats %+v: want one snapshot, one resume, no gap, no mismatch", st)
	}
}

// Subscribe returns the feed's refusal; the options are checked before anything is sent.
func TestSubscribeErrors(t *testing.T) {
	n := newNode(t, feed.Config{})
	x := exchange(t, 1, 10)
	n.submit(next(x, 5)...)
	c := dial(t, n.url(), client.Config{})
	_ = record(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	err := c.SubscribeBook(ctx, client.BookOptions{Depth: 10}, "NOPE-USD")
	var se *client.ServerError
	if !errors.As(err, &se) || se.Code != "unknown_symbol" || !strings.Contains(se.Message, "NOPE-USD") {
		t.Errorf("SubscribeBook of an unknown symbol: %v, want unknown_symbol", err)
	}
	if _, ok := c.Book("NOPE-USD", 0); ok {
		t.Error("a refused subscription left a book")
	}
	for _, opts := range []client.BookOptions{{Depth: 5000}, {Depth: -1}, {IntervalMS: 5}, {IntervalMS: 60001}} {
		if err := c.SubscribeBook(ctx, opts, x.Symbols()[0]); !errors.Is(err, client.ErrConfig) {
			t.Errorf("SubscribeBook %+v: %v, want ErrConfig", opts, err)
		}
	}
	if err := c.SubscribeBook(ctx, client.BookOptions{}); !errors.Is(err, client.ErrConfig) {
		t.Errorf("SubscribeBook without symbols: %v, want ErrConfig", err)
	}
	if err := c.SubscribeBook(ctx, client.BookOptions{Depth: 3}, x.Symbols()[0]); err != nil {
		t.Fatalf("SubscribeBook: %v", err)
	}
	converge(t, c, n, x.Symbols()[0], 3)
	if err := c.Unsubscribe(ctx, "book", x.Symbols()[0]); err != nil {
		t.Fatalf("Unsubscribe: %v", err)
	}
	if _, ok := c.Book(x.Symbols()[0], 0); ok {
		t.Error("Unsubscribe left the book")
	}
}

// Subscribe, Unsubscribe, Book and Stats from several goroutines while updates stream in: no race (under
// -race), and the books still end equal to the feed's.
func TestConcurrentUse(t *testing.T) {
	n := newNode(t, feed.Config{OpsPerSecond: 1000, OpsBurst: 1000})
	x := exchange(t, 3, 20)
	n.submit(next(x, 30)...)
	syms := x.Symbols()
	c := dial(t, n.url(), client.Config{})
	_ = record(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	stop := make(chan struct{})
	feeding := make(chan struct{})
	go func() {
		defer close(feeding)
		for {
			select {
			case <-stop:
				return
			default:
			}
			n.submit(next(x, 20)...)
		}
	}()
	errs := make(chan error, 4)
	for g := range 4 {
		go func() {
			var err error
			for i := range 10 {
				sym := syms[(g+i)%len(syms)]
				switch i % 3 {
				case 0, 1:
					err = errors.Join(err, c.SubscribeBook(ctx, client.BookOptions{Depth: 1 + (g+i)%7}, sym))
				case 2:
					err = errors.Join(err, c.Unsubscribe(ctx, "book", sym))
				}
				c.Book(sym, 5)
				c.Stats()
				c.State()
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Errorf("concurrent requests: %v", err)
		}
	}
	close(stop)
	<-feeding
	for _, sym := range syms {
		if err := c.SubscribeBook(ctx, client.BookOptions{Depth: 10}, sym); err != nil {
			t.Fatal(err)
		}
	}
	n.submit(next(x, 100)...)
	for _, sym := range syms {
		converge(t, c, n, sym, 10)
	}
}
