package ingest

import (
	"context"
	"errors"
	"time"

	"github.com/depthcast/depthcast/engine"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// holdWindow is how long a partition reader keeps decoded events while the next record is not there yet (a
// fetch round trip, or transaction markers at the end of the log) before it hands them over: a record that
// arrives alone goes to its writer at once, and a reader catching up hands over whole batches.
const holdWindow = 2 * time.Millisecond

// The fetch span and its attributes. A fetch span covers one run of records a partition reader handed to
// the writers: from the first record read while nothing was held until everything held was handed over,
// or maxSpanRecords records. The writers' apply spans link to it (engine.SpanApply).
const (
	SpanFetch = "ingest.fetch"

	AttrTopic       = "messaging.destination.name"
	AttrPartition   = "messaging.destination.partition.id"
	AttrOffsetFirst = "depthcast.offset.first"
	AttrOffsetLast  = "depthcast.offset.last"
)

const maxSpanRecords = 1024

// handOff is a partition reader's side of the hand-off to the writers: an engine.Batcher, the window
// during which held events wait for the next record, and the fetch span of what it hands over. Only its
// reader goroutine uses it.
type handOff struct {
	b *engine.Batcher

	hold     context.Context // while events are held: ends holdWindow after the first was added
	holdStop context.CancelFunc

	tracer      trace.Tracer // nil: no spans
	topic       string
	partition   int
	ctx         context.Context // the open span's context, passed to the Batcher
	span        trace.Span      // nil when no span is open
	first, last int64
	n           int
	syms        []string
}

func newHandOff(b *engine.Batcher, tracer trace.Tracer, topic string, partition int) *handOff {
	return &handOff{b: b, tracer: tracer, topic: topic, partition: partition}
}

// add hands rec to the batcher, under the open fetch span (opening one if needed). When that leaves
// nothing held (a full batch went, or the record was rejected), the hold window and the fetch span end, as
// after a flush: the next held event starts a window of its own.
func (h *handOff) add(ctx context.Context, rec engine.Record) error {
	if h.tracer != nil {
		if h.span == nil {
			h.ctx, h.span = h.tracer.Start(ctx, SpanFetch, trace.WithSpanKind(trace.SpanKindConsumer))
			h.first, h.n, h.syms = rec.Offset, 0, h.syms[:0]
		}
		h.last = rec.Offset
		h.n++
		if len(h.syms) < engine.MaxSpanSymbols && len(rec.Key) > 0 && !containsKey(h.syms, rec.Key) {
			h.syms = append(h.syms, string(rec.Key))
		}
		ctx = h.ctx
	}
	if err := h.b.Add(ctx, rec); err != nil {
		return err
	}
	if !h.held() {
		h.stopHold()
		h.endSpan(nil)
	} else if h.n >= maxSpanRecords {
		h.endSpan(nil)
	}
	return nil
}

func containsKey(syms []string, key []byte) bool {
	for _, s := range syms {
		if s == string(key) {
			return true
		}
	}
	return false
}

// skip notes a record without an event (a transaction marker) as handled.
func (h *handOff) skip(offset int64) { h.b.Skip(offset) }

// held reports whether events are held.
func (h *handOff) held() bool { return h.b.Held() > 0 }

// next is the offset of the first record not handed over yet.
func (h *handOff) next() int64 { return h.b.Next() }

// flush hands over everything held; once nothing is, the hold window and the fetch span end.
func (h *handOff) flush(ctx context.Context) error {
	if err := h.b.Flush(ctx); err != nil {
		return err
	}
	h.stopHold()
	h.endSpan(nil)
	return nil
}

// holdContext returns the context to fetch the next record with: ctx when nothing is held, otherwise one
// that ends holdWindow after the first held event was added (and with ctx).
func (h *handOff) holdContext(ctx context.Context) context.Context {
	if !h.held() {
		return ctx
	}
	if h.hold == nil {
		h.hold, h.holdStop = context.WithTimeout(ctx, holdWindow)
	}
	return h.hold
}

// holdEnded reports whether a fetch with the hold context failed with err because the window ended, while
// ctx is still running.
func (h *handOff) holdEnded(ctx context.Context, err error) bool {
	return h.hold != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil && h.hold.Err() != nil
}

func (h *handOff) stopHold() {
	if h.hold != nil {
		h.holdStop()
		h.hold, h.holdStop = nil, nil
	}
}

// drop gives back what is still held (lost: the reader is stopping) and ends the span with err.
func (h *handOff) drop(err error) {
	h.b.Drop()
	h.stopHold()
	h.endSpan(err)
}

// endSpan closes the open fetch span, if any, recording err unless it is the reader being stopped.
func (h *handOff) endSpan(err error) {
	if h.span == nil {
		return
	}
	h.span.SetAttributes(
		attribute.String(AttrTopic, h.topic),
		attribute.Int(AttrPartition, h.partition),
		attribute.Int64(AttrOffsetFirst, h.first),
		attribute.Int64(AttrOffsetLast, h.last),
		attribute.Int(engine.AttrRecords, h.n),
		attribute.StringSlice(engine.AttrSymbols, h.syms),
	)
	if err != nil && !errors.Is(err, context.Canceled) {
		h.span.RecordError(err)
		h.span.SetStatus(codes.Error, err.Error())
	}
	h.span.End()
	h.span, h.ctx = nil, nil
}
