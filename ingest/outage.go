package ingest

import (
	"context"
	"log/slog"
	"time"

	"github.com/depthcast/depthcast/engine"
)

// outageCheck runs on the monitor after each high-watermark poll (ok: the poll succeeded). A partition that
// read records since the last check, whose reader is handing records over, or that is caught up with its
// high watermark, is in contact; one out of contact for OutageTimeout goes into an outage (its books are
// held); the next contact ends it.
func (c *Consumer) outageCheck(ctx context.Context, pipe *engine.Pipeline, parts []*partState, ok bool, now time.Time) {
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
				c.log.Info("partition reads again, its books are live again", slog.String("topic", c.cfg.Topic),
					slog.Int("partition", st.id), slog.Int64("offset", next))
				if err := pipe.Release(ctx, st.id); err != nil && ctx.Err() == nil {
					c.log.Warn("cannot revive books", slog.Int("partition", st.id), slog.Any("error", err))
				}
			}
		case !st.outage && now.Sub(st.contactAt) >= c.cfg.OutageTimeout:
			st.outage = true
			c.outages.Add(1)
			c.log.Warn("partition out of contact with the broker, its books are stale",
				slog.String("topic", c.cfg.Topic), slog.Int("partition", st.id), slog.Int64("offset", next),
				slog.Duration("since", now.Sub(st.contactAt)))
			if err := pipe.Hold(ctx, st.id); err != nil && ctx.Err() == nil {
				c.log.Warn("cannot mark books stale", slog.Int("partition", st.id), slog.Any("error", err))
			}
		}
	}
}
