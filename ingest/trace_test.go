package ingest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/internal/enginetest"
	"github.com/depthcast/depthcast/internal/testkit"
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
			if a.Key == engine.AttrRecords {
				n = a.Value.AsInt64()
			}
		}
		switch s.Name() {
		case SpanFetch:
			e.fetchSpans++
			e.fetched += n
		case engine.SpanApply:
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

// Ingestion with tracing on and off, through kfake: every record lands in exactly one fetch span and one
// apply span; the times are reported, not asserted (the machine is shared).
func TestTracingCostThroughKafka(t *testing.T) {
	values := enginetest.Stream(20, 250)
	k := newTestCluster(t, 3)
	k.produce(t, values...)
	run := func(tp trace.TracerProvider) time.Duration {
		c := newTestConsumer(t, k, Config{TracerProvider: tp}, &enginetest.Recorder{})
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
