package ingest

import (
	"context"
	"errors"
	"time"

	"github.com/depthcast/depthcast/schema"
)

// Hand-off in batches. A partition reader (fetchLoop, without tracing) does not queue each event on its
// shard by itself: it decodes the record and appends the event to a batch it holds for that shard, and
// queues the batch, one channel operation for up to batchMax events. It hands every held batch over as soon
// as the broker has nothing more for it (the record just read is the last below the high watermark of its
// fetch), when the batch is full, before it waits for readiness, and when it has held events for holdWindow
// while the next record is not there yet (a fetch round trip, or transaction markers at the end of the log).
// So a record that arrives alone is handed over as soon as it is decoded, as Submit does, and a catching-up
// reader hands over whole batches.
//
// The batch buffers of a shard are bounded: a shard has at least two, of up to batchMax events each and
// QueueSize events in all (two when QueueSize is 1), taken from its free list by the readers and given back
// by the writer once it has applied their events. A reader that finds none free waits, as Submit waits for
// room in a full queue.
const (
	batchMax   = 128
	holdWindow = 2 * time.Millisecond
)

// batchEntry is one decoded event of a batch and the record it came from.
type batchEntry struct {
	ev  schema.Event
	rec Record
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

// batcher is a partition reader's side of the batched hand-off: the batches it holds, one per shard at
// most. Only its reader goroutine uses it.
type batcher struct {
	p    *Pipeline
	dec  schema.Decoder
	cur  []*eventBatch // by shard index; nil: none held
	n    int           // events held over all batches
	last int64         // offset of the last record added

	hold     context.Context // while events are held: ends holdWindow after the first was added
	holdStop context.CancelFunc
}

func newBatcher(p *Pipeline) *batcher {
	return &batcher{p: p, cur: make([]*eventBatch, len(p.shards)), last: -1}
}

// add decodes rec and holds its event in the batch of its shard, handing the batch over when it is full. A
// record that does not decode or validate is rejected as Submit rejects it. The error is ErrClosed or
// ctx's, from waiting for a batch buffer or for room in the queue; the record's event is then held.
func (b *batcher) add(ctx context.Context, rec Record) error {
	var ev schema.Event
	if err := b.dec.Decode(rec.Value, &ev); err != nil {
		b.p.reject(ctx, rec, "", schema.ReasonOf(err), err)
		b.last = rec.Offset
		return nil
	}
	p := b.p
	p.m.events.Add(context.Background(), 1, p.m.typeOpt[ev.Type]...)
	i := p.shardIndex(ev.Symbol)
	eb := b.cur[i]
	if eb == nil {
		var err error
		if eb, err = p.shards[i].takeBatch(ctx); err != nil {
			return err
		}
		b.cur[i] = eb
	}
	eb.ents = append(eb.ents, batchEntry{ev: ev, rec: rec})
	b.n++
	b.last = rec.Offset
	if len(eb.ents) < cap(eb.ents) {
		return nil
	}
	return b.send(ctx, i)
}

// skip notes a record that carries no event (a transaction marker) as handled.
func (b *batcher) skip(offset int64) { b.last = offset }

// holdContext returns the context to fetch the next record with: ctx when nothing is held, otherwise one
// that ends holdWindow after the first held event was added (and with ctx).
func (b *batcher) holdContext(ctx context.Context) context.Context {
	if b.n == 0 {
		return ctx
	}
	if b.hold == nil {
		b.hold, b.holdStop = context.WithTimeout(ctx, holdWindow)
	}
	return b.hold
}

// holdEnded reports whether a fetch with the hold context failed with err because the window ended, while
// ctx is still running.
func (b *batcher) holdEnded(ctx context.Context, err error) bool {
	return b.hold != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil && b.hold.Err() != nil
}

// send queues the held batch of shard i. On failure the batch stays held.
func (b *batcher) send(ctx context.Context, i int) error {
	eb := b.cur[i]
	n := len(eb.ents) // eb belongs to the writer once queued
	if err := b.p.shards[i].sendBatch(ctx, eb); err != nil {
		return err
	}
	b.cur[i] = nil
	b.n -= n
	if b.n == 0 && b.hold != nil {
		b.holdStop()
		b.hold, b.holdStop = nil, nil
	}
	return nil
}

// flush queues every held batch.
func (b *batcher) flush(ctx context.Context) error {
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

// next is the offset of the first record not handed over yet: every record before it was queued on its
// shard (or rejected).
func (b *batcher) next() int64 {
	next := b.last + 1
	for _, eb := range b.cur {
		if eb != nil && len(eb.ents) > 0 {
			next = min(next, eb.ents[0].rec.Offset)
		}
	}
	return next
}

// drop gives back the batches still held (their events are lost: only when the pipeline or the run ends).
func (b *batcher) drop() {
	for i, eb := range b.cur {
		if eb != nil {
			b.p.shards[i].giveBatch(eb)
			b.cur[i] = nil
		}
	}
	b.n = 0
	if b.hold != nil {
		b.holdStop()
		b.hold, b.holdStop = nil, nil
	}
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
