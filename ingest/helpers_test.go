package ingest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/depthcast/depthcast/book"
	"github.com/depthcast/depthcast/schema"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// recorder is a Publisher that logs every call as a line, with the book as it was during the call.
type recorder struct {
	mu    sync.Mutex
	lines []string
	// block, when not nil, is received from in PublishBook (to stall a writer).
	block chan struct{}
	// delay, when set, slows every PublishBook down.
	delay time.Duration
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.lines = append(r.lines, s)
	r.mu.Unlock()
}

func (r *recorder) PublishBook(b *book.Book, snapshot bool) {
	if r.block != nil {
		<-r.block
	}
	if r.delay > 0 {
		time.Sleep(r.delay)
	}
	kind := "update"
	if snapshot {
		kind = "snapshot"
	}
	r.add(fmt.Sprintf("%s %s %d %s", kind, b.Symbol(), b.Seq(), bookString(b)))
}

func (r *recorder) PublishTrade(b *book.Book, e *schema.Event) {
	r.add(fmt.Sprintf("trade %s %d %s@%s live=%v", b.Symbol(), e.Seq, e.Size, e.Price, b.Live()))
}

func (r *recorder) PublishStatus(b *book.Book) {
	r.add(fmt.Sprintf("status %s live=%v", b.Symbol(), b.Live()))
}

// Lines returns the calls so far.
func (r *recorder) Lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}

// For returns the calls so far for one symbol.
func (r *recorder) For(symbol string) []string {
	var out []string
	for _, l := range r.Lines() {
		if f := strings.Fields(l); len(f) > 1 && f[1] == symbol {
			out = append(out, l)
		}
	}
	return out
}

// bookString renders a book as "43000.1:2,42999:1|43000.2:1.5" (bids best first | asks best first).
func bookString(b *book.Book) string {
	side := func(s book.Side) string {
		var parts []string
		for _, l := range b.Top(s, 0, nil) {
			parts = append(parts, string(schema.AppendDecimal(nil, l.Price, b.PriceExp()))+":"+
				string(schema.AppendDecimal(nil, l.Size, b.SizeExp())))
		}
		return strings.Join(parts, ",")
	}
	return side(book.Bids) + "|" + side(book.Asks)
}

// Event builders. Levels are "price:size" strings.
func levelsJSON(ls []string) string {
	var parts []string
	for _, l := range ls {
		p, s, _ := strings.Cut(l, ":")
		parts = append(parts, fmt.Sprintf("[%q,%q]", p, s))
	}
	return "[" + strings.Join(parts, ",") + "]"
}

const evTime = "2026-11-24T10:00:00.000000001Z"

func snap(sym string, seq uint64, bids, asks []string) string {
	return fmt.Sprintf(`{"type":"snapshot","symbol":%q,"seq":%d,"time":%q,"bids":%s,"asks":%s}`,
		sym, seq, evTime, levelsJSON(bids), levelsJSON(asks))
}

func delta(sym string, seq uint64, bids, asks []string) string {
	return fmt.Sprintf(`{"type":"delta","symbol":%q,"seq":%d,"time":%q,"bids":%s,"asks":%s}`,
		sym, seq, evTime, levelsJSON(bids), levelsJSON(asks))
}

func trade(sym string, seq uint64, price, size string) string {
	return fmt.Sprintf(`{"type":"trade","symbol":%q,"seq":%d,"time":%q,"price":%q,"size":%q,"side":"buy","trade_id":"t-%d"}`,
		sym, seq, evTime, price, size, seq)
}

func L(ls ...string) []string { return ls }

// metrics collects from an SDK meter provider.
type metrics struct {
	reader *sdkmetric.ManualReader
	mp     *sdkmetric.MeterProvider
}

func newMetrics() *metrics {
	r := sdkmetric.NewManualReader()
	return &metrics{reader: r, mp: sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))}
}

// value returns the sum over the data points of the named instrument whose attributes include attrs
// ("key=value"), or -1 when the instrument has no such point.
func (m *metrics) value(t *testing.T, name string, attrs ...string) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := m.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	match := func(set attribute.Set) bool {
		for _, a := range attrs {
			k, v, _ := strings.Cut(a, "=")
			got, ok := set.Value(attribute.Key(k))
			if !ok || got.String() != v {
				return false
			}
		}
		return true
	}
	total, found := int64(0), false
	for _, sm := range rm.ScopeMetrics {
		for _, mt := range sm.Metrics {
			if mt.Name != name {
				continue
			}
			switch d := mt.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					if match(dp.Attributes) {
						total, found = total+dp.Value, true
					}
				}
			case metricdata.Gauge[int64]:
				for _, dp := range d.DataPoints {
					if match(dp.Attributes) {
						total, found = total+dp.Value, true
					}
				}
			}
		}
	}
	if !found {
		return -1
	}
	return total
}

// equalLines fails t when got and want differ, line by line.
func equalLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\ngot:\n  %s\nwant:\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}
