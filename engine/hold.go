package engine

import (
	"context"
	"log/slog"

	"github.com/depthcast/depthcast/book"
	"github.com/depthcast/depthcast/schema"
)

// Holds: a book that cannot be trusted is never served as live (docs/protocol.md §1). When the input of a
// partition is out of contact (the Kafka consumer decides: a partition that has neither delivered a record
// nor been seen caught up with its high watermark for its outage timeout), Hold has the writers mark its
// live books stale (PublishStatus) and hold them. A held book comes back in one of two
// ways: its next event follows its last seq (nothing was lost), and it is republished as a snapshot of its
// own content before that event is applied; or the partition is seen reading again (Release), and every held book
// of it is republished the same way (a book whose next event then shows a gap goes stale as usual). A held
// book whose next event is not in order stays stale until the next upstream snapshot.

// Hold marks the live books of partition part stale, on every writer, and waits for it.
func (p *Pipeline) Hold(ctx context.Context, part int) error {
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

// Restart marks the live books of partition part stale, on every writer, and waits for it: records were
// lost below the reader's position, so each book waits for its next snapshot (they are not held: the
// partition reading again does not revive them). With forget, the partition's history started over (its
// offsets went backwards), so the symbols' last seqs are forgotten and the next snapshot is taken whatever
// its seq.
func (p *Pipeline) Restart(ctx context.Context, part int, forget bool) error {
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

// Release revives the held books of partition part, on every writer, and waits for it.
func (p *Pipeline) Release(ctx context.Context, part int) error {
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
		s.p.log.LogAttrs(s.logContext(), slog.LevelError, "cannot revive a held book",
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
