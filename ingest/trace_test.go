package ingest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/depthcast/depthcast/internal/testkit"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// countingExporter counts the records in the ingest spans it receives.
type countingExporter struct {
	mu                  sync.Mutex
	fetchSpans, fetched int64
	applySpans, applied int64
	linked              int64
}

func (e *countingExporter) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range spans {
		var n int64
		for _, a := range s.Attributes() {
			if a.Key == AttrRecords {
				n = a.Value.AsInt64()
			}
		}
		switch s.Name() {
		case SpanFetch:
			e.fetchSpans++
			e.fetched += n
		case SpanApply:
			e.applySpans++
			e.applied += n
			e.linked += int64(len(s.Links()))
		}
	}
	return nil
}

func (e *countingExporter) Shutdown(context.Context) error { return nil }

func (e *countingExporter) counts() (fetched, applied, fetchSpans, applySpans int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.fetched, e.applied, e.fetchSpans, e.applySpans
}

func manyEvents(symbols, perSymbol int) []string {
	var out []string
	for s := range symbols {
		sym := fmt.Sprintf("S%02d-USD", s)
		out = append(out, snap(sym, 1, L("100:1", "99:1"), L("101:1", "102:1")))
		for i := 2; i <= perSymbol; i++ {
			out = append(out, delta(sym, uint64(i), L(fmt.Sprintf("99:%d", i)), nil))
		}
	}
	return out
}

// Ingestion with tracing on and off, through kfake: every record lands in exactly one fetch span and one
// apply span; the times are reported, not asserted (the machine is shared).
func TestTracingCostThroughKafka(t *testing.T) {
	values := manyEvents(20, 250)
	k := newTestCluster(t, 3)
	k.produce(t, values...)
	run := func(tp trace.TracerProvider) time.Duration {
		c := newTestConsumer(t, k, Config{TracerProvider: tp}, &recorder{})
		start := time.Now()
		stop := runConsumer(t, c)
		testkit.WaitFor(t, 30*time.Second, "caught up", c.Ready)
		d := time.Since(start)
		stop()
		return d
	}
	off := run(nil)
	exp := &countingExporter{}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp))
	on := run(tp)
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	fetched, applied, fetchSpans, applySpans := exp.counts()
	if fetched != int64(len(values)) || applied != int64(len(values)) {
		t.Errorf("fetch spans hold %d records, apply spans %d events, want %d each", fetched, applied, len(values))
	}
	if fetchSpans > int64(len(values))/4 {
		t.Errorf("%d fetch spans for %d records: spans are not per batch", fetchSpans, len(values))
	}
	t.Logf("%d records: tracing off %v, on %v (%d fetch spans, %d apply spans)", len(values), off.Round(time.Millisecond),
		on.Round(time.Millisecond), fetchSpans, applySpans)
}

// BenchmarkPipelineTracing compares the writers with tracing off (no provider), and on with every span
// sampled and exported to a counter. Compare the two within one run.
func BenchmarkPipelineTracing(b *testing.B) {
	values := manyEvents(8, 512)
	for _, tc := range []struct {
		name string
		tp   func() (trace.TracerProvider, func())
	}{
		{"off", func() (trace.TracerProvider, func()) { return nil, func() {} }},
		{"on", func() (trace.TracerProvider, func()) {
			tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(&countingExporter{}))
			return tp, func() { _ = tp.Shutdown(context.Background()) }
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			tp, done := tc.tp()
			defer done()
			p, err := NewPipeline(PipelineConfig{Shards: 2, TracerProvider: tp}, nopPublisher{})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			ctx := context.Background()
			tracer := tracerOf(tp)
			var off atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				// One "fetch batch" of 512 records per 512 iterations, as the partition readers do.
				sctx := ctx
				var span trace.Span
				if tracer != nil && i%512 == 0 {
					sctx, span = tracer.Start(ctx, SpanFetch, trace.WithAttributes(attribute.Int(AttrPartition, 0)))
				}
				v := values[i%len(values)]
				if err := p.Submit(sctx, Record{Offset: off.Add(1), Value: []byte(v)}); err != nil {
					b.Fatal(err)
				}
				if span != nil {
					span.End()
				}
			}
			_ = p.Flush(ctx)
		})
	}
}
