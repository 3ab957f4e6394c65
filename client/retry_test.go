package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/depthcast/depthcast/client"
	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/feed"
	"github.com/depthcast/depthcast/node"
	"github.com/depthcast/depthcast/node/nodetest"
	"github.com/depthcast/depthcast/sim"
)

// snapshotOf is a snapshot of sym at seq with the book "100:1;99.5:2;|101:3;".
func snapshotOf(sym string, seq uint64) string {
	return fmt.Sprintf(`{"type":"snapshot","channel":"book","symbol":%q,"seq":%d,"time":"2026-11-24T10:00:00Z","bids":[["100","1"],["99.5","2"]],"asks":[["101","3"]],"checksum":%d}`,
		sym, seq, sum("100:1;99.5:2;|101:3;"))
}

func subscribedTo(req map[string]any) string {
	return fmt.Sprintf(`{"type":"subscribed","id":%v,"channel":"book","symbols":[],"depth":10,"interval_ms":0}`, req["id"])
}

func refusal(req map[string]any, code string) string {
	return fmt.Sprintf(`{"type":"error","id":%v,"code":%q,"message":"refused by the test"}`, req["id"], code)
}

func symbolsOf(req map[string]any) []string {
	raw, _ := req["symbols"].([]any)
	out := make([]string, len(raw))
	for i, s := range raw {
		out[i], _ = s.(string)
	}
	return out
}

// subscribeAndGoAway serves a first connection: the subscribe of syms is answered with a snapshot of each at
// seq 10 once the client has them, then the node goes away with 1001.
func subscribeAndGoAway(t *testing.T, fc *fakeConn, syms []string, ready <-chan struct{}) {
	req := fc.next(t)
	fc.send(t, subscribedTo(req))
	for _, s := range syms {
		fc.send(t, snapshotOf(s, 10))
	}
	select {
	case <-ready:
	case <-time.After(waitTimeout):
	}
	fc.closeWith(client.CloseGoingAway, "restarting")
}

// waitingEvents returns the StatusWaiting events of sym so far.
func waitingEvents(rec *recorder, sym string) []client.StatusEvent {
	var out []client.StatusEvent
	for _, ev := range rec.all() {
		if se, ok := ev.(client.StatusEvent); ok && se.Symbol == sym && se.Status == client.StatusWaiting {
			out = append(out, se)
		}
	}
	return out
}

// restoreScript serves the restore on a node that has just restarted: answer answers the restore request
// (by default it is refused whole with unknown_symbol), then each single-symbol retry of channel is refused
// refusals[sym] times more (by refuse; by default unknown_symbol) before accept answers it, until the
// client goes. It records the requests, and when each symbol was refused, for the test to check.
type restoreScript struct {
	channel  string
	syms     []string
	refusals map[string]int
	// answer answers the restore request; it calls refused with the symbols it refuses before it sends the
	// refusal. Nil: the request is refused whole with unknown_symbol.
	answer func(fc *fakeConn, req map[string]any, refused func(syms ...string))
	// refuse is the refusal of the single-symbol retry req of sym. Nil: unknown_symbol for the request.
	refuse func(req map[string]any, sym string) string
	accept func(fc *fakeConn, req map[string]any, sym string)

	mu        sync.Mutex
	restore   map[string]any
	singles   []sentRequest
	refusedAt map[string][]time.Time // when each refusal of a symbol was sent
}

// sentRequest is a request the fake node received, and when.
type sentRequest struct {
	at   time.Time
	syms []string
}

// refused records that the refusals of syms are sent now.
func (r *restoreScript) refused(syms ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.refusedAt == nil {
		r.refusedAt = map[string][]time.Time{}
	}
	for _, s := range syms {
		r.refusedAt[s] = append(r.refusedAt[s], time.Now())
	}
}

func (r *restoreScript) serve(t *testing.T, fc *fakeConn) {
	req := fc.next(t)
	if req == nil {
		return
	}
	r.mu.Lock()
	r.restore = req
	r.mu.Unlock()
	if r.answer != nil {
		r.answer(fc, req, r.refused)
	} else {
		r.refused(r.syms...)
		fc.send(t, refusal(req, "unknown_symbol"))
	}
	for req := range fc.reqs { // until the client goes
		got := symbolsOf(req)
		r.mu.Lock()
		r.singles = append(r.singles, sentRequest{at: time.Now(), syms: got})
		r.mu.Unlock()
		if len(got) != 1 || req["channel"] != r.channel {
			fc.send(t, refusal(req, "bad_request"))
			continue
		}
		if r.refusals[got[0]] > 0 {
			r.refusals[got[0]]--
			r.refused(got[0])
			if r.refuse != nil {
				fc.send(t, r.refuse(req, got[0]))
			} else {
				fc.send(t, refusal(req, "unknown_symbol"))
			}
			continue
		}
		r.accept(fc, req, got[0])
	}
}

// retriedAt returns when each symbol's single-symbol requests came; a request with more symbols is an error.
func (r *restoreScript) retriedAt(t *testing.T) map[string][]time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	at := map[string][]time.Time{}
	for _, s := range r.singles {
		if len(s.syms) != 1 {
			t.Errorf("retry request carried %v, want one symbol", s.syms)
			continue
		}
		at[s.syms[0]] = append(at[s.syms[0]], s.at)
	}
	return at
}

// retries returns how many single-symbol requests each symbol got; a request with more symbols is an error.
func (r *restoreScript) retries(t *testing.T) map[string]int {
	count := map[string]int{}
	for s, at := range r.retriedAt(t) {
		count[s] = len(at)
	}
	return count
}

// untilRestored waits for each of syms at seq 10 on the first connection, lets that connection go (ready),
// and waits for each back at seq 20, live and verified, on the next.
func untilRestored(t *testing.T, c *client.Client, syms []string, ready chan<- struct{}) {
	t.Helper()
	for _, s := range syms {
		waitFor(t, s+" at seq 10", func() bool { v, ok := c.Book(s, 0); return ok && v.Seq == 10 })
	}
	close(ready)
	for _, s := range syms {
		waitFor(t, s+" back at seq 20", func() bool {
			v, ok := c.Book(s, 0)
			return ok && v.Seq == 20 && v.Status == client.StatusLive && v.ChecksumOK
		})
	}
}

// A node that has just restarted refuses the restore with unknown_symbol: the client retries each symbol on
// its own request, the known one at once, the others with a growing backoff, until every book is back.
func TestRestoreRetriesUnknownSymbols(t *testing.T) {
	const minBackoff = 40 * time.Millisecond
	syms := []string{"A-USD", "B-USD", "C-USD"}
	ready := make(chan struct{})
	rs := &restoreScript{channel: "book", syms: syms, refusals: map[string]int{"A-USD": 0, "B-USD": 1, "C-USD": 2},
		accept: func(fc *fakeConn, req map[string]any, sym string) {
			fc.send(t, subscribedTo(req))
			fc.send(t, snapshotOf(sym, 20))
		}}
	fs := newFakeServer(t, func(fc *fakeConn) {
		switch fc.n {
		case 0:
			subscribeAndGoAway(t, fc, syms, ready)
		case 1:
			rs.serve(t, fc)
		}
	})
	c := dial(t, fs.url(), client.Config{MinBackoff: minBackoff, MaxBackoff: time.Second})
	rec := record(t, c)
	subscribeBooks(t, c, syms...)
	untilRestored(t, c, syms, ready)

	rs.mu.Lock()
	if got := symbolsOf(rs.restore); !slices.Equal(got, syms) {
		t.Errorf("restore request carried %v, want %v", got, syms)
	}
	rs.mu.Unlock()
	count := rs.retries(t)
	if want := map[string]int{"A-USD": 1, "B-USD": 2, "C-USD": 3}; !maps.Equal(count, want) {
		t.Errorf("retries per symbol %v, want %v", count, want)
	}
	// The grouped refusal is split at once; then each refusal of a single symbol doubles the backoff.
	bounds := [][2]time.Duration{{0, 0}, {minBackoff / 2, minBackoff}, {minBackoff, 2 * minBackoff}}
	for _, s := range syms {
		evs := waitingEvents(rec, s)
		if len(evs) != count[s] {
			t.Errorf("%s: %d waiting events, want %d", s, len(evs), count[s])
		}
		for i, ev := range evs {
			var se *client.ServerError
			if !errors.As(ev.Err, &se) || se.Code != "unknown_symbol" {
				t.Errorf("%s waiting event %d: err %v, want unknown_symbol", s, i, ev.Err)
			}
			if i < len(bounds) && (ev.Delay < bounds[i][0] || ev.Delay > bounds[i][1]) {
				t.Errorf("%s waiting event %d: delay %v out of %v", s, i, ev.Delay, bounds[i])
			}
		}
	}
	if fs.count() != 2 {
		t.Errorf("%d connections, want 2: refusals are retried on the same connection", fs.count())
	}
}

// What the client does after each refusal of its restore: unknown_symbol and unavailable are retried, one
// symbol per request; limit_exceeded, unauthorized and bad_request drop the subscriptions with an error
// event naming each symbol, and nothing is sent again.
func TestRestoreRefused(t *testing.T) {
	tests := []struct {
		code    string
		retried bool
	}{
		{"unknown_symbol", true},
		{"unavailable", true},
		{"unauthorized", false},
		{"limit_exceeded", false},
		{"bad_request", false},
	}
	syms := []string{"A-USD", "B-USD"}
	for _, tc := range tests {
		t.Run(tc.code, func(t *testing.T) {
			ready := make(chan struct{})
			extra := make(chan []string, 8) // requests after the refused restore
			fs := newFakeServer(t, func(fc *fakeConn) {
				switch fc.n {
				case 0:
					subscribeAndGoAway(t, fc, syms, ready)
					return
				case 1:
				default:
					return
				}
				fc.send(t, refusal(fc.next(t), tc.code))
				for {
					select {
					case req, ok := <-fc.reqs:
						if !ok {
							return
						}
						extra <- symbolsOf(req)
						fc.send(t, subscribedTo(req))
						fc.send(t, snapshotOf(symbolsOf(req)[0], 20))
					case <-time.After(500 * time.Millisecond):
						close(extra)
						return
					}
				}
			})
			c := dial(t, fs.url(), client.Config{})
			rec := record(t, c)
			subscribeBooks(t, c, syms...)
			for _, s := range syms {
				waitFor(t, s+" at seq 10", func() bool { v, ok := c.Book(s, 0); return ok && v.Seq == 10 })
			}
			close(ready)
			var got [][]string
			for r := range extra {
				got = append(got, r)
			}
			if !tc.retried {
				if len(got) != 0 {
					t.Errorf("after %s the client sent %v; want nothing", tc.code, got)
				}
				for _, s := range syms {
					ev := rec.wait("the error event of "+s, func(ev client.Event) bool {
						ee, ok := ev.(client.ErrorEvent)
						return ok && ee.Symbol == s
					}).(client.ErrorEvent)
					var se *client.ServerError
					if !errors.Is(ev.Err, client.ErrDropped) || !errors.As(ev.Err, &se) || se.Code != tc.code {
						t.Errorf("%s: error %v, want ErrDropped and %s", s, ev.Err, tc.code)
					}
					if _, ok := c.Book(s, 0); ok {
						t.Errorf("%s: the dropped book is still there", s)
					}
					if n := len(waitingEvents(rec, s)); n != 0 {
						t.Errorf("%s: %d waiting events for a refusal that is not retried", s, n)
					}
				}
				return
			}
			slices.SortFunc(got, func(a, b []string) int { return slices.Compare(a, b) })
			if fmt.Sprint(got) != "[[A-USD] [B-USD]]" {
				t.Errorf("retries %v, want one request per symbol", got)
			}
			for _, s := range syms {
				waitFor(t, s+" back at seq 20", func() bool { v, ok := c.Book(s, 0); return ok && v.Seq == 20 && v.Status == client.StatusLive })
				if evs := waitingEvents(rec, s); len(evs) != 1 {
					t.Errorf("%s: %d waiting events, want 1", s, len(evs))
				} else if tc.code == "unavailable" && evs[0].Delay == 0 {
					t.Errorf("%s: retried at once after unavailable, want a backoff", s)
				}
			}
		})
	}
}

// A node restarts on the same address knowing only some symbols, then learns the rest from the stream:
// every book of the client comes back and equals the node's.
func TestRestoreOnANodeCatchingUp(t *testing.T) {
	a := newNode(t, feed.Config{})
	x := exchange(t, 3, 20)
	syms := x.Symbols()
	recs := next(x, 300)
	a.submit(recs...)
	c := dial(t, a.url(), client.Config{})
	rec := record(t, c)
	subscribeBooks(t, c, syms...)
	for _, s := range syms {
		converge(t, c, a, s, 10)
	}
	only := func(keep func(string) bool) []sim.Event {
		var out []sim.Event
		for _, r := range recs {
			if keep(r.Key) {
				out = append(out, r)
			}
		}
		return out
	}

	addr := a.Addr()
	a.Stop()
	b := newNode(t, feed.Config{})
	b.submit(only(func(k string) bool { return k == syms[0] })...)
	b.Listen(addr)
	for _, s := range syms[1:] {
		rec.wait(s+" waiting", func(ev client.Event) bool {
			se, ok := ev.(client.StatusEvent)
			return ok && se.Symbol == s && se.Status == client.StatusWaiting
		})
	}
	converge(t, c, b, syms[0], 10) // known: subscribed at once
	b.submit(only(func(k string) bool { return k != syms[0] })...)
	b.submit(next(x, 300)...)
	for _, s := range syms {
		converge(t, c, b, s, 10)
		if v, _ := c.Book(s, 0); v.Status != client.StatusLive {
			t.Errorf("%s: status %s after it came back", s, v.Status)
		}
	}
	if st := c.Stats(); st.Gaps != 0 || st.Checksums != 0 {
		t.Errorf("stats %+v: want no gap and no mismatch", st)
	}
}

// notReady is the input of a node that has not yet read the stream up to where it stood at its start: its
// /readyz says 503 however far its books are.
type notReady struct{ *engine.Pipeline }

func (notReady) Ready() bool { return false }

// A node restarts on the same address still catching up, one book behind the seq the client holds: the node
// refuses the resume of that symbol alone, by an error that names it, and the other symbol resumes untouched.
// The client retries the refused symbol with a growing backoff, until the node's book has reached its seq.
func TestRestoreOnANodeCatchingUpBehind(t *testing.T) {
	const minBackoff, maxBackoff = 20 * time.Millisecond, 200 * time.Millisecond
	a := newNode(t, feed.Config{})
	x := exchange(t, 2, 20)
	syms := x.Symbols()
	recs := next(x, 300)
	a.submit(recs...)
	c := dial(t, a.url(), client.Config{MinBackoff: minBackoff, MaxBackoff: maxBackoff})
	rec := record(t, c)
	subscribeBooks(t, c, syms...)
	for _, s := range syms {
		converge(t, c, a, s, 10)
	}
	held, _ := c.Book(syms[1], 0)
	// The restarted node has read syms[0] as far as a had, and only the first third of syms[1].
	var first, rest []sim.Event
	n := 0
	for _, r := range recs {
		if r.Key == syms[1] {
			n++
			if n > 10 && n*3 > len(recs)/len(syms) {
				rest = append(rest, r)
				continue
			}
		}
		first = append(first, r)
	}

	addr := a.Addr()
	a.Stop()
	var books *engine.Pipeline
	b := feedNode{nodetest.Start(t, node.Config{Input: func(pub engine.Publisher) (node.Input, error) {
		p, err := engine.New(engine.Config{Shards: 2, Logger: quietLogger()}, pub)
		books = p
		return notReady{p}, err
	}})}
	b.Books = books
	b.submit(first...)
	if _, seq := b.httpBook(syms[1], 10); seq >= held.Seq {
		t.Fatalf("%s: the restarted node is at seq %d, not behind the client's %d", syms[1], seq, held.Seq)
	}
	b.Listen(addr)
	converge(t, c, b, syms[0], 10)
	waitFor(t, "three refusals of "+syms[1], func() bool { return len(waitingEvents(rec, syms[1])) >= 3 })
	b.submit(rest...)
	b.submit(next(x, 100)...)
	for _, s := range syms {
		converge(t, c, b, s, 10)
		if v, _ := c.Book(s, 0); v.Status != client.StatusLive {
			t.Errorf("%s: status %s after it came back", s, v.Status)
		}
	}

	if evs := waitingEvents(rec, syms[0]); len(evs) != 0 {
		t.Errorf("%s: %d waiting events, want none: its resume was not refused", syms[0], len(evs))
	}
	for i, ev := range waitingEvents(rec, syms[1]) {
		var se *client.ServerError
		if !errors.As(ev.Err, &se) || se.Code != "unavailable" || se.Symbol != syms[1] {
			t.Errorf("%s waiting event %d: err %v, want unavailable naming it", syms[1], i, ev.Err)
		}
		d := min(minBackoff<<min(i, 10), maxBackoff)
		if ev.Delay < d/2 || ev.Delay > d {
			t.Errorf("%s waiting event %d: delay %v out of [%v, %v]", syms[1], i, ev.Delay, d/2, d)
		}
	}
	if st := c.Stats(); st.Gaps != 0 || st.Checksums != 0 {
		t.Errorf("stats %+v: want no gap and no mismatch", st)
	}
}

// The resubscribe after a gap is refused too: it is retried with backoff until the feed answers; a symbol
// unsubscribed while it waits is not retried.
func TestResubscribeRefused(t *testing.T) {
	const minBackoff = time.Second // B-USD is unsubscribed long before its retry is due
	gap := func(sym string) string {
		return fmt.Sprintf(`{"type":"update","channel":"book","symbol":%q,"seq":13,"prev_seq":12,"time":"2026-11-24T10:00:02Z","bids":[],"asks":[],"checksum":0}`, sym)
	}
	unsubscribed := make(chan struct{})
	var mu sync.Mutex
	var after []map[string]any // requests after the first refusals
	fs := newFakeServer(t, func(fc *fakeConn) {
		if fc.n != 0 {
			return
		}
		req := fc.next(t)
		fc.send(t, subscribedTo(req))
		fc.send(t, snapshotOf("A-USD", 10))
		fc.send(t, snapshotOf("B-USD", 10))
		fc.send(t, gap("A-USD"))
		fc.send(t, gap("B-USD"))
		for range 2 { // the two resubscribes, refused
			fc.send(t, refusal(fc.next(t), "unavailable"))
		}
		for {
			select {
			case req, ok := <-fc.reqs:
				if !ok {
					return
				}
				mu.Lock()
				after = append(after, req)
				mu.Unlock()
				if req["op"] == "unsubscribe" {
					fc.send(t, fmt.Sprintf(`{"type":"unsubscribed","id":%v}`, req["id"]))
					continue
				}
				fc.send(t, subscribedTo(req))
				fc.send(t, snapshotOf(symbolsOf(req)[0], 20))
			case <-unsubscribed:
				unsubscribed = nil
				time.Sleep(300 * time.Millisecond) // room for retries that must not come
			case <-time.After(3 * time.Second):
				return
			}
		}
	})
	c := dial(t, fs.url(), client.Config{MinBackoff: minBackoff, MaxBackoff: 4 * time.Second})
	rec := record(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := c.SubscribeBook(ctx, client.BookOptions{Depth: 10}, "A-USD", "B-USD"); err != nil {
		t.Fatal(err)
	}
	rec.wait("B-USD waiting", func(ev client.Event) bool {
		se, ok := ev.(client.StatusEvent)
		return ok && se.Symbol == "B-USD" && se.Status == client.StatusWaiting
	})
	if err := c.Unsubscribe(ctx, "book", "B-USD"); err != nil {
		t.Fatal(err)
	}
	close(unsubscribed)
	waitFor(t, "A-USD back at seq 20", func() bool { v, ok := c.Book("A-USD", 0); return ok && v.Seq == 20 && v.Status == client.StatusLive })
	time.Sleep(400 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	for _, req := range after {
		if req["op"] == "subscribe" && fmt.Sprint(symbolsOf(req)) != "[A-USD]" {
			t.Errorf("request %v after the refusals: only A-USD is retried", req)
		}
	}
	ev := waitingEvents(rec, "A-USD")
	if len(ev) != 1 || ev[0].Delay < minBackoff/2 || ev[0].Delay > minBackoff {
		t.Errorf("A-USD waiting events %+v: want one with a delay in [%v, %v]", ev, minBackoff/2, minBackoff)
	}
}

// A restore of a trades subscription refused with unknown_symbol is retried one symbol per request, like a
// book's: each refusal is reported as an ErrorEvent, and once accepted the trades flow again.
func TestRestoreRetriesTrades(t *testing.T) {
	syms := []string{"A-USD", "B-USD"}
	ready := make(chan struct{})
	trade := func(sym string, seq int) string {
		return fmt.Sprintf(`{"type":"trade","channel":"trades","symbol":%q,"seq":%d,"time":"2026-11-24T10:00:00Z","price":"100.5","size":"0.25","side":"buy","trade_id":"t-%d"}`, sym, seq, seq)
	}
	subscribed := func(req map[string]any) string {
		return fmt.Sprintf(`{"type":"subscribed","id":%v,"channel":"trades","symbols":[]}`, req["id"])
	}
	rs := &restoreScript{channel: "trades", syms: syms, refusals: map[string]int{"A-USD": 0, "B-USD": 2},
		accept: func(fc *fakeConn, req map[string]any, sym string) {
			fc.send(t, subscribed(req))
			fc.send(t, trade(sym, 20))
		}}
	fs := newFakeServer(t, func(fc *fakeConn) {
		switch fc.n {
		case 0:
			fc.send(t, subscribed(fc.next(t)))
			for _, s := range syms {
				fc.send(t, trade(s, 10))
			}
			select {
			case <-ready:
			case <-time.After(waitTimeout):
			}
			fc.closeWith(client.CloseGoingAway, "restarting")
		case 1:
			rs.serve(t, fc)
		}
	})
	c := dial(t, fs.url(), client.Config{MinBackoff: 20 * time.Millisecond, MaxBackoff: time.Second})
	rec := record(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := c.SubscribeTrades(ctx, syms...); err != nil {
		t.Fatal(err)
	}
	tradeAt := func(sym string, seq uint64) func(client.Event) bool {
		return func(ev client.Event) bool {
			te, ok := ev.(client.TradeEvent)
			return ok && te.Symbol == sym && te.Seq == seq
		}
	}
	for _, s := range syms {
		rec.wait(s+" trade 10", tradeAt(s, 10))
	}
	close(ready)
	for _, s := range syms {
		ev := rec.wait(s+" trade 20 after the restore", tradeAt(s, 20)).(client.TradeEvent)
		if ev.Price.String() != "100.5" || ev.Side != "buy" || ev.TradeID != "t-20" {
			t.Errorf("%s trade after the restore: %+v", s, ev)
		}
	}

	rs.mu.Lock()
	if got := symbolsOf(rs.restore); !slices.Equal(got, syms) || rs.restore["channel"] != "trades" {
		t.Errorf("restore request %v, want trades of %v", rs.restore, syms)
	}
	rs.mu.Unlock()
	if want := map[string]int{"A-USD": 1, "B-USD": 3}; !maps.Equal(rs.retries(t), want) {
		t.Errorf("retries per symbol %v, want %v", rs.retries(t), want)
	}
	refusalsSeen := map[string]int{}
	for _, ev := range rec.all() {
		if ee, ok := ev.(client.ErrorEvent); ok {
			var se *client.ServerError
			if !errors.As(ee.Err, &se) || se.Code != "unknown_symbol" || errors.Is(ee.Err, client.ErrDropped) {
				t.Errorf("%s: error event %v, want a retried unknown_symbol", ee.Symbol, ee.Err)
			}
			refusalsSeen[ee.Symbol]++
		}
	}
	// The grouped refusal is reported for both; then each single refusal of B-USD once more.
	if want := map[string]int{"A-USD": 1, "B-USD": 3}; !maps.Equal(refusalsSeen, want) {
		t.Errorf("error events per symbol %v, want %v", refusalsSeen, want)
	}
	if fs.count() != 2 {
		t.Errorf("%d connections, want 2: refusals are retried on the same connection", fs.count())
	}
}

// symbolRefusal is an error reply about sym alone, as a node catching up sends it for a resume past its book.
func symbolRefusal(req map[string]any, sym, code string) string {
	return fmt.Sprintf(`{"type":"error","id":%v,"symbol":%q,"code":%q,"message":"%s is not available now: this node is catching up"}`, req["id"], sym, code, sym)
}

// subscribedList is a "subscribed" reply to the book subscribe req that lists syms.
func subscribedList(req map[string]any, syms ...string) string {
	list, _ := json.Marshal(syms)
	return fmt.Sprintf(`{"type":"subscribed","id":%v,"channel":"book","symbols":%s,"depth":10,"interval_ms":0}`, req["id"], list)
}

// sinceLast returns how long after the last of times before t t is; ok is false when none is before t.
func sinceLast(times []time.Time, t time.Time) (d time.Duration, ok bool) {
	for _, at := range times {
		if !at.After(t) {
			d, ok = t.Sub(at), true
		}
	}
	return d, ok
}

// An error that names one symbol of the client's restore concerns that symbol alone, whether it comes before
// the "subscribed" reply (which then leaves the symbol out) or after it: the symbol is retried on a request
// of its own after a backoff that grows with each refusal, and the request's other symbols stand. An error
// that names no symbol concerns them all.
func TestRestoreRefusedForOneSymbol(t *testing.T) {
	const minBackoff = 40 * time.Millisecond
	syms := []string{"BTC-USD", "ETH-USD"}
	tests := []struct {
		name string
		// answer answers the restore; it calls refused with the symbols it refuses before it sends the refusal.
		answer func(fc *fakeConn, req map[string]any, refused func(syms ...string))
		// again is how many times each retry is refused (by an error naming its symbol) before it is accepted.
		again       int
		wantRetries map[string]int
	}{
		{
			name: "refused before subscribed",
			answer: func(fc *fakeConn, req map[string]any, refused func(...string)) {
				refused("ETH-USD")
				fc.send(t, symbolRefusal(req, "ETH-USD", "unavailable"))
				fc.send(t, subscribedList(req, "BTC-USD"))
				fc.send(t, snapshotOf("BTC-USD", 20))
			},
			wantRetries: map[string]int{"ETH-USD": 1},
		},
		{
			name: "refused after subscribed",
			answer: func(fc *fakeConn, req map[string]any, refused func(...string)) {
				fc.send(t, subscribedList(req, syms...))
				fc.send(t, snapshotOf("BTC-USD", 20))
				refused("ETH-USD")
				fc.send(t, symbolRefusal(req, "ETH-USD", "unavailable"))
			},
			wantRetries: map[string]int{"ETH-USD": 1},
		},
		{
			name: "refused whole",
			answer: func(fc *fakeConn, req map[string]any, refused func(...string)) {
				refused(syms...)
				fc.send(t, refusal(req, "unavailable"))
			},
			wantRetries: map[string]int{"BTC-USD": 1, "ETH-USD": 1},
		},
		{
			name: "refused before subscribed, again and again",
			answer: func(fc *fakeConn, req map[string]any, refused func(...string)) {
				refused("ETH-USD")
				fc.send(t, symbolRefusal(req, "ETH-USD", "unavailable"))
				fc.send(t, subscribedList(req, "BTC-USD"))
				fc.send(t, snapshotOf("BTC-USD", 20))
			},
			again:       3,
			wantRetries: map[string]int{"ETH-USD": 4},
		},
		{
			name: "refused after subscribed, again and again",
			answer: func(fc *fakeConn, req map[string]any, refused func(...string)) {
				fc.send(t, subscribedList(req, syms...))
				fc.send(t, snapshotOf("BTC-USD", 20))
				refused("ETH-USD")
				fc.send(t, symbolRefusal(req, "ETH-USD", "unavailable"))
			},
			again:       2,
			wantRetries: map[string]int{"ETH-USD": 3},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ready := make(chan struct{})
			rs := &restoreScript{channel: "book", syms: syms, answer: tc.answer,
				refusals: map[string]int{"BTC-USD": tc.again, "ETH-USD": tc.again},
				refuse: func(req map[string]any, sym string) string {
					return symbolRefusal(req, sym, "unavailable") // no "subscribed": nothing of it stands
				},
				accept: func(fc *fakeConn, req map[string]any, sym string) {
					fc.send(t, subscribedList(req, sym))
					fc.send(t, snapshotOf(sym, 20))
				}}
			fs := newFakeServer(t, func(fc *fakeConn) {
				switch fc.n {
				case 0:
					subscribeAndGoAway(t, fc, syms, ready)
				case 1:
					rs.serve(t, fc)
				}
			})
			c := dial(t, fs.url(), client.Config{MinBackoff: minBackoff, MaxBackoff: 10 * time.Second})
			rec := record(t, c)
			subscribeBooks(t, c, syms...)
			untilRestored(t, c, syms, ready)
			time.Sleep(4 * minBackoff) // room for retries that must not come

			sent := rs.retriedAt(t)
			rs.mu.Lock()
			defer rs.mu.Unlock()
			if got := symbolsOf(rs.restore); !slices.Equal(got, syms) {
				t.Errorf("restore request carried %v, want %v", got, syms)
			}
			count := map[string]int{}
			for s, at := range sent {
				count[s] = len(at)
			}
			if !maps.Equal(count, tc.wantRetries) {
				t.Errorf("retries per symbol %v, want %v", count, tc.wantRetries)
			}
			for _, s := range syms {
				evs := waitingEvents(rec, s)
				if len(evs) != tc.wantRetries[s] {
					t.Errorf("%s: %d waiting events, want %d", s, len(evs), tc.wantRetries[s])
				}
				// Each refusal doubles the backoff; the retry comes no sooner than the delay announced.
				for i, ev := range evs {
					var se *client.ServerError
					if !errors.As(ev.Err, &se) || se.Code != "unavailable" {
						t.Errorf("%s waiting event %d: err %v, want unavailable", s, i, ev.Err)
					}
					lo, hi := minBackoff<<i/2, minBackoff<<i
					if ev.Delay < lo || ev.Delay > hi {
						t.Errorf("%s waiting event %d: delay %v out of [%v, %v]", s, i, ev.Delay, lo, hi)
					}
					if i < len(sent[s]) {
						if gap, ok := sinceLast(rs.refusedAt[s], sent[s][i]); !ok || gap < ev.Delay {
							t.Errorf("%s retry %d came %v after the last refusal before it (%v), before its delay %v", s, i, gap, ok, ev.Delay)
						}
					}
				}
			}
			if fs.count() != 2 {
				t.Errorf("%d connections, want 2: refusals are retried on the same connection", fs.count())
			}
		})
	}
}

// The resubscribe after a gap is answered with "subscribed", then refused for its symbol: the symbol is
// retried. An update of the subscription it replaces, still on its way before "subscribed", does not count
// as the new subscription's first message.
func TestResubscribeRefusedAfterSubscribed(t *testing.T) {
	const minBackoff = 40 * time.Millisecond
	update := func(sym string, seq, prev uint64) string {
		return fmt.Sprintf(`{"type":"update","channel":"book","symbol":%q,"seq":%d,"prev_seq":%d,"time":"2026-11-24T10:00:02Z","bids":[],"asks":[],"checksum":0}`, sym, seq, prev)
	}
	var mu sync.Mutex
	var after [][]string // requests after the resubscribe
	fs := newFakeServer(t, func(fc *fakeConn) {
		if fc.n != 0 {
			return
		}
		fc.send(t, subscribedTo(fc.next(t)))
		fc.send(t, snapshotOf("A-USD", 10))
		fc.send(t, update("A-USD", 13, 12)) // a gap
		req := fc.next(t)
		if req == nil {
			return
		}
		fc.send(t, update("A-USD", 14, 13)) // of the old subscription
		fc.send(t, subscribedList(req, "A-USD"))
		fc.send(t, symbolRefusal(req, "A-USD", "unavailable"))
		for req := range fc.reqs {
			mu.Lock()
			after = append(after, symbolsOf(req))
			mu.Unlock()
			fc.send(t, subscribedList(req, symbolsOf(req)...))
			fc.send(t, snapshotOf(symbolsOf(req)[0], 20))
		}
	})
	c := dial(t, fs.url(), client.Config{MinBackoff: minBackoff, MaxBackoff: time.Second})
	rec := record(t, c)
	subscribeBooks(t, c, "A-USD")
	waitFor(t, "A-USD back at seq 20", func() bool {
		v, ok := c.Book("A-USD", 0)
		return ok && v.Seq == 20 && v.Status == client.StatusLive
	})
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(after) != "[[A-USD]]" {
		t.Errorf("requests after the refused resubscribe %v, want one retry of A-USD", after)
	}
	if evs := waitingEvents(rec, "A-USD"); len(evs) != 1 || evs[0].Delay < minBackoff/2 || evs[0].Delay > minBackoff {
		t.Errorf("A-USD waiting events %+v: want one with a delay in [%v, %v]", evs, minBackoff/2, minBackoff)
	}
}

// A ServerError's message names the symbol it is about, once.
func TestServerErrorMessage(t *testing.T) {
	tests := []struct {
		err  client.ServerError
		want string
	}{
		{client.ServerError{Code: "unknown_symbol", Message: "no such symbol: NOPE-USD"}, "feed error unknown_symbol: no such symbol: NOPE-USD"},
		{client.ServerError{Code: "unavailable", Symbol: "ETH-USD", Message: "ETH-USD is not available now"}, "feed error unavailable: ETH-USD is not available now"},
		{client.ServerError{Code: "unavailable", Symbol: "ETH-USD", Message: "try again"}, "feed error unavailable for ETH-USD: try again"},
	}
	for _, tc := range tests {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.err, got, tc.want)
		}
	}
}
