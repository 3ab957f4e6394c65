package feed_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/depthcast/depthcast/feed"
	"github.com/depthcast/depthcast/internal/testkit"
	"github.com/gorilla/websocket"
)

// threeSymbols makes BTC-USD, ETH-USD and SOL-USD known and live.
func threeSymbols(f *testFeed) {
	for _, sym := range []string{"BTC-USD", "ETH-USD", "SOL-USD"} {
		f.Submit(newUpstream(sym).snapshot([]lv{{"10", "1"}}, []lv{{"11", "1"}}))
	}
	f.Flush()
}

// A bad request gets an "error" with the request's id (when it could be read) and the right code, and
// nothing else happens: no partial subscription, and the connection stays usable.
func TestRequestErrors(t *testing.T) {
	f := newTestFeed(t, feed.Config{MaxMalformed: 100})
	threeSymbols(f)
	c := f.dial()
	for i, tc := range []struct {
		req      string
		wantCode string
		wantID   int64 // -1: no id
		wantText string
	}{
		{`{"op":"subscribe","id":1,"channel":"book","symbols":["FOO-BAR"]}`, "unknown_symbol", 1, "FOO-BAR"},
		{`{"op":"subscribe","id":2,"channel":"book","symbols":["BTC-USD","FOO-BAR"]}`, "unknown_symbol", 2, "FOO-BAR"},
		{`{"op":"subscribe","id":3,"channel":"trades","symbols":["NOPE"]}`, "unknown_symbol", 3, "NOPE"},
		{`{"op":"unsubscribe","id":4,"channel":"book","symbols":["NOPE"]}`, "unknown_symbol", 4, "NOPE"},
		{`{"op":"subscribe","id":5,"channel":"book","symbols":["BTC-USD"],"depth":5000}`, "bad_request", 5, "depth"},
		{`{"op":"subscribe","id":6,"channel":"book","symbols":["BTC-USD"],"depth":-1}`, "bad_request", 6, "depth"},
		{`{"op":"subscribe","id":7,"channel":"book","symbols":["BTC-USD"],"interval_ms":5}`, "bad_request", 7, "interval"},
		{`{"op":"subscribe","id":8,"channel":"book","symbols":["BTC-USD"],"interval_ms":60001}`, "bad_request", 8, "interval"},
		{`{"op":"subscribe","id":9,"channel":"book","symbols":[]}`, "bad_request", 9, ""},
		{`{"op":"subscribe","id":10,"symbols":["BTC-USD"]}`, "bad_request", 10, "channel"},
		{`{"op":"subscribe","id":11,"channel":"candles","symbols":["BTC-USD"]}`, "unknown_channel", 11, "candles"},
		{`{"op":"unsubscribe","id":12,"channel":"candles","symbols":["BTC-USD"]}`, "unknown_channel", 12, "candles"},
		{`{"op":"dance","id":13}`, "unknown_op", 13, "dance"},
		{`{"id":14}`, "bad_request", 14, "op"},
		{`{"op":"subscribe",`, "bad_request", -1, ""},
		{`not json`, "bad_request", -1, ""},
		{`[1,2,3]`, "bad_request", -1, ""},
		{`{"op":"ping"} {"op":"ping"}`, "bad_request", -1, ""},
	} {
		c.send(tc.req)
		m := c.next()
		if m.Type != "error" || m.Code != tc.wantCode {
			t.Errorf("%s: got %s, want error %s", tc.req, m, tc.wantCode)
		}
		switch {
		case tc.wantID < 0 && m.ID != nil:
			t.Errorf("%s: error %s carries an id", tc.req, m)
		case tc.wantID >= 0 && (m.ID == nil || *m.ID != tc.wantID):
			t.Errorf("%s: error %s does not echo id %d", tc.req, m, tc.wantID)
		}
		if m.Message == "" || !strings.Contains(m.Message, tc.wantText) {
			t.Errorf("%s: error message %q, want one that mentions %q", tc.req, m.Message, tc.wantText)
		}
		// Still usable, and nothing else was sent.
		c.send(fmt.Sprintf(`{"op":"ping","id":%d}`, 1000+i))
		if m := c.next(); m.Type != "pong" || m.ID == nil || *m.ID != int64(1000+i) {
			t.Fatalf("%s: after the error got %s, want pong %d", tc.req, m, 1000+i)
		}
	}
	// None of the refused requests subscribed to anything.
	f.submitAndFlush(newUpstream("BTC-USD").snapshot([]lv{{"10", "2"}}, []lv{{"11", "2"}}))
	if msgs := c.barrier(); len(msgs) != 0 {
		t.Fatalf("refused requests left a subscription: got %v", msgs)
	}
	c.subscribe(99, "book", []string{"BTC-USD"}, "")
	c.mustApply(c.expect("snapshot"))
}

// slowDialer connects with a 4 KiB receive buffer, set before the connection is made (shrinking it later
// makes the kernel drop segments and the client then drains far too slowly).
func slowDialer() *websocket.Dialer {
	nd := &net.Dialer{Control: testkit.SmallReceiveBuffer}
	d := dialer()
	d.NetDial = nd.Dial
	return d
}

// The feed closes a connection with the documented code and a reason when the client breaks a limit.
func TestCloseCodes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cfg      feed.Config
		send     func(c *client)
		wantCode int
	}{
		{
			name: "malformed messages over the limit", cfg: feed.Config{MaxMalformed: 3}, wantCode: 1008,
			send: func(c *client) {
				for range 4 {
					trySend(c, websocket.TextMessage, "nope")
				}
			},
		},
		{
			name: "message over the size limit", cfg: feed.Config{MaxMessageBytes: 1024}, wantCode: 1009,
			send: func(c *client) {
				trySend(c, websocket.TextMessage, `{"op":"ping","pad":"`+strings.Repeat("x", 2000)+`"}`)
			},
		},
		{
			name: "binary frame", wantCode: 1003,
			send: func(c *client) { trySend(c, websocket.BinaryMessage, `{"op":"ping","id":1}`) },
		},
		{
			name: "subscriptions over the limit in one request", cfg: feed.Config{MaxSubscriptions: 2}, wantCode: 1008,
			send: func(c *client) {
				trySend(c, websocket.TextMessage, `{"op":"subscribe","id":1,"channel":"book","symbols":["BTC-USD","ETH-USD","SOL-USD"]}`)
			},
		},
		{
			name: "subscriptions over the limit across requests", cfg: feed.Config{MaxSubscriptions: 2}, wantCode: 1008,
			send: func(c *client) {
				trySend(c, websocket.TextMessage, `{"op":"subscribe","id":1,"channel":"trades","symbols":["BTC-USD","ETH-USD"]}`)
				trySend(c, websocket.TextMessage, `{"op":"subscribe","id":2,"channel":"trades","symbols":["SOL-USD"]}`)
			},
		},
		{
			name: "message rate over the limit", cfg: feed.Config{OpsPerSecond: 1, OpsBurst: 5}, wantCode: 1008,
			send: func(c *client) {
				for i := range 30 {
					trySend(c, websocket.TextMessage, fmt.Sprintf(`{"op":"ping","id":%d}`, i))
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newTestFeed(t, tc.cfg)
			threeSymbols(f)
			c := f.dial()
			tc.send(c)
			ce := c.closeError()
			if ce.Code != tc.wantCode {
				t.Errorf("closed with %d %q, want %d", ce.Code, ce.Text, tc.wantCode)
			}
			if ce.Text == "" {
				t.Errorf("close %d carries no reason", ce.Code)
			}
			// The feed is fine: another client is served.
			d := f.dial()
			d.subscribe(1, "book", []string{"BTC-USD"}, "")
			d.mustApply(d.expect("snapshot"))
		})
	}
}

// trySend writes one message and ignores a failure: the feed may already have closed the connection.
func trySend(c *client, typ int, msg string) {
	_ = c.conn.SetWriteDeadline(time.Now().Add(waitTimeout))
	_ = c.conn.WriteMessage(typ, []byte(msg))
}

// A request over the subscription limit "gets a limit_exceeded error and the connection is closed with
// 1008" (feed.Config.MaxSubscriptions), and the replies to the malformed messages before the one that closes
// the connection are not lost either.
//
// Known bug, skipped until fixed: session.close drops every message still queued, including the error
// reply queued just before it by the same request (handleSubscribe replies limit_exceeded, then closes), so
// the client sees the 1008 without the limit_exceeded error, and without the last malformed replies.
func TestErrorRepliesBeforePolicyClose(t *testing.T) {
	for _, tc := range []struct {
		name       string
		cfg        feed.Config
		send       []string
		wantErrors []string
	}{
		{"subscription limit", feed.Config{MaxSubscriptions: 2},
			[]string{`{"op":"subscribe","id":1,"channel":"book","symbols":["BTC-USD","ETH-USD","SOL-USD"]}`},
			[]string{"limit_exceeded 1"}},
		{"malformed limit", feed.Config{MaxMalformed: 3},
			[]string{`{"op":"x","id":1}`, `{"op":"x","id":2}`, `{"op":"x","id":3}`, `{"op":"x","id":4}`},
			[]string{"unknown_op 1", "unknown_op 2", "unknown_op 3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newTestFeed(t, tc.cfg)
			threeSymbols(f)
			c := f.dial()
			for _, m := range tc.send {
				trySend(c, websocket.TextMessage, m)
			}
			var errs []string
			for {
				m, err := c.recv()
				if err != nil {
					var ce *websocket.CloseError
					if !errors.As(err, &ce) || ce.Code != 1008 {
						t.Fatalf("connection ended with %v, want a 1008 close", err)
					}
					break
				}
				if m.Type == "error" && m.ID != nil {
					errs = append(errs, fmt.Sprintf("%s %d", m.Code, *m.ID))
				}
			}
			if strings.Join(errs, ",") != strings.Join(tc.wantErrors, ",") {
				t.Errorf("error replies before the 1008 close: %v, want %v", errs, tc.wantErrors)
			}
		})
	}
}

// A client that stops reading while updates flow is closed with 1013 and a reason once its queue passes
// SendQueueBytes, and still finds the close frame behind the data when it reads again; a fast client of the
// same symbol gets every update, with no gap.
func TestSlowConsumer(t *testing.T) {
	f := newTestFeed(t, feed.Config{SendQueueBytes: 256 << 10})
	u := newUpstream("BTC-USD")
	var bids, asks []lv
	for i := range 40 {
		bids = append(bids, lv{fmt.Sprintf("%d.12", 43000-i), "1"})
		asks = append(asks, lv{fmt.Sprintf("%d.12", 43001+i), "1"})
	}
	f.submitAndFlush(u.snapshot(bids, asks))

	fast := f.dial()
	fast.subscribe(1, "book", []string{"BTC-USD"}, "")
	slow := f.dialWith(slowDialer())
	slow.send(`{"op":"subscribe","id":1,"channel":"book","symbols":["BTC-USD"]}`)

	// The fast client only collects what it reads (so that it keeps up even under -race); it is checked after.
	var (
		mu      sync.Mutex
		got     []wsMsg
		readErr error
	)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		for {
			m, err := fast.recv()
			mu.Lock()
			if err != nil {
				readErr = err
				mu.Unlock()
				return
			}
			if m.Type != "heartbeat" {
				got = append(got, m)
			}
			mu.Unlock()
		}
	}()

	// Wide deltas until the feed gives up on the slow client. The fast client catches up after each round,
	// so that only the slow one falls behind, however little CPU a loaded machine leaves the fast one's
	// reader (its queue holds at most one round).
	round := f.wideDeltasUntil(t, u, func() bool { return f.metric("depthcast.feed.slow_consumers") > 0 }, func() {
		waitFor(t, "the fast client to catch up with the round", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return readErr != nil || (len(got) > 0 && got[len(got)-1].Seq == u.seq)
		})
	})
	// Some more after the close: the fast client must not notice anything.
	for range 50 {
		round++
		f.Submit(u.delta([]lv{{"43000.12", fmt.Sprintf("%d", round)}}, nil))
	}
	f.Flush()

	ce := slow.closeError()
	if ce.Code != 1013 || !strings.Contains(ce.Text, "slow consumer") {
		t.Errorf("slow client closed with %d %q, want 1013 with a slow consumer reason", ce.Code, ce.Text)
	}

	waitFor(t, "the fast client to receive the last update", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return readErr != nil || (len(got) > 0 && got[len(got)-1].Seq == u.seq)
	})
	_ = fast.conn.Close()
	<-readDone
	mu.Lock()
	defer mu.Unlock()
	if n := f.metric("depthcast.feed.slow_consumers"); n != 1 {
		t.Errorf("%d slow consumers, want 1 (fast client read error: %v)", n, readErr)
	}
	updates := 0
	for _, m := range got {
		fast.mustApply(m)
		if m.Type == "update" {
			updates++
		}
	}
	// The snapshot may come after the first deltas ("subscribed" goes out before it is cut); every delta
	// after it changes the book and must reach the fast client.
	if got[0].Type != "snapshot" {
		t.Fatalf("fast client's first book message is %s, want a snapshot", got[0])
	}
	if want := int(u.seq - got[0].Seq); updates != want {
		seen := map[uint64]bool{}
		for _, m := range got {
			seen[m.Seq] = true
		}
		var missing []uint64
		for s := got[0].Seq; s <= u.seq; s++ {
			if !seen[s] {
				missing = append(missing, s)
			}
		}
		t.Errorf("fast client got %d updates, want every one of the %d deltas; missing seqs %v (of %d, last read %s)", updates, want, missing, u.seq, got[len(got)-1])
	}
	pipe, _ := f.pipelineBook("BTC-USD", 0)
	if got := fast.book("BTC-USD").book.top(0); got != pipe {
		t.Errorf("fast client book differs from the pipeline's:\n got  %s\n want %s", got, pipe)
	}
	if fast.book("BTC-USD").snaps != 1 {
		t.Errorf("fast client got %d snapshots, want 1", fast.book("BTC-USD").snaps)
	}
}

// Shutdown closes every connection with 1001 and a reason, waits for them to go, and refuses new ones.
func TestShutdown(t *testing.T) {
	f := newTestFeed(t, feed.Config{})
	threeSymbols(f)
	idle := f.dial()
	book := f.dial()
	book.subscribe(1, "book", []string{"BTC-USD", "ETH-USD"}, "")
	trades := f.dial()
	trades.subscribe(1, "trades", []string{"SOL-USD"}, "")

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		done <- f.srv.Shutdown(ctx)
	}()
	for name, c := range map[string]*client{"idle": idle, "book": book, "trades": trades} {
		ce := c.closeError()
		if ce.Code != 1001 || ce.Text == "" {
			t.Errorf("%s client closed with %d %q, want 1001 with a reason", name, ce.Code, ce.Text)
		}
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	_, resp, err := dialer().Dial(f.wsURL(), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		code := 0
		if resp != nil {
			code = resp.StatusCode
		}
		t.Errorf("dial after Shutdown: err %v, HTTP %d, want a refused handshake with 503", err, code)
	}
}

// Past MaxConnections a handshake gets HTTP 429; once a connection goes, a new one is accepted.
func TestConnectionLimit(t *testing.T) {
	f := newTestFeed(t, feed.Config{MaxConnections: 2})
	a := f.dial()
	f.dial()
	// The feed counts a connection once it has registered it, which can be just after the client's dial
	// returns (see TestConnectionLimitConcurrent).
	waitFor(t, "two open connections", func() bool { return f.metric("depthcast.feed.connections") == 2 })
	_, resp, err := dialer().Dial(f.wsURL(), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third connection: err %v, response %v, want HTTP 429", err, resp)
	}
	_ = a.conn.Close()
	waitFor(t, "a connection slot to free", func() bool {
		c, _, err := dialer().Dial(f.wsURL(), nil)
		if err != nil {
			return false
		}
		_ = c.Close()
		return true
	})
}

// MaxConnections holds when many clients connect at once: at most that many handshakes succeed.
//
// Known bug, skipped until fixed: serveWS checks conns.Load() >= MaxConnections before the upgrade and
// register increments conns only after the 101 response is written, so handshakes in flight together all
// pass the check (and even back-to-back ones can, see TestConnectionLimit's wait).
func TestConnectionLimitConcurrent(t *testing.T) {
	const limit, clients = 3, 20
	f := newTestFeed(t, feed.Config{MaxConnections: limit})
	var wg sync.WaitGroup
	var accepted atomic.Int64
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, _, err := dialer().Dial(f.wsURL(), nil)
			if err == nil {
				accepted.Add(1)
				t.Cleanup(func() { _ = c.Close() })
			}
		}()
	}
	wg.Wait()
	if n := accepted.Load(); n > limit {
		t.Errorf("%d of %d concurrent handshakes accepted, limit %d", n, clients, limit)
	}
}

// Unsubscribing frees its place under MaxSubscriptions; subscribing again to what is already subscribed
// takes no new place (it replaces the subscription).
func TestUnsubscribeFreesSubscriptionSlots(t *testing.T) {
	f := newTestFeed(t, feed.Config{MaxSubscriptions: 2})
	threeSymbols(f)
	c := f.dial()
	c.subscribe(1, "trades", []string{"BTC-USD", "ETH-USD"}, "")
	c.subscribe(2, "trades", []string{"ETH-USD"}, "")
	c.send(`{"op":"unsubscribe","id":3,"channel":"trades","symbols":["BTC-USD"]}`)
	c.expect("unsubscribed")
	c.subscribe(4, "trades", []string{"SOL-USD"}, "")
	// The subscription is in place once the ping after it is answered (see TestTradeAfterSubscribed).
	c.barrier()
	// Seq 1 is SOL-USD's snapshot already: this trade is a redelivery and is skipped.
	f.submitAndFlush(newUpstream("SOL-USD").trade("10.5", "1", "buy", "t-1"))
	sol := newUpstream("SOL-USD")
	sol.skip(1)
	f.submitAndFlush(sol.trade("10.5", "1", "buy", "t-2"))
	if msgs := c.barrier(); len(msgs) != 1 || msgs[0].Type != "trade" || msgs[0].TradeID != "t-2" {
		t.Fatalf("got %v, want the SOL-USD trade t-2", msgs)
	}
}

// Unsubscribing a known symbol the connection does not hold (never subscribed, subscribed on the other
// channel only, or already unsubscribed) is not an error: it gets "unsubscribed" with the request's id. A
// symbol the feed does not know still gets unknown_symbol, and the request is refused whole.
func TestUnsubscribeWhatYouDoNotHold(t *testing.T) {
	f := newTestFeed(t, feed.Config{})
	threeSymbols(f)
	c := f.dial()
	c.subscribe(1, "trades", []string{"BTC-USD"}, "")
	for _, tc := range []struct {
		req, typ, code string
		id             int64
	}{
		{`{"op":"unsubscribe","id":2,"channel":"book","symbols":["ETH-USD"]}`, "unsubscribed", "", 2},
		{`{"op":"unsubscribe","id":3,"channel":"book","symbols":["BTC-USD"]}`, "unsubscribed", "", 3},
		{`{"op":"unsubscribe","id":4,"channel":"trades","symbols":["BTC-USD","SOL-USD"]}`, "unsubscribed", "", 4},
		{`{"op":"unsubscribe","id":5,"channel":"trades","symbols":["BTC-USD"]}`, "unsubscribed", "", 5},
		{`{"op":"unsubscribe","id":6,"channel":"trades","symbols":["NOPE"]}`, "error", "unknown_symbol", 6},
		{`{"op":"unsubscribe","id":7,"channel":"book","symbols":["ETH-USD","NOPE"]}`, "error", "unknown_symbol", 7},
	} {
		c.send(tc.req)
		m := c.next()
		if m.Type != tc.typ || m.Code != tc.code || m.ID == nil || *m.ID != tc.id {
			t.Fatalf("%s: got %s, want %s %s with id %d", tc.req, m, tc.typ, tc.code, tc.id)
		}
	}
	c.send(`{"op":"ping","id":8}`)
	c.expect("pong")
}
