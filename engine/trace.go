package engine

import (
	"context"
	"slices"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// TracerName is the instrumentation scope of the ingestion spans: the apply spans of the writers, and the
// fetch spans of the Kafka consumer.
const TracerName = "github.com/depthcast/depthcast/ingest"

// The apply span and its attributes. An apply span covers one batch a Batcher handed over (or one event
// submitted alone) and links to the span it was handed over under (the consumer's fetch span).
const (
	SpanApply = "ingest.apply"

	AttrRecords = "messaging.batch.message_count"
	AttrSymbols = "depthcast.symbols"
	AttrShard   = "depthcast.shard"
)

// MaxSpanSymbols bounds the symbols a span lists.
const MaxSpanSymbols = 16

func tracerOf(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		return nil
	}
	return tp.Tracer(TracerName)
}

// handleTraced handles an event or a batch inside an apply span linked to the spans its records were
// handed over under.
func (s *shard) handleTraced(it *item) {
	ctx, span := s.p.tracer.Start(context.Background(), SpanApply, trace.WithAttributes(attribute.Int(AttrShard, s.idx)))
	var syms []string
	var last trace.SpanContext
	n := 0
	note := func(sym string, sc trace.SpanContext) {
		n++
		if len(syms) < MaxSpanSymbols && !slices.Contains(syms, sym) {
			syms = append(syms, sym)
		}
		if sc.IsValid() && !sc.Equal(last) {
			span.AddLink(trace.Link{SpanContext: sc})
			last = sc
		}
	}
	if it.kind == itemBatch {
		for i := range it.batch.ents {
			note(it.batch.ents[i].ev.Symbol, it.batch.ents[i].sc)
		}
	} else {
		note(it.ev.Symbol, it.sc)
	}
	s.tctx = ctx
	s.handle(it)
	s.tctx = nil
	span.SetAttributes(attribute.Int(AttrRecords, n), attribute.StringSlice(AttrSymbols, syms))
	span.End()
}

// logContext is the context the writer logs with: the apply span's while one is open.
func (s *shard) logContext() context.Context {
	if s.tctx != nil {
		return s.tctx
	}
	return context.Background()
}
