package ingest

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// TracerName is the instrumentation scope of the ingest spans.
const TracerName = "github.com/depthcast/depthcast/ingest"

// Span names and attributes. A fetch span covers one batch of records a partition reader handed to the
// writers; an apply span covers one drain of a shard's queue and links to the fetch spans of its records.
const (
	SpanFetch = "ingest.fetch"
	SpanApply = "ingest.apply"

	AttrTopic       = "messaging.destination.name"
	AttrPartition   = "messaging.destination.partition.id"
	AttrRecords     = "messaging.batch.message_count"
	AttrOffsetFirst = "depthcast.offset.first"
	AttrOffsetLast  = "depthcast.offset.last"
	AttrSymbols     = "depthcast.symbols"
	AttrShard       = "depthcast.shard"
)

// Batching of spans: a fetch span ends when it holds maxSpanRecords records or when no record arrived
// within spanWindow of its start; an apply span takes at most maxSpanRecords events. A span lists at most
// maxSpanSymbols symbols.
const (
	maxSpanRecords = 1024
	spanWindow     = 20 * time.Millisecond
	maxSpanSymbols = 16
)

func tracerOf(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		return nil
	}
	return tp.Tracer(TracerName)
}

// symbolSet is a small list of distinct symbols, at most maxSpanSymbols.
type symbolSet []string

func (s *symbolSet) addBytes(key []byte) {
	for _, x := range *s {
		if x == string(key) {
			return
		}
	}
	if len(*s) < maxSpanSymbols && len(key) > 0 {
		*s = append(*s, string(key))
	}
}

func (s *symbolSet) add(sym string) {
	for _, x := range *s {
		if x == sym {
			return
		}
	}
	if len(*s) < maxSpanSymbols {
		*s = append(*s, sym)
	}
}

// fetchBatch groups the records one partition reader hands to the pipeline into fetch spans. With a nil
// tracer every method is a no-op and fetch is a plain FetchMessage.
type fetchBatch struct {
	tracer    trace.Tracer
	topic     string
	partition int

	ctx         context.Context // the open span's context, passed to Submit
	span        trace.Span      // nil when no batch is open
	window      context.Context // ends spanWindow after the batch opened
	stop        context.CancelFunc
	first, last int64
	n           int
	syms        symbolSet
}

// fetch returns the reader's next message. While a batch is open it waits only until the batch window
// ends; then it closes the batch and waits as long as ctx allows.
func (b *fetchBatch) fetch(ctx context.Context, r *partitionReader) (kafka.Message, error) {
	if b.span != nil {
		m, err := r.FetchMessage(b.window)
		if err == nil {
			return m, nil
		}
		if ctx.Err() != nil || b.window.Err() == nil { // a real error, or the loop is stopping
			return m, err
		}
		b.end(nil)
	}
	return r.FetchMessage(ctx)
}

// add counts m in the open batch (opening one if needed) and returns the context to submit it with.
func (b *fetchBatch) add(ctx context.Context, m *kafka.Message) context.Context {
	if b.tracer == nil {
		return ctx
	}
	if b.span == nil {
		b.ctx, b.span = b.tracer.Start(ctx, SpanFetch, trace.WithSpanKind(trace.SpanKindConsumer))
		b.window, b.stop = context.WithTimeout(ctx, spanWindow)
		b.first, b.n, b.syms = m.Offset, 0, b.syms[:0]
	}
	b.last = m.Offset
	b.n++
	b.syms.addBytes(m.Key)
	return b.ctx
}

// full ends the batch once it holds maxSpanRecords records.
func (b *fetchBatch) full() {
	if b.span != nil && b.n >= maxSpanRecords {
		b.end(nil)
	}
}

// end closes the open batch, if any, recording err unless it is the loop being stopped.
func (b *fetchBatch) end(err error) {
	if b.span == nil {
		return
	}
	b.span.SetAttributes(
		attribute.String(AttrTopic, b.topic),
		attribute.Int(AttrPartition, b.partition),
		attribute.Int64(AttrOffsetFirst, b.first),
		attribute.Int64(AttrOffsetLast, b.last),
		attribute.Int(AttrRecords, b.n),
		attribute.StringSlice(AttrSymbols, b.syms),
	)
	if err != nil && !errors.Is(err, context.Canceled) {
		b.span.RecordError(err)
		b.span.SetStatus(codes.Error, err.Error())
	}
	b.span.End()
	b.stop()
	b.span, b.ctx, b.window, b.stop = nil, nil, nil, nil
}

// drainTraced handles first and what follows on the shard's queue within spanWindow (up to maxSpanRecords
// events) inside one apply span, linked to the fetch spans the events were submitted under. Each item is
// handled as soon as it arrives; only the span's end waits for the window.
func (s *shard) drainTraced(first *item) {
	idx := 0
	for i, x := range s.p.shards {
		if x == s {
			idx = i
		}
	}
	deadline := time.Now().Add(spanWindow)
	ctx, span := s.p.tracer.Start(context.Background(), SpanApply, trace.WithAttributes(attribute.Int(AttrShard, idx)))
	s.tctx = ctx
	var syms symbolSet
	var last trace.SpanContext
	n := 0
	it := first
	for {
		if it.kind == itemEvent {
			n++
			syms.add(it.ev.Symbol)
			if it.sc.IsValid() && !it.sc.Equal(last) {
				span.AddLink(trace.Link{SpanContext: it.sc})
				last = it.sc
			}
		}
		s.handle(it)
		if n >= maxSpanRecords {
			break
		}
		select {
		case next := <-s.q:
			it = &next
			continue
		default:
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			break
		}
		if s.window == nil {
			s.window = time.NewTimer(wait)
		} else {
			s.window.Reset(wait)
		}
		select {
		case next := <-s.q:
			s.window.Stop()
			it = &next
			continue
		case <-s.window.C:
		case <-s.p.stop:
			s.window.Stop()
		}
		break
	}
	span.SetAttributes(attribute.Int(AttrRecords, n), attribute.StringSlice(AttrSymbols, syms))
	span.End()
	s.tctx = nil
}

// logContext is the context the writer logs with: the apply span's while one is open.
func (s *shard) logContext() context.Context {
	if s.tctx != nil {
		return s.tctx
	}
	return context.Background()
}

// warnContext logs at Warn through the limiter, with ctx (so a trace-aware handler adds the span's ids).
func (l *logLimiter) warnContext(ctx context.Context, log *slog.Logger, msg string, attrs ...slog.Attr) {
	ok, suppressed := l.allow()
	if !ok {
		return
	}
	if suppressed > 0 {
		attrs = append(attrs, slog.Int64("suppressed", suppressed))
	}
	log.LogAttrs(ctx, slog.LevelWarn, msg, attrs...)
}
