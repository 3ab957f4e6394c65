package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/depthcast/depthcast/book"
	"github.com/depthcast/depthcast/internal/enginetest"
	"github.com/depthcast/depthcast/internal/testkit"
	"github.com/depthcast/depthcast/schema"
)

func newTestPipeline(t *testing.T, cfg Config, pub Publisher) *Pipeline {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	p, err := New(cfg, pub)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func submitAll(t *testing.T, p *Pipeline, values ...string) {
	t.Helper()
	for i, v := range values {
		if err := p.Submit(context.Background(), Record{Partition: 0, Offset: int64(i), Value: []byte(v)}); err != nil {
			t.Fatalf("submit %d: %v", i, err)
		}
	}
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestPipelineRules(t *testing.T) {
	const X = "BTC-USD"
	tests := []struct {
		name    string
		records []string
		calls   []string
		book    string           // of X, via Do
		counts  map[string]int64 // "metric{attr=value}" -> value
	}{
		{
			name: "snapshot then deltas",
			records: []string{
				enginetest.Snap(X, 100, enginetest.L("43000.1:2", "42999:1"), enginetest.L("43000.2:1.5")),
				enginetest.Delta(X, 101, enginetest.L("43000.1:0"), enginetest.L("43000.3:4")),
				enginetest.Delta(X, 102, enginetest.L("42999.5:3"), nil),
			},
			calls: []string{
				"status BTC-USD live=false",
				"snapshot BTC-USD 100 43000.1:2,42999:1|43000.2:1.5",
				"update BTC-USD 101 42999:1|43000.2:1.5,43000.3:4",
				"update BTC-USD 102 42999.5:3,42999:1|43000.2:1.5,43000.3:4",
			},
			book:   "live=true seq=102 42999.5:3,42999:1|43000.2:1.5,43000.3:4",
			counts: map[string]int64{MetricEvents + "{type=snapshot}": 1, MetricEvents + "{type=delta}": 2, MetricGaps: 0},
		},
		{
			name: "duplicates are skipped",
			records: []string{
				enginetest.Snap(X, 10, enginetest.L("1:1"), enginetest.L("2:1")),
				enginetest.Delta(X, 11, enginetest.L("1:5"), nil),
				enginetest.Delta(X, 11, enginetest.L("1:7"), nil),                 // redelivery
				enginetest.Snap(X, 9, enginetest.L("1.5:1"), enginetest.L("3:1")), // older
				enginetest.Trade(X, 11, "2", "1"),
				enginetest.Delta(X, 12, nil, enginetest.L("2:2")),
			},
			calls: []string{
				"status BTC-USD live=false",
				"snapshot BTC-USD 10 1:1|2:1",
				"update BTC-USD 11 1:5|2:1",
				"update BTC-USD 12 1:5|2:2",
			},
			book:   "live=true seq=12 1:5|2:2",
			counts: map[string]int64{MetricSkipped + "{reason=duplicate}": 3, MetricGaps: 0},
		},
		{
			name: "deltas before the first snapshot are skipped, trades flow",
			records: []string{
				enginetest.Delta(X, 5, enginetest.L("1:1"), nil),
				enginetest.Trade(X, 6, "1.5", "0.1"),
				enginetest.Delta(X, 7, enginetest.L("1:2"), nil),
				enginetest.Snap(X, 8, enginetest.L("1:3"), enginetest.L("2:3")),
				enginetest.Delta(X, 9, enginetest.L("1:4"), nil),
			},
			calls: []string{
				"status BTC-USD live=false",
				"trade BTC-USD 6 0.1@1.5 live=false",
				"snapshot BTC-USD 8 1:3|2:3",
				"update BTC-USD 9 1:4|2:3",
			},
			book:   "live=true seq=9 1:4|2:3",
			counts: map[string]int64{MetricSkipped + "{reason=not_live}": 2, MetricGaps: 0},
		},
		{
			name: "gap makes the book stale until the next snapshot",
			records: []string{
				enginetest.Snap(X, 1, enginetest.L("1:1"), enginetest.L("2:1")),
				enginetest.Delta(X, 3, enginetest.L("1:2"), nil), // gap: 2 missing
				enginetest.Delta(X, 4, enginetest.L("1:3"), nil),
				enginetest.Trade(X, 5, "2", "1"),
				enginetest.Snap(X, 6, enginetest.L("1:9"), enginetest.L("2:9")),
				enginetest.Delta(X, 7, nil, enginetest.L("2:8")),
			},
			calls: []string{
				"status BTC-USD live=false",
				"snapshot BTC-USD 1 1:1|2:1",
				"status BTC-USD live=false",
				"trade BTC-USD 5 1@2 live=false",
				"snapshot BTC-USD 6 1:9|2:9",
				"update BTC-USD 7 1:9|2:8",
			},
			book:   "live=true seq=7 1:9|2:8",
			counts: map[string]int64{MetricGaps: 1, MetricSkipped + "{reason=not_live}": 2},
		},
		{
			name: "gap before a snapshot just applies it",
			records: []string{
				enginetest.Snap(X, 1, enginetest.L("1:1"), enginetest.L("2:1")),
				enginetest.Snap(X, 5, enginetest.L("1:2"), enginetest.L("2:2")),
			},
			calls: []string{
				"status BTC-USD live=false",
				"snapshot BTC-USD 1 1:1|2:1",
				"snapshot BTC-USD 5 1:2|2:2",
			},
			book:   "live=true seq=5 1:2|2:2",
			counts: map[string]int64{MetricGaps: 1},
		},
		{
			name: "malformed records are counted and change nothing",
			records: []string{
				enginetest.Snap(X, 1, enginetest.L("10:1"), enginetest.L("11:1")),
				`{"type":"delta","symbol":"BTC-USD","seq":2,`, // bad JSON
				`{"type":"quote","symbol":"BTC-USD","seq":2,"time":"` + enginetest.EvTime + `"}`,
				enginetest.Delta(X, 2, enginetest.L("-1:1"), nil),                 // negative price
				enginetest.Snap(X, 2, enginetest.L("12:1"), enginetest.L("11:1")), // crossed snapshot
				enginetest.Delta("", 2, enginetest.L("10:2"), nil),                // missing symbol
				``, // empty value
				`{"type":"delta","seq":2,"time":"` + enginetest.EvTime + `","bids":[["10","2"]]}`, // no symbol field
			},
			calls: []string{
				"status BTC-USD live=false",
				"snapshot BTC-USD 1 10:1|11:1",
			},
			book: "live=true seq=1 10:1|11:1",
			counts: map[string]int64{
				MetricRejected + "{reason=bad_json}":   2,
				MetricRejected + "{reason=bad_type}":   1,
				MetricRejected + "{reason=bad_price}":  1,
				MetricRejected + "{reason=crossed}":    1,
				MetricRejected + "{reason=bad_symbol}": 2,
				MetricEvents + "{type=snapshot}":       1,
				MetricEvents + "{type=delta}":          0,
			},
		},
		{
			name: "a record the book refuses does not advance seq",
			records: []string{
				enginetest.Snap(X, 1, enginetest.L("10:1"), enginetest.L("11:1")),
				enginetest.Delta(X, 2, enginetest.L("11.5:1"), nil), // would cross the book
				enginetest.Delta(X, 3, enginetest.L("10:2"), nil),   // shows the gap
				enginetest.Snap(X, 4, enginetest.L("10:3"), enginetest.L("11:3")),
			},
			calls: []string{
				"status BTC-USD live=false",
				"snapshot BTC-USD 1 10:1|11:1",
				"status BTC-USD live=false",
				"snapshot BTC-USD 4 10:3|11:3",
			},
			book: "live=true seq=4 10:3|11:3",
			counts: map[string]int64{
				MetricRejected + "{reason=book_reject}": 1,
				MetricGaps:                              1,
				MetricSkipped + "{reason=not_live}":     1,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testkit.NewMetrics()
			rec := &enginetest.Recorder{}
			var rejected []string
			var mu sync.Mutex
			p := newTestPipeline(t, Config{Shards: 1, QueueSize: 4, Meter: m.Provider.Meter("t"),
				OnReject: func(r Record, reason schema.Reason, err error) {
					mu.Lock()
					rejected = append(rejected, fmt.Sprintf("%d:%s", r.Offset, reason))
					mu.Unlock()
				}}, rec)
			submitAll(t, p, tt.records...)
			testkit.EqualLines(t, "publisher calls", rec.Lines(), tt.calls)
			if got := enginetest.BookOf(p.Do, X); got != tt.book {
				t.Errorf("book = %q, want %q", got, tt.book)
			}
			var nrej int64
			for k, want := range tt.counts {
				name, attr, _ := strings.Cut(strings.TrimSuffix(k, "}"), "{")
				var attrs []string
				if attr != "" {
					attrs = []string{attr}
				}
				if got := m.Value(t, name, attrs...); got != want {
					t.Errorf("%s = %d, want %d", k, got, want)
				}
				if name == MetricRejected {
					nrej += want
				}
			}
			if int64(len(rejected)) != nrej {
				t.Errorf("OnReject calls %v, want %d", rejected, nrej)
			}
		})
	}
}

func TestPipelineSymbolsAndStaleGauge(t *testing.T) {
	m := testkit.NewMetrics()
	p := newTestPipeline(t, Config{Shards: 3, Meter: m.Provider.Meter("t")}, &enginetest.Recorder{})
	submitAll(t, p,
		enginetest.Snap("A", 1, enginetest.L("1:1"), enginetest.L("2:1")),
		enginetest.Snap("B", 1, enginetest.L("1:1"), enginetest.L("2:1")),
		enginetest.Trade("C", 1, "1", "1"),
		enginetest.Delta("A", 3, enginetest.L("1:2"), nil), // gap: A stale
	)
	if known, live := p.Symbols(); known != 3 || live != 1 {
		t.Errorf("Symbols() = %d, %d; want 3, 1", known, live)
	}
	if got := m.Value(t, MetricSymbols); got != 3 {
		t.Errorf("%s = %d, want 3", MetricSymbols, got)
	}
	if got := m.Value(t, MetricStaleBooks); got != 2 {
		t.Errorf("%s = %d, want 2", MetricStaleBooks, got)
	}
}

func TestPipelineDo(t *testing.T) {
	rec := &enginetest.Recorder{}
	p := newTestPipeline(t, Config{Shards: 2}, rec)
	submitAll(t, p, enginetest.Snap("A", 1, enginetest.L("1:1"), enginetest.L("2:1")))

	if err := p.Do(context.Background(), "NOPE", func(*book.Book) { t.Error("fn ran for an unknown symbol") }); !errors.Is(err, ErrUnknownSymbol) {
		t.Errorf("Do(unknown) = %v, want ErrUnknownSymbol", err)
	}
	if got := enginetest.BookOf(p.Do, "A"); got != "live=true seq=1 1:1|2:1" {
		t.Errorf("book = %q", got)
	}

	// A cancelled context stops the wait while the writer is busy.
	rec.Block = make(chan struct{})
	defer func() { close(rec.Block) }()
	if err := p.Submit(context.Background(), Record{Value: []byte(enginetest.Delta("A", 2, enginetest.L("1:2"), nil))}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := p.Do(ctx, "A", func(*book.Book) {}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Do with a busy writer and a short ctx = %v, want DeadlineExceeded", err)
	}
}

func TestPipelineDoSeesEventOrder(t *testing.T) {
	// What fn hands on is ordered with the Publisher calls: it sits between two events.
	rec := &enginetest.Recorder{}
	p := newTestPipeline(t, Config{Shards: 4}, rec)
	ctx := context.Background()
	if err := p.Submit(ctx, Record{Value: []byte(enginetest.Snap("A", 1, enginetest.L("1:1"), enginetest.L("9:1")))}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := uint64(2); i <= 200; i++ {
			if err := p.Submit(ctx, Record{Value: []byte(enginetest.Delta("A", i, enginetest.L(fmt.Sprintf("%d:1", 1+i%7)), nil))}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for range 50 {
		if err := p.Do(ctx, "A", func(b *book.Book) { rec.Add(fmt.Sprintf("do A %d", b.Seq())) }); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	last := uint64(0)
	for _, l := range rec.For("A") {
		var kind string
		var seq uint64
		if _, err := fmt.Sscanf(l, "%s A %d", &kind, &seq); err != nil || kind == "status" {
			continue
		}
		if kind == "do" && seq != last {
			t.Fatalf("Do saw seq %d right after publish of %d", seq, last)
		}
		last = seq
	}
	if last != 200 {
		t.Errorf("last seq %d, want 200", last)
	}
}

func TestPipelineBackpressure(t *testing.T) {
	rec := &enginetest.Recorder{Block: make(chan struct{})}
	p := newTestPipeline(t, Config{Shards: 1, QueueSize: 2}, rec)
	ctx := context.Background()
	// The writer takes the snapshot and blocks in PublishBook; two more fill the queue; the fourth blocks.
	vals := []string{enginetest.Snap("A", 1, enginetest.L("1:1"), enginetest.L("9:1")), enginetest.Delta("A", 2, enginetest.L("2:1"), nil), enginetest.Delta("A", 3, enginetest.L("3:1"), nil)}
	for _, v := range vals {
		if err := p.Submit(ctx, Record{Value: []byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
	testkit.WaitFor(t, time.Second, "queue drained to 2", func() bool { return len(p.shards[0].q) == 2 })
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := p.Submit(short, Record{Value: []byte(enginetest.Delta("A", 4, enginetest.L("4:1"), nil))}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Submit into a full queue = %v, want it to block until the deadline", err)
	}
	close(rec.Block)
	if err := p.Submit(ctx, Record{Value: []byte(enginetest.Delta("A", 4, enginetest.L("4:1"), nil))}); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := enginetest.BookOf(p.Do, "A"); got != "live=true seq=4 4:1,3:1,2:1,1:1|9:1" {
		t.Errorf("book = %q", got)
	}
}

func TestPipelineClose(t *testing.T) {
	rec := &enginetest.Recorder{}
	p, err := New(Config{Shards: 2, Logger: slog.New(slog.DiscardHandler)}, rec)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := uint64(1); i <= 100; i++ {
		if err := p.Submit(ctx, Record{Value: []byte(enginetest.Trade("A", i, "1", "1"))}); err != nil {
			t.Fatal(err)
		}
	}
	p.Close()
	p.Close() // idempotent
	if n := len(rec.For("A")); n != 101 {
		t.Errorf("after Close %d calls for A, want 101 (queued events are drained)", n)
	}
	if err := p.Submit(ctx, Record{Value: []byte(enginetest.Trade("A", 101, "1", "1"))}); !errors.Is(err, ErrClosed) {
		t.Errorf("Submit after Close = %v", err)
	}
	if err := p.Do(ctx, "A", func(*book.Book) {}); !errors.Is(err, ErrClosed) {
		t.Errorf("Do after Close = %v", err)
	}
	if err := p.Flush(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Flush after Close = %v", err)
	}
}

func TestPipelineManySymbolsConcurrently(t *testing.T) {
	// Several submitters (like partition readers), each owning a set of symbols, under -race.
	rec := &enginetest.Recorder{}
	p := newTestPipeline(t, Config{Shards: 4, QueueSize: 8}, rec)
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			for s := range 5 {
				sym := fmt.Sprintf("S%d-%d", w, s)
				_ = p.Submit(ctx, Record{Value: []byte(enginetest.Snap(sym, 1, enginetest.L("10:1"), enginetest.L("20:1")))})
			}
			for i := uint64(2); i <= 60; i++ {
				for s := range 5 {
					sym := fmt.Sprintf("S%d-%d", w, s)
					_ = p.Submit(ctx, Record{Value: []byte(enginetest.Delta(sym, i, enginetest.L(fmt.Sprintf("10:%d", i)), nil))})
				}
			}
		})
	}
	wg.Wait()
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for w := range 3 {
		for s := range 5 {
			sym := fmt.Sprintf("S%d-%d", w, s)
			if got, want := enginetest.BookOf(p.Do, sym), "live=true seq=60 10:60|20:1"; got != want {
				t.Errorf("%s: %q, want %q", sym, got, want)
			}
			calls := rec.For(sym)
			if len(calls) != 61 {
				t.Errorf("%s: %d calls, want 61", sym, len(calls))
			}
			for i, c := range calls[1:] {
				if !strings.Contains(c, fmt.Sprintf(" %s %d ", sym, i+1)) {
					t.Errorf("%s: call %d out of order: %s", sym, i+1, c)
					break
				}
			}
		}
	}
}

func TestRejectLogsAreRateLimited(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	h := slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, nil)
	p := newTestPipeline(t, Config{Shards: 1, Logger: slog.New(h)}, &enginetest.Recorder{})
	for i := range 1000 {
		if err := p.Submit(context.Background(), Record{Partition: 2, Offset: int64(i), Value: []byte("garbage")}); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	n := strings.Count(out, "record rejected")
	if n == 0 || n > 50 {
		t.Errorf("%d warning lines for 1000 bad records, want 1..50", n)
	}
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "partition=2") || !strings.Contains(out, "offset=0") || !strings.Contains(out, "reason=bad_json") {
		t.Errorf("warning lacks level, partition, offset or reason:\n%s", out)
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		cfg Config
		ok  bool
	}{
		{Config{}, true},
		{Config{Shards: 1, QueueSize: 1}, true},
		{Config{Shards: -1}, false},
		{Config{QueueSize: -5}, false},
		{Config{Shards: 100000}, false},
	}
	for _, tt := range tests {
		if err := tt.cfg.Validate(); (err == nil) != tt.ok {
			t.Errorf("%+v: Validate() = %v, want ok=%v", tt.cfg, err, tt.ok)
		}
	}
	if _, err := New(Config{}, nil); err == nil {
		t.Error("NewPipeline with a nil Publisher succeeded")
	}
}

// timeRecorder keeps the time of every trade it is given.
type timeRecorder struct {
	enginetest.Discard
	mu    sync.Mutex
	times []string
}

func (r *timeRecorder) PublishTrade(_ *book.Book, e *schema.Event) {
	r.mu.Lock()
	r.times = append(r.times, e.Time)
	r.mu.Unlock()
}

func TestSubmitEventTimes(t *testing.T) {
	// Submit reuses the previous event's time string when the next one carries the same time: every event
	// must still get its own time, whatever came before it (a different time, a rejected record).
	rec := &timeRecorder{}
	p, err := New(Config{Shards: 1}, rec)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	tr := func(seq uint64, tm string) string {
		return fmt.Sprintf(`{"type":"trade","symbol":"BTC-USD","seq":%d,"time":%q,"price":"1","size":"1","side":"buy"}`, seq, tm)
	}
	in := []string{
		tr(1, "2026-01-02T03:04:05.5Z"),
		tr(2, "2026-01-02T03:04:05.500Z"), // the same time in another form
		tr(3, "2026-01-02T03:04:06Z"),
		`{"type":"trade","symbol":"BTC-USD","seq":4,"time":"yesterday","price":"1","size":"1","side":"buy"}`,
		tr(5, "2026-01-02T03:04:06Z"),
		tr(6, "2026-01-02T03:04:05.5Z"),
	}
	want := []string{"2026-01-02T03:04:05.5Z", "2026-01-02T03:04:05.5Z", "2026-01-02T03:04:06Z",
		"2026-01-02T03:04:06Z", "2026-01-02T03:04:05.5Z"}
	ctx := context.Background()
	for _, v := range in {
		if err := p.Submit(ctx, Record{Value: []byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if !slices.Equal(rec.times, want) {
		t.Errorf("times %q, want %q", rec.times, want)
	}
}

// TestDoAbandonedNeverRuns: when Do returns ctx's error because the writer was busy, fn must never run later,
// so nothing fn touches can race with the caller that has moved on. Run with -race.
func TestDoAbandonedNeverRuns(t *testing.T) {
	p := newTestPipeline(t, Config{Shards: 1}, &enginetest.Recorder{})
	ctx := context.Background()
	snap := `{"type":"snapshot","symbol":"BTC-USD","seq":1,"time":"2026-11-24T10:00:00Z","bids":[["1","1"]],"asks":[["2","1"]]}`
	if err := p.Submit(ctx, Record{Value: []byte(snap)}); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	release, busy := make(chan struct{}), make(chan struct{})
	firstDone := make(chan error, 1)
	go func() {
		firstDone <- p.Do(ctx, "BTC-USD", func(*book.Book) { close(busy); <-release })
	}()
	<-busy
	shared := 0 // owned by this goroutine once Do has returned an error
	tctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	err := p.Do(tctx, "BTC-USD", func(*book.Book) { shared++ })
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Do with a busy writer = %v, want context.DeadlineExceeded", err)
	}
	shared = 100 // the caller moved on and uses what fn would have touched
	close(release)
	if err := <-firstDone; err != nil {
		t.Fatal(err)
	}
	if err := p.Do(ctx, "BTC-USD", func(*book.Book) {}); err != nil { // the writer has passed the abandoned item
		t.Fatal(err)
	}
	if shared != 100 {
		t.Fatalf("abandoned fn ran after Do returned an error (shared=%d)", shared)
	}
}
