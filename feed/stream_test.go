package feed_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/depthcast/depthcast/feed"
	"github.com/depthcast/depthcast/sim"
)

// parseUTC checks a time of the feed: RFC 3339, UTC, at most nine fractional digits.
func parseUTC(t *testing.T, what, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("%s time %q: %v", what, s, err)
	}
	if !strings.HasSuffix(s, "Z") {
		t.Fatalf("%s time %q is not in UTC", what, s)
	}
	return tm
}

// The trades channel carries every upstream trade of its symbols, in order and in canonical decimals, and
// nothing of the book; unsubscribing a channel stops exactly its messages.
func TestTradesAndUnsubscribe(t *testing.T) {
	f := newTestFeed(t, feed.Config{})
	u := newUpstream("BTC-USD")
	f.submitAndFlush(u.snapshot([]lv{{"43000.1", "2"}}, []lv{{"43000.2", "1.5"}}))
	c := f.dial()
	c.subscribe(1, "trades", []string{"BTC-USD"}, "")
	c.subscribe(2, "book", []string{"BTC-USD"}, "")
	c.mustApply(c.expect("snapshot"))

	tradeAt := func(seq uint64, price, size, side, id string) wsMsg {
		return wsMsg{Type: "trade", Channel: "trades", Symbol: "BTC-USD", Seq: seq, Price: price, Size: size, Side: side, TradeID: id}
	}
	same := func(got, want wsMsg) bool {
		return got.Type == want.Type && got.Channel == want.Channel && got.Symbol == want.Symbol && got.Seq == want.Seq &&
			got.Price == want.Price && got.Size == want.Size && got.Side == want.Side && got.TradeID == want.TradeID
	}
	// kinds summarizes messages as "trade:2 update:3".
	kinds := func(msgs []wsMsg) string {
		var parts []string
		for _, m := range msgs {
			parts = append(parts, fmt.Sprintf("%s:%d", m.Type, m.Seq))
		}
		return strings.Join(parts, " ")
	}

	f.submitAndFlush(
		u.trade("43000.20", "0.5000", "buy", "t-1"),
		u.delta([]lv{{"43000.1", "0"}}, []lv{{"43000.3", "4"}}),
		u.trade("43000.2", "1.5", "sell", "t-2"),
	)
	msgs := c.barrier()
	if got, want := kinds(msgs), "trade:2 update:3 trade:4"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	for i, want := range []wsMsg{tradeAt(2, "43000.2", "0.5", "buy", "t-1"), {}, tradeAt(4, "43000.2", "1.5", "sell", "t-2")} {
		if want.Type == "" {
			c.mustApply(msgs[i])
			continue
		}
		if !same(msgs[i], want) {
			t.Errorf("got %s, want trade %+v", msgs[i], want)
		}
		if tm := parseUTC(t, "trade", msgs[i].Time); !tm.Equal(u.t0.Add(time.Duration(want.Seq) * time.Millisecond)) {
			t.Errorf("trade time %s, want the upstream event's", msgs[i].Time)
		}
	}

	c.send(`{"op":"unsubscribe","id":3,"channel":"book","symbols":["BTC-USD"]}`)
	if m := c.expect("unsubscribed"); m.ID == nil || *m.ID != 3 || m.Channel != "book" || strings.Join(m.Symbols, ",") != "BTC-USD" {
		t.Fatalf("unsubscribed reply %s, want id 3, channel book, symbols [BTC-USD]", m)
	}
	f.submitAndFlush(u.delta([]lv{{"42999", "1"}}, nil), u.trade("43000.2", "0.1", "buy", "t-3"))
	if got, want := kinds(c.barrier()), "trade:6"; got != want {
		t.Fatalf("after unsubscribing the book: got %s, want %s", got, want)
	}

	c.send(`{"op":"unsubscribe","id":4,"channel":"trades","symbols":["BTC-USD"]}`)
	if m := c.expect("unsubscribed"); m.ID == nil || *m.ID != 4 || m.Channel != "trades" {
		t.Fatalf("unsubscribed reply %s, want id 4, channel trades", m)
	}
	f.submitAndFlush(u.delta([]lv{{"42998", "1"}}, nil), u.trade("43000.2", "0.1", "buy", "t-4"))
	if msgs := c.barrier(); len(msgs) != 0 {
		t.Fatalf("after unsubscribing everything: got %s, want nothing", kinds(msgs))
	}
}

// Two symbols on one connection, one subscription each way, the trades of the simulated exchange: every
// trade arrives once, in upstream order, interleaved with the book messages of both symbols.
func TestTradesOfSimulatedExchange(t *testing.T) {
	f := newTestFeed(t, feed.Config{})
	flow := newSimFlow(t, sim.Config{Symbols: 3, Levels: 10, Seed: 5})
	syms := flow.x.Symbols()
	f.submitAndFlush(flow.next(10)...)
	before := map[string]int{} // trades before the subscription, which it does not get
	for _, sym := range syms {
		before[sym] = len(flow.trades[sym])
	}
	c := f.dial()
	c.subscribe(1, "trades", syms[:2], "")
	c.barrier() // the subscription is in place once the ping after it is answered (see TestTradeAfterSubscribed)
	f.submitAndFlush(flow.next(2000)...)
	got := map[string][]wsMsg{}
	for _, m := range c.barrier() {
		if m.Type != "trade" {
			t.Fatalf("got %s on a trades subscription", m)
		}
		got[m.Symbol] = append(got[m.Symbol], m)
	}
	if len(got[syms[2]]) != 0 {
		t.Errorf("got %d trades of %s, which is not subscribed", len(got[syms[2]]), syms[2])
	}
	for _, sym := range syms[:2] {
		want := flow.trades[sym][before[sym]:]
		if len(got[sym]) != len(want) || len(want) == 0 {
			t.Fatalf("%s: got %d trades, want %d", sym, len(got[sym]), len(want))
		}
		for i := range want {
			g, w := got[sym][i], want[i]
			if g.Seq != w.Seq || g.Price != w.Price || g.Size != w.Size || g.Side != w.Side || g.TradeID != w.TradeID || g.Channel != "trades" {
				t.Fatalf("%s trade %d: got %s, want %+v", sym, i, g, w)
			}
		}
	}
}

// A gap upstream sends "stale" to the book subscribers; a subscriber that comes while the book is stale gets
// "subscribed" and "stale" and no snapshot; trades keep flowing; the next upstream snapshot sends "live" and
// a fresh snapshot to all, and updates follow it.
func TestStaleAndLive(t *testing.T) {
	f := newTestFeed(t, feed.Config{})
	u := newUpstream("SOL-USD")
	f.submitAndFlush(u.snapshot([]lv{{"20", "1"}, {"19.5", "2"}}, []lv{{"20.5", "1"}}))
	early := f.dial()
	early.subscribe(1, "trades", []string{"SOL-USD"}, "")
	early.subscribe(2, "book", []string{"SOL-USD"}, "")
	early.mustApply(early.expect("snapshot"))
	f.submitAndFlush(u.delta([]lv{{"20", "3"}}, nil)) // seq 2
	early.applyAll(early.barrier())

	// Seq 3 is lost: seq 4 shows the gap and is not applied, nor is seq 5; a redelivered seq 2 changes nothing.
	u.skip(1)
	f.submitAndFlush(u.delta([]lv{{"20", "9"}}, nil), u.delta([]lv{{"19", "9"}}, nil))
	msgs := early.barrier()
	if len(msgs) != 1 || msgs[0].Type != "status" || msgs[0].Status != "stale" || msgs[0].Symbol != "SOL-USD" {
		t.Fatalf("after a gap: got %v, want one status stale", msgs)
	}
	f.submitAndFlush(u.trade("20.25", "1", "sell", "t-6")) // seq 6
	msgs = early.barrier()
	if len(msgs) != 1 || msgs[0].Type != "trade" || msgs[0].Seq != 6 {
		t.Fatalf("a trade while stale: got %v, want the trade", msgs)
	}
	for _, path := range []string{"/v1/symbols"} {
		body := httpGet(t, f, path, 200)
		if !strings.Contains(body, `"symbol":"SOL-USD","status":"stale"`) {
			t.Errorf("%s while stale: %s", path, body)
		}
	}

	late := f.dial()
	late.subscribe(1, "book", []string{"SOL-USD"}, "")
	if m := late.next(); m.Type != "status" || m.Status != "stale" || m.Symbol != "SOL-USD" {
		t.Fatalf("subscribing to a stale book: got %s, want status stale", m)
	}
	if msgs := late.barrier(); len(msgs) != 0 {
		t.Fatalf("subscribing to a stale book: got %v, want nothing until it is live", msgs)
	}

	f.submitAndFlush(u.snapshot([]lv{{"21", "1"}}, []lv{{"21.5", "2"}, {"22", "1"}})) // seq 7
	f.submitAndFlush(u.delta(nil, []lv{{"21.5", "0"}}))                               // seq 8
	for name, c := range map[string]*client{"early": early, "late": late} {
		msgs := c.barrier()
		if len(msgs) != 3 || msgs[0].Type != "status" || msgs[0].Status != "live" || msgs[1].Type != "snapshot" || msgs[1].Seq != 7 ||
			msgs[2].Type != "update" || msgs[2].Seq != 8 {
			t.Fatalf("%s after the recovering snapshot: got %v, want status live, snapshot 7, update 8", name, msgs)
		}
		c.applyAll(msgs)
		if got, want := c.book("SOL-USD").book.top(0), "21:1;|22:1;"; got != want {
			t.Errorf("%s: book %s, want %s", name, got, want)
		}
	}
}

// ping is answered with pong, echoing its id when it has one.
func TestPing(t *testing.T) {
	f := newTestFeed(t, feed.Config{})
	c := f.dial()
	for _, tc := range []struct {
		req    string
		wantID *int64
	}{
		{`{"op":"ping","id":5}`, ptr(int64(5))},
		{`{"op":"ping","id":0}`, ptr(int64(0))},
		{`{"op":"ping","id":9007199254740993}`, ptr(int64(9007199254740993))},
		{`{"op":"ping"}`, nil},
	} {
		c.send(tc.req)
		m := c.expect("pong")
		if (m.ID == nil) != (tc.wantID == nil) || (m.ID != nil && *m.ID != *tc.wantID) {
			t.Errorf("%s: got %s", tc.req, m)
		}
		if tc.wantID != nil && !strings.Contains(m.raw, fmt.Sprintf(`"id":%d`, *tc.wantID)) {
			t.Errorf("%s: id not echoed exactly: %s", tc.req, m)
		}
		if tm := parseUTC(t, "pong", m.Time); time.Since(tm) > time.Minute || time.Until(tm) > time.Minute {
			t.Errorf("%s: pong time %s is not now", tc.req, m.Time)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// Every connection gets heartbeats at the configured interval, subscribed or not.
func TestHeartbeat(t *testing.T) {
	f := newTestFeed(t, feed.Config{Heartbeat: 200 * time.Millisecond})
	c := f.dial()
	var last time.Time
	for i := range 3 {
		m, err := c.recv()
		if err != nil {
			t.Fatalf("waiting for heartbeat %d: %v", i+1, err)
		}
		if m.Type != "heartbeat" {
			t.Fatalf("got %s, want a heartbeat", m)
		}
		tm := parseUTC(t, "heartbeat", m.Time)
		if !last.IsZero() && !tm.After(last) {
			t.Errorf("heartbeat time %s does not move on from %s", tm, last)
		}
		last = tm
	}
}

// A trade published after the client has its "subscribed" reply reaches it.
//
// Known bug, skipped until fixed: handleSubscribe (feed/protocol.go) sends "subscribed" before it calls
// subscribeTrades, so a trade published in between is not delivered although the client already holds the
// confirmation. (Book subscriptions do not lose anything: their snapshot is cut after registration.)
func TestTradeAfterSubscribed(t *testing.T) {
	f := newTestFeed(t, feed.Config{})
	u := newUpstream("BTC-USD")
	f.submitAndFlush(u.snapshot([]lv{{"10", "1"}}, []lv{{"11", "1"}}))
	for i := range 100 {
		c := f.dial()
		c.subscribe(1, "trades", []string{"BTC-USD"}, "")
		f.submitAndFlush(u.trade("10.5", "1", "buy", fmt.Sprintf("t-%d", i)))
		if msgs := c.barrier(); len(msgs) != 1 || msgs[0].Type != "trade" {
			t.Fatalf("connection %d: after subscribed, then a trade: got %v, want the trade", i, msgs)
		}
		_ = c.conn.Close()
	}
}
