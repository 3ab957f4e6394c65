package feed_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/depthcast/depthcast/book"
	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/feed"
)

// httpGet fetches path from the feed, checks the status code and returns the body.
func httpGet(t *testing.T, f *testFeed, path string, wantStatus int) string {
	t.Helper()
	body, _ := httpGetHeader(t, f, path, wantStatus)
	return body
}

func httpGetHeader(t *testing.T, f *testFeed, path string, wantStatus int) (string, http.Header) {
	t.Helper()
	cl := &http.Client{Timeout: waitTimeout, Transport: &http.Transport{}}
	defer cl.CloseIdleConnections()
	resp, err := cl.Get(f.httpURL() + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	if resp.StatusCode != wantStatus {
		t.Fatalf("GET %s: %d %s, want %d", path, resp.StatusCode, b, wantStatus)
	}
	return string(b), resp.Header
}

// The HTTP endpoints beside the feed (docs/protocol.md §3).
func TestHTTPEndpoints(t *testing.T) {
	f := newTestFeed(t, feed.Config{})
	btc := newUpstream("BTC-USD")
	f.Submit(btc.snapshot([]lv{{"43000.1", "2"}, {"42999", "1.5"}, {"42998.5", "3"}}, []lv{{"43000.2", "1"}, {"43001", "0.25"}}))
	f.Submit(btc.delta([]lv{{"42999", "1.75"}}, nil))
	f.Submit(btc.trade("43000.2", "0.5", "buy", "t-1"))
	eth := newUpstream("ETH-USD")
	eth.skip(41)
	f.Submit(eth.delta([]lv{{"2310", "1"}}, nil)) // known, never live
	f.Flush()

	for _, tc := range []struct {
		path        string
		status      int
		contentType string
		check       func(t *testing.T, body string)
	}{
		{"/healthz", 200, "text/plain", nil},
		{"/readyz", 200, "text/plain", nil},
		{"/", 200, "text/html", func(t *testing.T, body string) {
			if !strings.Contains(strings.ToLower(body), "<html") || !strings.Contains(body, "/ws") {
				t.Errorf("dashboard page does not look like one: %.200s", body)
			}
		}},
		{"/ui/app.js", 200, "text/javascript", func(t *testing.T, body string) {
			if !strings.Contains(body, "requestAnimationFrame") || !strings.Contains(body, `from "./book.js"`) {
				t.Errorf("dashboard script is not the one embedded: %.200s", body)
			}
		}},
		{"/ui/book.js", 200, "text/javascript", func(t *testing.T, body string) {
			if !strings.Contains(body, `from "./sdk/book.js"`) {
				t.Errorf("dashboard book module is not built on the client's: %.200s", body)
			}
		}},
		{"/ui/sdk/checksum.js", 200, "text/javascript", func(t *testing.T, body string) {
			if !strings.Contains(body, "0xedb88320") {
				t.Errorf("the client's checksum module has no CRC-32: %.200s", body)
			}
		}},
		{"/ui/style.css", 200, "text/css", nil},
		{"/ui/nope.js", 404, "", nil},
		{"/v1/stats", 200, "application/json", nil},
		{"/v1/symbols", 200, "application/json", func(t *testing.T, body string) {
			var got struct {
				Symbols []struct {
					Symbol, Status string
					Seq            uint64
				}
			}
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("not JSON: %v: %s", err, body)
			}
			// BTC-USD's last seq is its trade's. ETH-USD's seq is not checked: the feed only learns the seqs
			// of events that reach it (PublishBook, PublishTrade), so it shows 0 for a book never live.
			want := fmt.Sprint([]any{"BTC-USD live 3", "ETH-USD stale"})
			var have []any
			for _, s := range got.Symbols {
				if s.Status == "live" {
					have = append(have, fmt.Sprintf("%s %s %d", s.Symbol, s.Status, s.Seq))
				} else {
					have = append(have, fmt.Sprintf("%s %s", s.Symbol, s.Status))
				}
			}
			if fmt.Sprint(have) != want {
				t.Errorf("symbols %v, want %s", have, want)
			}
		}},
		{"/v1/book/BTC-USD", 200, "application/json", bookCheck(0, "43000.1:2;42999:1.75;42998.5:3;|43000.2:1;43001:0.25;")},
		{"/v1/book/BTC-USD?depth=2", 200, "application/json", bookCheck(2, "43000.1:2;42999:1.75;|43000.2:1;43001:0.25;")},
		{"/v1/book/BTC-USD?depth=1", 200, "application/json", bookCheck(1, "43000.1:2;|43000.2:1;")},
		{"/v1/book/BTC-USD?depth=0", 200, "application/json", bookCheck(0, "43000.1:2;42999:1.75;42998.5:3;|43000.2:1;43001:0.25;")},
		{"/v1/book/FOO-BAR", 404, "application/json", errorCheck("unknown_symbol")},
		{"/v1/book/BTC-USD?depth=5000", 400, "application/json", errorCheck("bad_request")},
		{"/v1/book/BTC-USD?depth=-1", 400, "application/json", errorCheck("bad_request")},
		{"/v1/book/BTC-USD?depth=ten", 400, "application/json", errorCheck("bad_request")},
		{"/no/such/page", 404, "", nil},
		{"/metrics", 404, "", nil}, // no Metrics handler configured
	} {
		t.Run(tc.path, func(t *testing.T) {
			body, h := httpGetHeader(t, f, tc.path, tc.status)
			if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, tc.contentType) {
				t.Errorf("Content-Type %q, want %s", ct, tc.contentType)
			}
			if tc.check != nil {
				tc.check(t, body)
			}
		})
	}
}

// bookCheck checks a /v1/book answer: the WebSocket snapshot's shape, the book, and the checksum.
func bookCheck(depth int, want string) func(t *testing.T, body string) {
	return func(t *testing.T, body string) {
		t.Helper()
		var m wsMsg
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatalf("not JSON: %v: %s", err, body)
		}
		m.raw = body
		if m.Type != "snapshot" || m.Channel != "book" || m.Symbol != "BTC-USD" || m.Seq < 2 {
			t.Errorf("not the snapshot of BTC-USD at seq 2 or later: %s", body)
		}
		c := &client{t: t, books: map[string]*clientBook{}, depth: depth}
		c.mustApply(m)
		if got := c.book("BTC-USD").book.top(0); got != want {
			t.Errorf("book %s, want %s", got, want)
		}
	}
}

func errorCheck(code string) func(t *testing.T, body string) {
	return func(t *testing.T, body string) {
		t.Helper()
		var m wsMsg
		if err := json.Unmarshal([]byte(body), &m); err != nil || m.Type != "error" || m.Code != code || m.Message == "" {
			t.Errorf("body %s, want an error with code %s", body, code)
		}
	}
}

// closedBooks is Books that are not running.
type closedBooks struct{}

func (closedBooks) Do(context.Context, string, func(*book.Book)) error { return engine.ErrClosed }

// /readyz follows Config.Ready: 503 while it reports false, 200 once true. /healthz does not.
func TestReadyz(t *testing.T) {
	var ready atomic.Bool
	hub, err := feed.NewHub(feed.HubConfig{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := feed.New(feed.Config{Ready: ready.Load, Logger: quietLogger()}, hub, closedBooks{})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	get := func(path string, want int) {
		t.Helper()
		resp, err := ts.Client().Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	get("/readyz", http.StatusServiceUnavailable)
	get("/healthz", http.StatusOK)
	ready.Store(true)
	get("/readyz", http.StatusOK)
	ready.Store(false)
	get("/readyz", http.StatusServiceUnavailable)
}

// countingConn counts the bytes a client reads off the wire.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// permessage-deflate is negotiated when the client offers it and the feed allows it; a large snapshot then
// arrives compressed on the wire and intact; small updates after it too.
func TestCompression(t *testing.T) {
	for _, tc := range []struct {
		name           string
		offer, disable bool
		wantDeflate    bool
	}{
		{name: "offered", offer: true, wantDeflate: true},
		{name: "not offered"},
		{name: "offered but disabled", offer: true, disable: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newTestFeed(t, feed.Config{DisableCompression: tc.disable})
			u := newUpstream("BTC-USD")
			var bids, asks []lv
			for i := range 500 {
				bids = append(bids, lv{fmt.Sprintf("%d.5", 40000-i), fmt.Sprintf("%d.25", i+1)})
				asks = append(asks, lv{fmt.Sprintf("%d.5", 40001+i), fmt.Sprintf("%d.75", i+1)})
			}
			f.submitAndFlush(u.snapshot(bids, asks))

			var wire atomic.Int64
			d := dialer()
			d.EnableCompression = tc.offer
			d.NetDial = func(network, addr string) (net.Conn, error) {
				c, err := net.Dial(network, addr)
				if err != nil {
					return nil, err
				}
				return countingConn{c, &wire}, nil
			}
			conn, resp, err := d.Dial(f.wsURL(), nil)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			t.Cleanup(func() { _ = conn.Close() })
			negotiated := strings.Contains(resp.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate")
			if negotiated != tc.wantDeflate {
				t.Fatalf("permessage-deflate negotiated: %v, want %v (%q)", negotiated, tc.wantDeflate, resp.Header.Get("Sec-WebSocket-Extensions"))
			}
			c := &client{t: t, conn: conn, books: map[string]*clientBook{}}
			// Counted from before the request: the client's read buffer may take in part of the snapshot with
			// the "subscribed" reply; the reply itself is small and never compressed (under 512 bytes).
			before := wire.Load()
			c.subscribe(1, "book", []string{"BTC-USD"}, "")
			snap := c.expect("snapshot")
			onWire := wire.Load() - before
			c.mustApply(snap)
			if got := len(c.book("BTC-USD").book.bids) + len(c.book("BTC-USD").book.asks); got != 1000 {
				t.Fatalf("snapshot holds %d levels, want 1000", got)
			}
			if tc.wantDeflate && onWire*2 > int64(len(snap.raw)) {
				t.Errorf("a %d-byte snapshot took %d bytes on the wire: not compressed", len(snap.raw), onWire)
			}
			if !tc.wantDeflate && onWire < int64(len(snap.raw)) {
				t.Errorf("a %d-byte snapshot took only %d bytes on the wire without compression", len(snap.raw), onWire)
			}
			f.submitAndFlush(u.delta([]lv{{"40000.5", "0"}}, []lv{{"40000.75", "1"}}))
			c.applyAll(c.barrier())
			pipe, _ := f.pipelineBook("BTC-USD", 0)
			if got := c.book("BTC-USD").book.top(0); got != pipe {
				t.Errorf("client book differs from the pipeline's after an update")
			}
		})
	}
}
