package feed_test

// The harness of the feed tests: a real feed.Server behind httptest (real TCP), an engine.Pipeline as its
// book writer (Books and Publisher), upstream records submitted as the JSON of docs/protocol.md §1, and
// gorilla/websocket clients that keep their own books and check every book message independently of the
// project's code (their own decimal ordering, their own checksum).

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/depthcast/depthcast/book"
	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/feed"
	"github.com/depthcast/depthcast/ingest"
	"github.com/depthcast/depthcast/internal/testkit"
	"github.com/depthcast/depthcast/schema"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// waitTimeout bounds every wait for something the feed must do. It is generous: the tests run with -race on
// a loaded 2-core machine. A wait returns as soon as its condition holds.
const waitTimeout = 20 * time.Second

// testFeed is one feed under test.
type testFeed struct {
	t       *testing.T
	srv     *feed.Server
	pipe    *engine.Pipeline
	ts      *httptest.Server
	metrics *sdkmetric.ManualReader

	shutdownOnce sync.Once
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newTestFeed starts a feed with cfg (Logger and Meter are set by the harness) and registers its teardown:
// Shutdown, then the timers, the HTTP server and the pipeline.
func newTestFeed(t *testing.T, cfg feed.Config) *testFeed {
	t.Helper()
	f := &testFeed{t: t, metrics: sdkmetric.NewManualReader()}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(f.metrics))
	cfg.Meter = mp.Meter("feedtest")
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	books := &ingest.LateBooks{}
	srv, err := feed.New(cfg, books)
	if err != nil {
		t.Fatalf("feed.New: %v", err)
	}
	pipe, err := engine.New(engine.Config{Shards: 2, Logger: quietLogger()}, srv)
	if err != nil {
		t.Fatalf("ingest.NewPipeline: %v", err)
	}
	books.Set(pipe)
	f.srv, f.pipe = srv, pipe

	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		_ = srv.Run(ctx)
	}()
	f.ts = httptest.NewServer(srv)
	t.Cleanup(func() {
		f.shutdown()
		cancel()
		<-runDone
		f.ts.Close()
		pipe.Close()
		_ = mp.Shutdown(context.Background())
	})
	return f
}

// shutdown shuts the server down once and fails the test if it does not finish in time.
func (f *testFeed) shutdown() {
	f.shutdownOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := f.srv.Shutdown(ctx); err != nil {
			f.t.Errorf("Shutdown: %v", err)
		}
	})
}

func (f *testFeed) wsURL() string { return "ws" + strings.TrimPrefix(f.ts.URL, "http") + "/ws" }

// submit hands upstream records (JSON values, key = their symbol) to the pipeline, in order.
func (f *testFeed) submit(values ...[]byte) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for _, v := range values {
		var k struct{ Symbol string }
		_ = json.Unmarshal(v, &k)
		if err := f.pipe.Submit(ctx, engine.Record{Key: []byte(k.Symbol), Value: v}); err != nil {
			f.t.Fatalf("Submit: %v", err)
		}
	}
}

// flush waits until everything submitted has been applied and published to the feed: whatever the feed
// queued for a connection because of it is then ahead of any reply to a request sent after flush returns.
func (f *testFeed) flush() {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := f.pipe.Flush(ctx); err != nil {
		f.t.Fatalf("Flush: %v", err)
	}
}

// submitAndFlush submits values and waits for them to be published.
func (f *testFeed) submitAndFlush(values ...[]byte) {
	f.t.Helper()
	f.submit(values...)
	f.flush()
}

// pipelineBook returns the pipeline's book of symbol, top n levels per side (0: all), in the checksum
// notation "price:size;…|price:size;…", and its seq.
func (f *testFeed) pipelineBook(symbol string, n int) (string, uint64) {
	f.t.Helper()
	var s string
	var seq uint64
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	err := f.pipe.Do(ctx, symbol, func(b *book.Book) {
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

// counter returns the current value of an Int64 counter of the feed's metrics (summed over attributes).
func (f *testFeed) counter(name string) int64 { return f.metric(name, false) }

// gauge returns the current value of an Int64 gauge of the feed's metrics (summed over attributes).
func (f *testFeed) gauge(name string) int64 { return f.metric(name, true) }

// metric sums the data points of the Int64 counter (or, with gauge, the Int64 gauge) called name.
func (f *testFeed) metric(name string, gauge bool) int64 {
	f.t.Helper()
	var rm metricdata.ResourceMetrics
	if err := f.metrics.Collect(context.Background(), &rm); err != nil {
		f.t.Fatalf("collect metrics: %v", err)
	}
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			var points []metricdata.DataPoint[int64]
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				if !gauge {
					points = d.DataPoints
				}
			case metricdata.Gauge[int64]:
				if gauge {
					points = d.DataPoints
				}
			}
			for _, dp := range points {
				n += dp.Value
			}
		}
	}
	return n
}

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
			f.submit(u.delta(d, nil))
		}
		f.flush()
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
