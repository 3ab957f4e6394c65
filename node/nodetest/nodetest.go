// Package nodetest starts depthcast nodes for tests, in the spirit of net/http/httptest: a real node
// (node.New, the one way a node is wired) listening on a loopback port, stopped at the test's end. A node's
// books are read from Kafka when the config names brokers, or from its Input when it has one; otherwise the
// test feeds them itself with Submit and Flush, straight into the engine. Only tests import it.
//
// A Node's methods run on the test's goroutine; Stop may be called more than once.
package nodetest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/node"
)

// WaitTimeout bounds every wait of the harness: generous, for -race on a loaded 2-core machine. A wait ends
// as soon as its condition holds.
const WaitTimeout = 20 * time.Second

// Node is a running node under test.
type Node struct {
	*node.Node
	t testing.TB
	// Books are the node's books when the test feeds them (Submit, Flush); nil when it reads an input.
	Books *engine.Pipeline

	mu      sync.Mutex
	extra   []*http.Server
	stopped bool
	done    chan error
}

// QuietLogger discards every log line.
func QuietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Start runs a node with cfg until the test ends. Listen defaults to 127.0.0.1:0; a fixed address is
// retried while a node just stopped still holds it. Logger defaults to QuietLogger. Without brokers in
// cfg.Ingest and without cfg.Input, the books are fed by the test through Submit (an engine.Pipeline of two
// shards publishing to the node's Hub).
func Start(t testing.TB, cfg node.Config) *Node {
	t.Helper()
	n := &Node{t: t, done: make(chan error, 1)}
	if cfg.Logger == nil {
		cfg.Logger = QuietLogger()
	}
	if cfg.Input == nil && len(cfg.Ingest.Brokers) == 0 {
		cfg.Input = func(pub engine.Publisher) (node.Input, error) {
			p, err := engine.New(engine.Config{Shards: 2, Logger: cfg.Logger}, pub)
			if err != nil {
				return nil, err
			}
			n.Books = p
			return p, nil
		}
	}
	if cfg.Listener == nil {
		addr := cfg.Listen
		if addr == "" {
			addr = "127.0.0.1:0"
		}
		cfg.Listener = listen(t, addr)
	}
	nd, err := node.New(cfg)
	if err != nil {
		_ = cfg.Listener.Close()
		t.Fatalf("node.New: %v", err)
	}
	n.Node = nd
	go func() { n.done <- nd.Run(context.Background()) }()
	select {
	case <-nd.Started():
	case err := <-n.done:
		t.Fatalf("node did not start: %v", err)
	}
	t.Cleanup(n.Stop)
	return n
}

// listen listens on addr, retrying while the port is still held (a node just stopped on it).
func listen(t testing.TB, addr string) net.Listener {
	t.Helper()
	deadline := time.Now().Add(WaitTimeout)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			return ln
		}
		if time.Now().After(deadline) {
			t.Fatalf("listen %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop stops the node: its clients get 1001, then its listeners and its input stop. It fails the test if
// Run returned an error.
func (n *Node) Stop() {
	n.mu.Lock()
	if n.stopped {
		n.mu.Unlock()
		return
	}
	n.stopped = true
	extra := n.extra
	n.mu.Unlock()
	_ = n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), WaitTimeout)
	defer cancel()
	for _, hs := range extra {
		_ = hs.Shutdown(ctx)
	}
	if err := <-n.done; err != nil {
		n.t.Errorf("node Run: %v", err)
	}
}

// Listen serves the node on one more address (a port another node just gave up, say) until Stop, and
// returns that address.
func (n *Node) Listen(addr string) string {
	n.t.Helper()
	ln := listen(n.t, addr)
	hs := &http.Server{Handler: n.Feed(), ReadHeaderTimeout: WaitTimeout}
	n.mu.Lock()
	n.extra = append(n.extra, hs)
	n.mu.Unlock()
	go func() { _ = hs.Serve(ln) }()
	return ln.Addr().String()
}

// URL returns scheme://addr+path for the node's address ("ws", "/ws" gives the feed's WebSocket URL).
func (n *Node) URL(scheme, path string) string {
	if n.TLS() {
		scheme += "s"
	}
	return scheme + "://" + n.Addr() + path
}

// Submit hands upstream records (JSON values) to the node's books in order, keyed by their symbol.
func (n *Node) Submit(values ...[]byte) {
	n.t.Helper()
	recs := make([]engine.Record, len(values))
	for i, v := range values {
		recs[i] = engine.Record{Key: []byte(symbolOf(v)), Value: v}
	}
	n.SubmitRecords(recs...)
}

// SubmitRecords hands records to the node's books in order.
func (n *Node) SubmitRecords(recs ...engine.Record) {
	n.t.Helper()
	if n.Books == nil {
		n.t.Fatal("Submit on a node that reads its own input")
	}
	ctx, cancel := context.WithTimeout(context.Background(), WaitTimeout)
	defer cancel()
	for _, r := range recs {
		if err := n.Books.Submit(ctx, r); err != nil {
			n.t.Fatalf("Submit: %v", err)
		}
	}
}

// Flush waits until everything submitted has been applied and published: whatever the feed queued for a
// connection because of it is then ahead of any reply to a request sent after Flush returns.
func (n *Node) Flush() {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), WaitTimeout)
	defer cancel()
	if err := n.Books.Flush(ctx); err != nil {
		n.t.Fatalf("Flush: %v", err)
	}
}

// symbolOf returns the symbol of a record's JSON, the key a gateway would give it ("" when it has none).
func symbolOf(v []byte) string {
	var k struct{ Symbol string }
	_ = json.Unmarshal(v, &k)
	return k.Symbol
}

// Get sends GET path to the node and returns the status and body. It fails the test on a transport error.
func (n *Node) Get(path string) (int, string) {
	n.t.Helper()
	cl := &http.Client{Timeout: WaitTimeout, Transport: &http.Transport{}}
	defer cl.CloseIdleConnections()
	resp, err := cl.Get(n.URL("http", path))
	if err != nil {
		n.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		n.t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(b)
}

// T is the test the node belongs to.
func (n *Node) T() testing.TB { return n.t }

// String names the node in test output.
func (n *Node) String() string { return fmt.Sprintf("node at %s", n.Addr()) }
