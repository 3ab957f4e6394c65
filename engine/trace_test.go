package engine

import (
	"context"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"sync/atomic"
	"testing"

	"github.com/depthcast/depthcast/internal/enginetest"
	"go.opentelemetry.io/otel/trace"
)

// discardExporter takes spans and keeps nothing.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

// BenchmarkPipelineTracing compares the writers with tracing off (no provider), and on with every span
// sampled and exported to a counter. Compare the two within one run.
func BenchmarkPipelineTracing(b *testing.B) {
	values := enginetest.Stream(8, 512)
	for _, tc := range []struct {
		name string
		tp   func() (trace.TracerProvider, func())
	}{
		{"off", func() (trace.TracerProvider, func()) { return nil, func() {} }},
		{"on", func() (trace.TracerProvider, func()) {
			tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(discardExporter{}))
			return tp, func() { _ = tp.Shutdown(context.Background()) }
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			tp, done := tc.tp()
			defer done()
			p, err := New(Config{Shards: 2, TracerProvider: tp}, enginetest.Discard{})
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
					sctx, span = tracer.Start(ctx, "fetch")
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
