package engine

import (
	"context"

	"github.com/depthcast/depthcast/schema"
	"go.opentelemetry.io/otel/trace"
)

// Hand-off in batches. A Batcher's owner (a Kafka partition reader) does not queue each event on its shard
// by itself: the Batcher decodes the record and appends the event to a batch it holds for that shard, and
// queues the batch, one channel operation for up to batchMax events. The owner decides when the held
// batches go (Flush): the Kafka consumer hands them over as soon as the broker has nothing more past them,
// before it waits for readiness, and when it has held events for a short window while the next record is
// not there yet. A full batch goes at once.
//
// The batch buffers of a shard are bounded: a shard has at least two, of up to batchMax events each and
// QueueSize events in all (two when QueueSize is 1), taken from its free list by the Batchers and given
// back by the writer once it has applied their events. A Batcher that finds none free waits, as Submit
// waits for room in a full queue.
const batchMax = 128

// batchEntry is one decoded event of a batch and the record it came from.
type batchEntry struct {
	ev  schema.Event
	rec Record
	sc  trace.SpanContext // the span the record was handed over under, when tracing
}

// eventBatch is a shard's batch buffer; ents is empty while the buffer is on the free list.
type eventBatch struct {
	ents []batchEntry
}

// batchBuffers returns the per-shard batch size and number of batch buffers for a queue of queueSize events:
// at least two buffers, and size*n <= queueSize unless queueSize is 1.
func batchBuffers(queueSize int) (size, n int) {
	size = max(1, min(batchMax, queueSize/2))
	return size, max(2, queueSize/size)
}

// Batcher hands records to a Pipeline in batches: the batches it holds, one per shard at most. It is owned
// by one goroutine (a partition reader): it is not safe for concurrent use. Records of one symbol must go
// through one Batcher, in order.
type Batcher struct {
	p    *Pipeline
	dec  schema.Decoder
	cur  []*eventBatch // by shard index; nil: none held
	n    int           // events held over all batches
	last int64         // offset of the last record added
}

// NewBatcher returns a Batcher of p holding nothing.
func (p *Pipeline) NewBatcher() *Batcher {
	return &Batcher{p: p, cur: make([]*eventBatch, len(p.shards)), last: -1}
}

// Add decodes rec and holds its event in the batch of its shard, handing the batch over when it is full; then
// the Tap, if any, sees the record. A record that does not decode or validate is rejected as Submit rejects
// it. The error is ErrClosed or ctx's, from waiting for a batch buffer or for room in the queue; the record's
// event is then held. With tracing on, the event keeps the span of ctx, which the apply span links to.
func (b *Batcher) Add(ctx context.Context, rec Record) error {
	p := b.p
	var ev schema.Event
	if !p.decode(ctx, &b.dec, rec, &ev) {
		b.last = rec.Offset
		p.tap.record(ctx, rec)
		return nil
	}
	i := p.shardIndex(ev.Symbol)
	eb := b.cur[i]
	if eb == nil {
		var err error
		if eb, err = p.shards[i].takeBatch(ctx); err != nil {
			return err
		}
		b.cur[i] = eb
	}
	e := batchEntry{ev: ev, rec: rec}
	if p.tracer != nil {
		e.sc = trace.SpanContextFromContext(ctx)
	}
	eb.ents = append(eb.ents, e)
	b.n++
	b.last = rec.Offset
	if len(eb.ents) == cap(eb.ents) {
		if err := b.send(ctx, i); err != nil {
			return err
		}
	}
	p.tap.record(ctx, rec)
	return nil
}

// Skip notes a record that carries no event (a transaction marker) as handled.
func (b *Batcher) Skip(offset int64) { b.last = offset }

// Held returns the number of events held, not handed over yet.
func (b *Batcher) Held() int { return b.n }

// send queues the held batch of shard i. On failure the batch stays held.
func (b *Batcher) send(ctx context.Context, i int) error {
	eb := b.cur[i]
	n := len(eb.ents) // eb belongs to the writer once queued
	if err := b.p.shards[i].sendBatch(ctx, eb); err != nil {
		return err
	}
	b.cur[i] = nil
	b.n -= n
	return nil
}

// Flush queues every held batch, blocking while a queue is full. On failure (ErrClosed, ctx's error) what
// was not queued stays held.
func (b *Batcher) Flush(ctx context.Context) error {
	for i, eb := range b.cur {
		if eb == nil {
			continue
		}
		if err := b.send(ctx, i); err != nil {
			return err
		}
	}
	return nil
}

// Next is the offset of the first record not handed over yet: every record before it was queued on its
// shard (or rejected).
func (b *Batcher) Next() int64 {
	next := b.last + 1
	for _, eb := range b.cur {
		if eb != nil && len(eb.ents) > 0 {
			next = min(next, eb.ents[0].rec.Offset)
		}
	}
	return next
}

// Drop gives back the batches still held; their events are lost. Call it when the owner stops.
func (b *Batcher) Drop() {
	for i, eb := range b.cur {
		if eb != nil {
			b.p.shards[i].giveBatch(eb)
			b.cur[i] = nil
		}
	}
	b.n = 0
}

// takeBatch takes a free batch buffer of s, waiting for the writer to give one back when none is free.
func (s *shard) takeBatch(ctx context.Context) (*eventBatch, error) {
	var eb *eventBatch
	select {
	case eb = <-s.free:
	default:
		select {
		case eb = <-s.free:
		case <-s.p.stop:
			return nil, ErrClosed
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if eb.ents == nil {
		eb.ents = make([]batchEntry, 0, s.p.batchSize)
	}
	return eb, nil
}

// giveBatch clears eb and puts it back on the free list (which always has room for it).
func (s *shard) giveBatch(eb *eventBatch) {
	clear(eb.ents)
	eb.ents = eb.ents[:0]
	s.free <- eb
}

// sendBatch queues eb on s, blocking while the queue is full. It returns ErrClosed after Close, as Submit does.
func (s *shard) sendBatch(ctx context.Context, eb *eventBatch) error {
	select {
	case <-s.p.stop:
		return ErrClosed
	default:
	}
	extra := int64(len(eb.ents) - 1) // the queue gauge counts the events, not the entry
	s.batched.Add(extra)
	if err := s.enqueue(ctx, item{kind: itemBatch, batch: eb}); err != nil {
		s.batched.Add(-extra)
		return err
	}
	return nil
}

// applyBatch applies the events of a queued batch in order and gives the buffer back.
func (s *shard) applyBatch(eb *eventBatch) {
	s.batched.Add(-int64(len(eb.ents) - 1))
	for i := range eb.ents {
		e := &eb.ents[i]
		s.apply(&e.ev, &e.rec)
	}
	s.giveBatch(eb)
}
