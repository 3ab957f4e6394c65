package ingest

import (
	"context"
	"log/slog"
	"time"

	"github.com/depthcast/depthcast/book"
	"github.com/depthcast/depthcast/schema"
)

// A partition outage (docs/protocol.md: a book that cannot be trusted is never served as live). When a partition
// has neither delivered a record nor been seen caught up with its high watermark for OutageTimeout, the
// writers mark its live books stale (PublishStatus) and hold them. A held book comes back in one of two
// ways: its next event follows its last seq (nothing was lost), and it is republished as a snapshot of its
// own content before that event is applied; or the partition is seen reading again, and every held book
// of it is republished the same way (a book whose next event then shows a gap goes stale as usual). A held
// book whose next event is not in order stays stale until the next upstream snapshot.

// hold marks the live books of partition part stale, on every writer, and waits for it.
func (p *Pipeline) hold(ctx context.Context, part int) error {
	return p.eachShard(ctx, func(s *shard) {
		for _, st := range s.syms {
			if int(st.part) != part || !st.b.Live() {
				continue
			}
			st.b.MarkStale()
			st.held = true
			s.syncLive(st)
			p.pub.PublishStatus(st.b)
		}
	})
}

// restart marks the live books of partition part stale, on every writer, and waits for it: records were
// lost below the reader's position, so each book waits for its next snapshot (they are not held: the
// partition reading again does not revive them). With forget, the partition's history started over (its
// offsets went backwards), so the symbols' last seqs are forgotten and the next snapshot is taken whatever
// its seq.
func (p *Pipeline) restart(ctx context.Context, part int, forget bool) error {
	return p.eachShard(ctx, func(s *shard) {
		for _, st := range s.syms {
			if int(st.part) != part {
				continue
			}
			st.held = false
			if forget {
				st.last = 0
			}
			if st.b.Live() {
				st.b.MarkStale()
				s.syncLive(st)
				p.pub.PublishStatus(st.b)
			}
		}
	})
}

// release revives the held books of partition part, on every writer, and waits for it.
func (p *Pipeline) release(ctx context.Context, part int) error {
	return p.eachShard(ctx, func(s *shard) {
		for _, st := range s.syms {
			if int(st.part) == part && st.held {
				st.held = false
				s.revive(st)
			}
		}
	})
}

func (p *Pipeline) eachShard(ctx context.Context, fn func(*shard)) error {
	for _, s := range p.shards {
		if err := p.enqueueWait(ctx, s, item{kind: itemShard, sfn: fn, done: make(chan error, 1)}); err != nil {
			return err
		}
	}
	return nil
}

// unhold runs before a held book's next event (seq above its last): in order, the book is revived first;
// otherwise it stays stale and the gap rules apply.
func (s *shard) unhold(st *symState, seq uint64) {
	st.held = false
	if seq == st.last+1 {
		s.revive(st)
	}
}

// revive makes a held book live again with its own content, and publishes it as a snapshot.
func (s *shard) revive(st *symState) {
	b := st.b
	if b.Seq() == 0 {
		return
	}
	bids, asks := levelsOf(b, book.Bids), levelsOf(b, book.Asks)
	if err := b.ApplySnapshot(b.Seq(), b.Time(), bids, asks); err != nil {
		// Cannot happen for content the book held; stay stale until the next snapshot.
		s.p.log.LogAttrs(s.logContext(), slog.LevelError, "ingest: cannot revive a held book",
			slog.String("symbol", b.Symbol()), slog.Any("error", err))
		return
	}
	s.syncLive(st)
	s.p.pub.PublishBook(b, true)
}

func levelsOf(b *book.Book, side book.Side) []schema.Level {
	top := b.Top(side, 0, nil)
	out := make([]schema.Level, len(top))
	for i, l := range top {
		out[i] = schema.Level{Price: schema.Decimal{Coef: l.Price, Exp: b.PriceExp()}, Size: schema.Decimal{Coef: l.Size, Exp: b.SizeExp()}}
	}
	return out
}

// outageCheck runs on the monitor after each high-watermark poll (ok: the poll succeeded). A partition that
// read records since the last check, whose reader is handing records over, or that is caught up with its
// high watermark, is in contact; one out of contact for OutageTimeout goes into an outage (its books are
// held); the next contact ends it.
func (c *Consumer) outageCheck(ctx context.Context, pipe *Pipeline, parts []*partState, ok bool, now time.Time) {
	for _, st := range parts {
		next := st.next.Load()
		if st.contactAt.IsZero() {
			st.contactAt, st.seenNext = now, next
		}
		// A reader that is between fetches is handing records to the writers (perhaps waiting for room in a
		// full shard queue): slow books are not an outage.
		st.mu.Lock()
		handing := st.cancel != nil && st.fetching.Load() == 0
		st.mu.Unlock()
		contact := handing || next != st.seenNext || (ok && st.hwm.Load() <= next)
		st.seenNext = next
		switch {
		case contact:
			st.contactAt = now
			if st.outage {
				st.outage = false
				c.outages.Add(-1)
				c.log.Info("ingest: partition reads again, its books are live again", slog.String("topic", c.cfg.Topic),
					slog.Int("partition", st.id), slog.Int64("offset", next))
				if err := pipe.release(ctx, st.id); err != nil && ctx.Err() == nil {
					c.log.Warn("ingest: cannot revive books", slog.Int("partition", st.id), slog.Any("error", err))
				}
			}
		case !st.outage && now.Sub(st.contactAt) >= c.cfg.OutageTimeout:
			st.outage = true
			c.outages.Add(1)
			c.log.Warn("ingest: partition out of contact with the broker, its books are stale",
				slog.String("topic", c.cfg.Topic), slog.Int("partition", st.id), slog.Int64("offset", next),
				slog.Duration("since", now.Sub(st.contactAt)))
			if err := pipe.hold(ctx, st.id); err != nil && ctx.Err() == nil {
				c.log.Warn("ingest: cannot mark books stale", slog.Int("partition", st.id), slog.Any("error", err))
			}
		}
	}
}
