package client_test

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/depthcast/depthcast/client"
)

func sum(s string) uint32 { return crc32.ChecksumIEEE([]byte(s)) }

// serveSubscribe answers the book subscribe the client sends first with a snapshot at seq.
func serveSubscribe(t *testing.T, fc *fakeConn, seq uint64) map[string]any {
	req := fc.next(t)
	fc.send(t, fmt.Sprintf(`{"type":"subscribed","id":%v,"channel":"book","symbols":["X-USD"],"depth":10,"interval_ms":0}`, req["id"]))
	fc.send(t, fmt.Sprintf(`{"type":"snapshot","channel":"book","symbol":"X-USD","seq":%d,"time":"2026-11-24T10:00:00Z","bids":[["100","1"],["99.5","2"]],"asks":[["101","3"]],"checksum":%d}`,
		seq, sum("100:1;99.5:2;|101:3;")))
	return req
}

func isBook(seq uint64) func(client.Event) bool {
	return func(ev client.Event) bool {
		be, ok := ev.(client.BookEvent)
		return ok && be.Book.Seq == seq
	}
}

func isError(target error) func(client.Event) bool {
	return func(ev client.Event) bool {
		ee, ok := ev.(client.ErrorEvent)
		return ok && errors.Is(ee.Err, target)
	}
}

// A gap in the prev_seq chain, or a checksum that does not match, makes the client drop the book, ask for
// a fresh snapshot of that symbol only, and carry on from it.
func TestResubscribe(t *testing.T) {
	good := fmt.Sprintf(`{"type":"update","channel":"book","symbol":"X-USD","seq":11,"prev_seq":10,"time":"2026-11-24T10:00:01Z","bids":[["100","0"]],"asks":[],"checksum":%d}`, sum("99.5:2;|101:3;"))
	tests := []struct {
		name   string
		bad    string // the faulty update after the good one
		target error
	}{
		{"gap", fmt.Sprintf(`{"type":"update","channel":"book","symbol":"X-USD","seq":13,"prev_seq":12,"time":"2026-11-24T10:00:02Z","bids":[],"asks":[["101","4"]],"checksum":%d}`, sum("99.5:2;|101:4;")), client.ErrGap},
		{"missing prev_seq", `{"type":"update","channel":"book","symbol":"X-USD","seq":12,"time":"2026-11-24T10:00:02Z","bids":[],"asks":[],"checksum":0}`, client.ErrGap},
		{"checksum", fmt.Sprintf(`{"type":"update","channel":"book","symbol":"X-USD","seq":12,"prev_seq":11,"time":"2026-11-24T10:00:02Z","bids":[],"asks":[["101","4"]],"checksum":%d}`, sum("99.5:2;|101:3;")), client.ErrChecksum},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resub := make(chan map[string]any, 1)
			fs := newFakeServer(t, func(fc *fakeConn) {
				serveSubscribe(t, fc, 10)
				fc.send(t, good)
				fc.send(t, tc.bad)
				// An update of the old subscription still on its way: dropped, not applied.
				fc.send(t, fmt.Sprintf(`{"type":"update","channel":"book","symbol":"X-USD","seq":14,"prev_seq":13,"time":"2026-11-24T10:00:03Z","bids":[],"asks":[],"checksum":%d}`, sum("99.5:2;|101:4;")))
				resub <- serveSubscribe(t, fc, 20)
				fc.send(t, fmt.Sprintf(`{"type":"update","channel":"book","symbol":"X-USD","seq":21,"prev_seq":20,"time":"2026-11-24T10:00:04Z","bids":[["99","7"]],"asks":[],"checksum":%d}`, sum("100:1;99.5:2;99:7;|101:3;")))
			})
			c := dial(t, fs.url(), client.Config{})
			rec := record(t, c)
			subscribeBooks(t, c, "X-USD")
			rec.wait(tc.name+" error event", isError(tc.target))
			rec.wait("the status resync", func(ev client.Event) bool {
				se, ok := ev.(client.StatusEvent)
				return ok && se.Status == client.StatusResync && errors.Is(se.Err, tc.target)
			})
			ev := rec.wait("the update after the new snapshot", isBook(21)).(client.BookEvent)
			if !ev.Book.ChecksumOK || render(ev.Book) != "100:1;99.5:2;99:7;|101:3;" {
				t.Errorf("book after the resubscribe: %s (checksum ok %v)", render(ev.Book), ev.Book.ChecksumOK)
			}
			req := <-resub
			if req["op"] != "subscribe" || req["channel"] != "book" || fmt.Sprint(req["symbols"]) != "[X-USD]" || req["resume"] != nil || req["depth"] != 10.0 {
				t.Errorf("resubscribe request %v: want a book subscribe of X-USD at depth 10 without resume", req)
			}
			st := c.Stats()
			if st.Gaps+st.Checksums != 1 || st.Snapshots != 2 || fs.count() != 1 {
				t.Errorf("stats %+v over %d connections: want one fault, two snapshots, one connection", st, fs.count())
			}
			if st.Dropped == 0 {
				t.Errorf("the update sent after the fault was not dropped: %+v", st)
			}
			if tc.target == client.ErrChecksum {
				bad := rec.wait("the mismatching book event", isBook(12)).(client.BookEvent)
				if bad.Book.ChecksumOK {
					t.Errorf("the book event of a mismatching update says checksum ok")
				}
			}
		})
	}
}

// A connection that delivers nothing for StaleTimeout is dropped; the next one resumes from the last seq.
func TestSilentConnectionReconnectsAndResumes(t *testing.T) {
	resumeReq := make(chan map[string]any, 1)
	fs := newFakeServer(t, func(fc *fakeConn) {
		switch fc.n {
		case 0:
			serveSubscribe(t, fc, 10)
			return // then silence, no heartbeat
		case 1:
		default:
			return // a later connection (a loaded machine): nothing to check
		}
		req := fc.next(t)
		resumeReq <- req
		fc.send(t, fmt.Sprintf(`{"type":"subscribed","id":%v,"channel":"book","symbols":["X-USD"],"depth":10,"interval_ms":0}`, req["id"]))
		fc.send(t, fmt.Sprintf(`{"type":"update","channel":"book","symbol":"X-USD","seq":15,"prev_seq":10,"time":"2026-11-24T10:00:01Z","bids":[["100","0"]],"asks":[],"checksum":%d}`, sum("99.5:2;|101:3;")))
		for { // heartbeats until the client goes
			select {
			case _, ok := <-fc.reqs:
				if !ok {
					return
				}
			case <-time.After(100 * time.Millisecond):
				fc.send(t, `{"type":"heartbeat","time":"2026-11-24T10:00:02Z"}`)
			}
		}
	})
	c := dial(t, fs.url(), client.Config{StaleTimeout: 300 * time.Millisecond})
	rec := record(t, c)
	subscribeBooks(t, c, "X-USD")
	rec.wait("the snapshot", isBook(10))
	rec.wait("a wait after silence", func(ev client.Event) bool {
		se, ok := ev.(client.StateEvent)
		return ok && se.State == client.StateWaiting && errors.Is(se.Err, client.ErrSilent)
	})
	ev := rec.wait("the resumed update", isBook(15)).(client.BookEvent)
	if !ev.Resumed || ev.Snapshot {
		t.Errorf("first update after the reconnect: resumed %v snapshot %v, want resumed", ev.Resumed, ev.Snapshot)
	}
	req := <-resumeReq
	if fmt.Sprint(req["resume"]) != "map[X-USD:10]" {
		t.Errorf("request after the reconnect %v: want resume X-USD 10", req)
	}
	if st := c.Stats(); st.Resumes != 1 || st.Connects < 2 {
		t.Errorf("stats %+v: want one resume over two connections", st)
	}
}

// What the client does after each close code.
func TestCloseCodes(t *testing.T) {
	const minBackoff = 20 * time.Millisecond
	tests := []struct {
		code          int
		retryOnPolicy bool
		reconnect     bool
		minGap        time.Duration // least time from the close to the next connection
		maxDelay      time.Duration // largest Delay the client may announce
	}{
		{code: 1001, reconnect: true, maxDelay: 0},
		{code: 1011, reconnect: true, maxDelay: minBackoff},
		{code: 1013, reconnect: true, minGap: 8 * minBackoff, maxDelay: 16 * minBackoff},
		{code: 1008, reconnect: false},
		{code: 1008, retryOnPolicy: true, reconnect: true, maxDelay: minBackoff},
		{code: 1003, reconnect: false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d-retry-%v", tc.code, tc.retryOnPolicy), func(t *testing.T) {
			closedAt := make(chan time.Time, 1)
			restored := make(chan map[string]any, 1)
			fs := newFakeServer(t, func(fc *fakeConn) {
				if fc.n == 0 {
					fc.next(t)
					closedAt <- time.Now()
					fc.closeWith(tc.code, "test close")
					return
				}
				restored <- fc.next(t)
			})
			c := dial(t, fs.url(), client.Config{MinBackoff: minBackoff, MaxBackoff: time.Second, RetryOnPolicy: tc.retryOnPolicy})
			rec := record(t, c)
			if !tc.reconnect {
				// The client stops while the subscribe waits for its reply: nil or ErrClosed.
				if err := c.SubscribeBook(context.Background(), client.BookOptions{Depth: 10}, "X-USD"); err != nil && !errors.Is(err, client.ErrClosed) {
					t.Fatalf("SubscribeBook: %v", err)
				}
				select {
				case <-c.Done():
				case <-time.After(waitTimeout):
					t.Fatal("the client did not stop")
				}
				var ce *client.CloseError
				if err := c.Err(); !errors.As(err, &ce) || ce.Code != tc.code || ce.Reason != "test close" {
					t.Fatalf("Err() = %v, want a *CloseError %d", err, tc.code)
				}
				time.Sleep(10 * minBackoff)
				if n := fs.count(); n != 1 {
					t.Errorf("%d connections after %d, want no retry", n, tc.code)
				}
				rec.wait("the closed state", func(ev client.Event) bool {
					se, ok := ev.(client.StateEvent)
					return ok && se.State == client.StateClosed && client.CloseCode(se.Err) == tc.code
				})
				return
			}
			subscribeBooks(t, c, "X-USD")
			waitFor(t, "a second connection", func() bool { return fs.count() == 2 })
			gap := fs.conn(1).at.Sub(<-closedAt)
			if gap < tc.minGap {
				t.Errorf("reconnected %v after %d, want at least %v", gap, tc.code, tc.minGap)
			}
			ev := rec.wait("the wait", func(ev client.Event) bool {
				se, ok := ev.(client.StateEvent)
				return ok && se.State == client.StateWaiting
			}).(client.StateEvent)
			if client.CloseCode(ev.Err) != tc.code || ev.Delay > tc.maxDelay || ev.Delay < tc.minGap {
				t.Errorf("wait after %d: %+v, want the close code and a delay in [%v, %v]", tc.code, ev, tc.minGap, tc.maxDelay)
			}
			if c.Err() != nil {
				t.Errorf("Err() = %v while running", c.Err())
			}
			// The subscription is restored on the new connection.
			if req := <-restored; req["op"] != "subscribe" || fmt.Sprint(req["symbols"]) != "[X-USD]" {
				t.Errorf("first request on the new connection: %v", req)
			}
		})
	}
}

// Close stops a client wherever it is, closes Events and leaves nothing running (TestMain checks goroutines).
func TestCloseWhileWaiting(t *testing.T) {
	fs := newFakeServer(t, func(fc *fakeConn) { fc.closeWith(1013, "overloaded") })
	c := dial(t, fs.url(), client.Config{MinBackoff: time.Minute, MaxBackoff: time.Hour})
	waitFor(t, "the wait", func() bool { return c.State() == client.StateWaiting })
	start := time.Now()
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v", d)
	}
	for range c.Events() { // closed: the loop ends
	}
	if c.Err() != nil || c.State() != client.StateClosed {
		t.Errorf("after Close: Err %v, state %v", c.Err(), c.State())
	}
	if err := c.SubscribeTrades(context.Background(), "X-USD"); !errors.Is(err, client.ErrClosed) {
		t.Errorf("SubscribeTrades after Close: %v, want ErrClosed", err)
	}
}

// A refused handshake ends Dial with a *HandshakeError; a URL that is not ws:// or wss:// is refused.
func TestDialRefused(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "missing token", http.StatusUnauthorized)
	}))
	defer ts.Close()
	_, err := client.Dial(context.Background(), "ws"+strings.TrimPrefix(ts.URL, "http")+"/ws", client.Config{Logger: quietLogger()})
	var he *client.HandshakeError
	if !errors.As(err, &he) || he.StatusCode != http.StatusUnauthorized || !strings.Contains(he.Body, "missing token") {
		t.Errorf("Dial error %v, want a *HandshakeError 401", err)
	}
	for _, u := range []string{"http://127.0.0.1:1/ws", "::bad", ""} {
		if _, err := client.Dial(context.Background(), u, client.Config{}); err == nil {
			t.Errorf("Dial accepted %q", u)
		}
	}
	if _, err := client.Dial(context.Background(), "ws://127.0.0.1:1/ws", client.Config{ViewDepth: -1}); !errors.Is(err, client.ErrConfig) {
		t.Errorf("Dial with a bad config: %v, want ErrConfig", err)
	}
}

// With MaxAttempts, a feed that cannot be reached any more ends the client with ErrGaveUp.
func TestGiveUp(t *testing.T) {
	release := make(chan struct{})
	fs := newFakeServer(t, func(fc *fakeConn) {
		<-release
		fc.closeWith(1011, "internal error")
	})
	c := dial(t, fs.url(), client.Config{MaxAttempts: 3, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	rec := record(t, c)
	_ = fs.ts.Listener.Close() // no new connections from here on
	close(release)
	select {
	case <-c.Done():
	case <-time.After(waitTimeout):
		t.Fatal("the client did not give up")
	}
	if err := c.Err(); !errors.Is(err, client.ErrGaveUp) {
		t.Errorf("Err() = %v, want ErrGaveUp", err)
	}
	<-rec.done // every event read
	waits := 0
	for _, ev := range rec.all() {
		if se, ok := ev.(client.StateEvent); ok && se.State == client.StateWaiting {
			waits++
		}
	}
	if waits != 3 || fs.count() != 1 {
		t.Errorf("%d waits and %d connections, want 3 attempts after the one connection", waits, fs.count())
	}
}

// The handshake offers permessage-deflate unless DisableCompression, and carries Config.Header.
func TestHandshake(t *testing.T) {
	for _, disable := range []bool{false, true} {
		fs := newFakeServer(t, func(fc *fakeConn) {})
		c := dial(t, fs.url(), client.Config{DisableCompression: disable, Header: http.Header{"Authorization": {"Bearer s3cret"}}})
		waitFor(t, "the connection", func() bool { return fs.count() == 1 })
		hdr := fs.conn(0).hdr
		if offered := strings.Contains(hdr.Get("Sec-WebSocket-Extensions"), "permessage-deflate"); offered == disable {
			t.Errorf("DisableCompression %v: extensions offered %q", disable, hdr.Get("Sec-WebSocket-Extensions"))
		}
		if hdr.Get("Authorization") != "Bearer s3cret" {
			t.Errorf("Authorization header %q", hdr.Get("Authorization"))
		}
		_ = c.Close()
	}
}
