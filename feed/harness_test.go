package feed_test

// The harness of the feed tests: a real node (node/nodetest: the feed, its Hub, and books the test feeds
// through the engine) over real TCP, upstream records submitted as the JSON of docs/protocol.md §1, and
// gorilla/websocket clients that keep their own books and check every book message independently of the
// project's code (their own decimal ordering, their own checksum).

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/depthcast/depthcast/book"
	"github.com/depthcast/depthcast/feed"
	"github.com/depthcast/depthcast/internal/testkit"
	"github.com/depthcast/depthcast/node"
	"github.com/depthcast/depthcast/node/nodetest"
	"github.com/depthcast/depthcast/schema"
)

// waitTimeout bounds every wait for something the feed must do. It is generous: the tests run with -race on
// a loaded 2-core machine. A wait returns as soon as its condition holds.
const waitTimeout = nodetest.WaitTimeout

// testFeed is one feed under test: a node (node/nodetest) whose books the test feeds, served over TCP,
// its metrics read by the test.
type testFeed struct {
	*nodetest.Node
	t       *testing.T
	srv     *feed.Server
	metrics *testkit.Metrics
}

func quietLogger() *slog.Logger { return nodetest.QuietLogger() }

// newTestFeed starts a node with the feed config cfg and registers its teardown. HTTP connections are not
// capped per IP (the feed's own limits are under test).
func newTestFeed(t *testing.T, cfg feed.Config) *testFeed {
	t.Helper()
	return newTestFeedHub(t, cfg, feed.HubConfig{})
}

// newTestFeedHub is newTestFeed with the config of the feed's Hub.
func newTestFeedHub(t *testing.T, cfg feed.Config, hcfg feed.HubConfig) *testFeed {
	t.Helper()
	m := testkit.NewMetrics()
	t.Cleanup(func() { _ = m.Provider.Shutdown(context.Background()) })
	n := nodetest.Start(t, node.Config{Feed: cfg, Hub: hcfg, MeterProvider: m.Provider, MaxHTTPConnectionsPerIP: -1})
	return &testFeed{Node: n, t: t, srv: n.Feed(), metrics: m}
}

func (f *testFeed) wsURL() string { return f.URL("ws", "/ws") }

// httpURL is the feed's base URL, http://addr.
func (f *testFeed) httpURL() string { return f.URL("http", "") }

// submitAndFlush submits values and waits for them to be published.
func (f *testFeed) submitAndFlush(values ...[]byte) {
	f.t.Helper()
	f.Submit(values...)
	f.Flush()
}

// pipelineBook returns the pipeline's book of symbol, top n levels per side (0: all), in the checksum
// notation "price:size;…|price:size;…", and its seq.
func (f *testFeed) pipelineBook(symbol string, n int) (string, uint64) {
	f.t.Helper()
	var s string
	var seq uint64
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	err := f.Books.Do(ctx, symbol, func(b *book.Book) {
		var sb strings.Builder
		for i, side := range []book.Side{book.Bids, book.Asks} {
			if i == 1 {
				sb.WriteByte('|')
			}
			for _, l := range b.Top(side, n, nil) {
				fmt.Fprintf(&sb, "%s:%s;", schema.AppendDecimal(nil, l.Price, b.PriceExp()), schema.AppendDecimal(nil, l.Size, b.SizeExp()))
			}
		}
		s, seq = sb.String(), b.Seq()
	})
	if err != nil {
		f.t.Fatalf("pipeline Do %s: %v", symbol, err)
	}
	return s, seq
}

// metric returns the current value of an Int64 counter or gauge of the feed's metrics (summed over
// attributes), 0 before it has one.
func (f *testFeed) metric(name string) int64 { return max(0, f.metrics.Value(f.t, name)) }

// wideDeltasUntil submits rounds of 100 wide deltas of u (20 levels with new sizes each, about 500 bytes a
// message) until closed reports the slow consumer the test waits for: more than a stalled client's socket
// buffers and send queue hold. After each round it runs afterRound, when not nil. It returns how many deltas
// it submitted, so that later sizes can go on from there.
func (f *testFeed) wideDeltasUntil(t *testing.T, u *upstream, closed func() bool, afterRound func()) int {
	t.Helper()
	n := 0
	deadline := time.Now().Add(60 * time.Second)
	for !closed() {
		if time.Now().After(deadline) {
			t.Fatalf("the slow client was not closed after %d deltas", u.seq-1)
		}
		for range 100 {
			n++
			var d []lv
			for i := range 20 {
				d = append(d, lv{fmt.Sprintf("%d.12", 43000-i), fmt.Sprintf("%d.%03d", n, i+1)})
			}
			f.Submit(u.delta(d, nil))
		}
		f.Flush()
		if afterRound != nil {
			afterRound()
		}
	}
	return n
}

// waitFor polls cond until it holds or waitTimeout passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testkit.WaitFor(t, waitTimeout, what, cond)
}

// ---- upstream events ----

// upstream writes the events of one symbol with consecutive seqs, as a gateway does (docs/protocol.md §1).
type upstream struct {
	symbol string
	seq    uint64
	t0     time.Time
}

func newUpstream(symbol string) *upstream {
	return &upstream{symbol: symbol, t0: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}
}

type lv = [2]string // one level: price, size

func (u *upstream) event(fields map[string]any) []byte {
	u.seq++
	fields["symbol"] = u.symbol
	fields["seq"] = u.seq
	fields["time"] = u.t0.Add(time.Duration(u.seq) * time.Millisecond).Format(time.RFC3339Nano)
	b, err := json.Marshal(fields)
	if err != nil {
		panic(err)
	}
	return b
}

func levels(ls []lv) [][2]string {
	if ls == nil {
		return [][2]string{}
	}
	return ls
}

func (u *upstream) snapshot(bids, asks []lv) []byte {
	return u.event(map[string]any{"type": "snapshot", "bids": levels(bids), "asks": levels(asks)})
}

func (u *upstream) delta(bids, asks []lv) []byte {
	return u.event(map[string]any{"type": "delta", "bids": levels(bids), "asks": levels(asks)})
}

func (u *upstream) trade(price, size, side, id string) []byte {
	return u.event(map[string]any{"type": "trade", "price": price, "size": size, "side": side, "trade_id": id})
}

// skip loses the next n seqs: the next event shows a gap.
func (u *upstream) skip(n uint64) { u.seq += n }
