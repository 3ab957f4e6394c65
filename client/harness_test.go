package client_test

// The harness of the client tests: real feed nodes (feed.Server over an engine.Pipeline, served over TCP on
// a port of their own), fed with the simulated exchange's records, and a small gorilla/websocket server that
// plays scripted protocol faults.

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/depthcast/depthcast/client"
	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/feed"
	"github.com/depthcast/depthcast/internal/testkit"
	"github.com/depthcast/depthcast/node"
	"github.com/depthcast/depthcast/node/nodetest"
	"github.com/depthcast/depthcast/sim"
	"github.com/gorilla/websocket"
)

// waitTimeout bounds every wait; generous for -race on a loaded 2-core machine. Waits end when their
// condition holds.
const waitTimeout = nodetest.WaitTimeout

func quietLogger() *slog.Logger { return nodetest.QuietLogger() }

// feedNode is one depthcast node (node/nodetest) whose books the test feeds with the simulated
// exchange's records.
type feedNode struct{ *nodetest.Node }

// newNode starts a node listening on 127.0.0.1, port 0, with the feed config cfg.
func newNode(t *testing.T, cfg feed.Config) feedNode {
	t.Helper()
	return feedNode{nodetest.Start(t, node.Config{Feed: cfg})}
}

func (n feedNode) url() string { return n.URL("ws", "/ws") }

// submit hands the records to the books in order and waits until they are applied and published.
func (n feedNode) submit(recs ...sim.Event) {
	for _, r := range recs {
		n.SubmitRecords(engine.Record{Key: []byte(r.Key), Value: r.Value})
	}
	n.Flush()
}

// httpBook returns GET /v1/book/symbol?depth=n rendered by render, and its seq.
func (n feedNode) httpBook(symbol string, depth int) (string, uint64) {
	cl := &http.Client{Timeout: waitTimeout, Transport: &http.Transport{}}
	defer cl.CloseIdleConnections()
	resp, err := cl.Get(n.URL("http", fmt.Sprintf("/v1/book/%s?depth=%d", symbol, depth)))
	if err != nil {
		n.T().Fatalf("GET /v1/book: %v", err)
	}
	defer resp.Body.Close()
	var v struct {
		Seq        uint64
		Bids, Asks [][]string
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		n.T().Fatalf("GET /v1/book: %d: %v", resp.StatusCode, err)
	}
	var sb strings.Builder
	for i, side := range [][][]string{v.Bids, v.Asks} {
		if i == 1 {
			sb.WriteByte('|')
		}
		for _, l := range side {
			sb.WriteString(l[0] + ":" + l[1] + ";")
		}
	}
	return sb.String(), v.Seq
}

// render writes a view like httpBook.
func render(v client.BookView) string {
	var sb strings.Builder
	for _, l := range v.Bids {
		sb.WriteString(l.Price.String() + ":" + l.Size.String() + ";")
	}
	sb.WriteByte('|')
	for _, l := range v.Asks {
		sb.WriteString(l.Price.String() + ":" + l.Size.String() + ";")
	}
	return sb.String()
}

// exchange returns a simulated exchange and the first n of its records.
func exchange(t *testing.T, symbols, levels int) *sim.Exchange {
	t.Helper()
	x, err := sim.New(sim.Config{Symbols: symbols, Levels: levels, Seed: 7, ResnapshotEvery: -1})
	if err != nil {
		t.Fatalf("sim.New: %v", err)
	}
	return x
}

func next(x *sim.Exchange, n int) []sim.Event {
	out := make([]sim.Event, n)
	for i := range out {
		out[i] = x.Next()
	}
	return out
}

// dial connects a client with quick test timings unless cfg sets its own, and closes it at cleanup.
func dial(t *testing.T, url string, cfg client.Config) *client.Client {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = 20 * time.Millisecond
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 200 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, err := client.Dial(ctx, url, cfg)
	if err != nil {
		t.Fatalf("Dial %s: %v", url, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// recorder reads a client's events in the background and keeps them for the test to wait on.
type recorder struct {
	t    *testing.T
	mu   sync.Mutex
	evs  []client.Event
	done chan struct{}
}

func record(t *testing.T, c *client.Client) *recorder {
	r := &recorder{t: t, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for ev := range c.Events() {
			r.mu.Lock()
			r.evs = append(r.evs, ev)
			r.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = c.Close()
		<-r.done
	})
	return r
}

// wait waits until some event satisfies cond and returns it.
func (r *recorder) wait(what string, cond func(client.Event) bool) client.Event {
	r.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	seen := 0
	for {
		r.mu.Lock()
		for ; seen < len(r.evs); seen++ {
			if cond(r.evs[seen]) {
				ev := r.evs[seen]
				r.mu.Unlock()
				return ev
			}
		}
		r.mu.Unlock()
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// all returns the events so far.
func (r *recorder) all() []client.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]client.Event(nil), r.evs...)
}

// subscribeBooks subscribes c to the depth-10 books of syms, failing t if the request fails.
func subscribeBooks(t *testing.T, c *client.Client, syms ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := c.SubscribeBook(ctx, client.BookOptions{Depth: 10}, syms...); err != nil {
		t.Fatalf("SubscribeBook: %v", err)
	}
}

// waitFor polls cond until it holds or waitTimeout passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testkit.WaitFor(t, waitTimeout, what, cond)
}

// ---- a scripted server for protocol faults ----

// fakeConn is one connection to the fake server.
type fakeConn struct {
	n    int // 0 for the first connection
	at   time.Time
	hdr  http.Header // of the handshake request
	conn *websocket.Conn
	reqs chan map[string]any
}

// send writes one JSON text message.
func (fc *fakeConn) send(_ *testing.T, msg string) {
	_ = fc.conn.WriteMessage(websocket.TextMessage, []byte(msg)) // the client may be gone: the test sees what it got
}

// next returns the next request of the client on this connection; nil (and the test fails) if none comes.
// It runs on the server's goroutines, so it reports with Errorf.
func (fc *fakeConn) next(t *testing.T) map[string]any {
	select {
	case r, ok := <-fc.reqs:
		if !ok {
			t.Errorf("connection %d ended without a request", fc.n)
		}
		return r
	case <-time.After(waitTimeout):
		t.Errorf("no request on connection %d", fc.n)
	}
	return nil
}

// closeWith sends a close frame with code and reason.
func (fc *fakeConn) closeWith(code int, reason string) {
	_ = fc.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
}

// fakeServer runs script for every connection, in the connection's handler goroutine; the connection is
// closed when the script returns and the client has gone.
type fakeServer struct {
	ts    *httptest.Server
	mu    sync.Mutex
	conns []*fakeConn
	wg    sync.WaitGroup
}

func newFakeServer(t *testing.T, script func(fc *fakeConn)) *fakeServer {
	t.Helper()
	fs := &fakeServer{}
	up := websocket.Upgrader{}
	fs.ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fs.wg.Add(1)
		defer fs.wg.Done()
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		fs.mu.Lock()
		fc := &fakeConn{n: len(fs.conns), at: time.Now(), hdr: r.Header.Clone(), conn: conn, reqs: make(chan map[string]any, 64)}
		fs.conns = append(fs.conns, fc)
		fs.mu.Unlock()
		fs.wg.Add(1)
		go func() { // the reader: requests to the script, until the connection ends
			defer fs.wg.Done()
			defer close(fc.reqs)
			for {
				_, data, err := conn.ReadMessage()
				if err != nil {
					return
				}
				var m map[string]any
				if json.Unmarshal(data, &m) == nil {
					fc.reqs <- m
				}
			}
		}()
		script(fc)
		for range fc.reqs { // wait for the client to go
		}
		_ = conn.Close()
	}))
	t.Cleanup(func() {
		fs.ts.CloseClientConnections()
		fs.ts.Close()
		fs.wg.Wait()
	})
	return fs
}

func (fs *fakeServer) url() string { return "ws" + strings.TrimPrefix(fs.ts.URL, "http") }

// count returns the number of connections so far.
func (fs *fakeServer) count() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return len(fs.conns)
}

func (fs *fakeServer) conn(i int) *fakeConn {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.conns[i]
}
