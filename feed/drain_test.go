package feed_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/depthcast/depthcast/feed"
	"github.com/gorilla/websocket"
)

// backlog makes BTC-USD live with 200 levels a side and returns deltas that each move 100 of them, about
// 3.5 KB per update: n of them queue far more than the socket buffers hold for a client that does not read.
func backlog(u *upstream, n int) (snapshot []byte, deltas [][]byte) {
	var bids, asks []lv
	for i := range 200 {
		bids = append(bids, lv{fmt.Sprintf("%d.123456789", 1000-i), "1"})
		asks = append(asks, lv{fmt.Sprintf("%d.123456789", 1001+i), "1"})
	}
	snapshot = u.snapshot(bids, asks)
	// The deltas are written by hand: encoding/json on maps is slow under -race.
	for k := range n {
		u.seq++
		b := fmt.Appendf(nil, `{"type":"delta","symbol":%q,"seq":%d,"time":%q,"asks":[],"bids":[`, u.symbol, u.seq,
			u.t0.Add(time.Duration(u.seq)*time.Millisecond).Format(time.RFC3339Nano))
		for i := range 100 {
			if i > 0 {
				b = append(b, ',')
			}
			b = fmt.Appendf(b, `["%d.123456789","%d.000000001"]`, 1000-i, k%7+2)
		}
		deltas = append(deltas, append(b, "]}"...))
	}
	return snapshot, deltas
}

func readyz(t *testing.T, f *testFeed) int {
	t.Helper()
	cl := &http.Client{Timeout: waitTimeout, Transport: &http.Transport{}}
	defer cl.CloseIdleConnections()
	resp, err := cl.Get(f.httpURL() + "/readyz")
	if err != nil {
		t.Fatalf("GET /readyz: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// Shutdown drains: while it runs, /readyz and new handshakes get 503; a client with megabytes queued still
// receives every update, in order and with matching checksums, and then the 1001 "server draining".
func TestShutdownDrainsQueuedData(t *testing.T) {
	f := newTestFeed(t, feed.Config{SendQueueBytes: 64 << 20, DrainTimeout: waitTimeout})
	u := newUpstream("BTC-USD")
	snap, deltas := backlog(u, 1200)
	f.submitAndFlush(snap)
	if code := readyz(t, f); code != http.StatusOK {
		t.Fatalf("/readyz before Shutdown: %d", code)
	}
	c := f.dial()
	c.subscribe(1, "book", []string{"BTC-USD"}, "")
	c.mustApply(c.expect("snapshot"))
	f.submitAndFlush(deltas...) // the client reads none of it yet

	done := make(chan error, 1)
	start := time.Now()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
		defer cancel()
		done <- f.srv.Shutdown(ctx)
	}()
	waitFor(t, "/readyz to answer 503", func() bool { return readyz(t, f) == http.StatusServiceUnavailable })
	_, resp, err := dialer().Dial(f.wsURL(), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("handshake during the drain: err %v, response %v, want HTTP 503", err, resp)
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) before the client read its queue", err)
	default:
	}

	var ce *websocket.CloseError
	for ce == nil {
		m, err := c.recv()
		switch {
		case errors.As(err, &ce):
		case err != nil:
			t.Fatalf("after %d updates: %v", c.books["BTC-USD"].updates, err)
		case m.isBook():
			c.mustApply(m)
		case m.Type != "heartbeat":
			t.Fatalf("unexpected %s", m)
		}
	}
	_ = c.conn.Close()
	if ce.Code != 1001 || ce.Text != "server draining" {
		t.Errorf("closed with %d %q, want 1001 \"server draining\"", ce.Code, ce.Text)
	}
	cb := c.book("BTC-USD")
	want, seq := f.pipelineBook("BTC-USD", 0)
	if cb.updates != len(deltas) || cb.lastSeq != seq || cb.book.top(0) != want {
		t.Errorf("client got %d updates up to seq %d, want %d up to %d; book equal: %v", cb.updates, cb.lastSeq, len(deltas), seq, cb.book.top(0) == want)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	t.Logf("drained %d updates in %v", cb.updates, time.Since(start).Round(time.Millisecond))
}

// A client that does not read does not hold Shutdown past DrainTimeout; a client that reads meanwhile
// still gets its 1001.
func TestShutdownDropsStalledClientAfterDrainTimeout(t *testing.T) {
	const drain = time.Second
	f := newTestFeed(t, feed.Config{SendQueueBytes: 64 << 20, DrainTimeout: drain})
	u := newUpstream("BTC-USD")
	snap, deltas := backlog(u, 1200)
	f.submitAndFlush(snap)
	stalled := f.dial()
	stalled.subscribe(1, "book", []string{"BTC-USD"}, "")
	reader := f.dial()
	reader.subscribe(1, "book", []string{"BTC-USD"}, "")
	readerDone := make(chan *websocket.CloseError, 1)
	go func() {
		for {
			_, err := reader.recv()
			if err != nil {
				var ce *websocket.CloseError
				errors.As(err, &ce)
				_ = reader.conn.Close()
				readerDone <- ce
				return
			}
		}
	}()
	f.submitAndFlush(deltas...)

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := f.srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	took := time.Since(start)
	if took > drain+2*time.Second {
		t.Errorf("Shutdown took %v with a stalled client, DrainTimeout %v", took, drain)
	}
	select {
	case ce := <-readerDone:
		if ce == nil || ce.Code != 1001 {
			t.Errorf("reading client ended with %v, want 1001", ce)
		}
	case <-time.After(waitTimeout):
		t.Error("reading client not closed")
	}
	// The stalled client finds its connection gone once it reads again (no close frame: it never took its data).
	for {
		if _, err := stalled.recv(); err != nil {
			break
		}
	}
	t.Logf("Shutdown with a stalled client took %v (DrainTimeout %v)", took.Round(time.Millisecond), drain)
}
