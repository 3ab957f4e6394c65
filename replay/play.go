package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/depthcast/depthcast/book"
	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/feed"
	"go.opentelemetry.io/otel/metric"
)

// Defaults of PlayerConfig. The speeds a Player accepts are the feed's: 0, or feed.MinReplaySpeed to
// feed.MaxReplaySpeed (feed.CheckReplaySpeed).
const (
	// DefaultQueueSize is the default hand-off queue of a Player's pipeline. It is small on purpose: with
	// flow control, what is in the queue is what a slow client can still receive after its Wait said go.
	DefaultQueueSize = 64
)

// PlayerConfig configures a Player.
type PlayerConfig struct {
	// Source is the recorded history. Required.
	Source Source
	// From is where playback starts: records before it are applied to the books without pacing (the
	// Publisher sees them, with nobody subscribed yet), so the books stand as they did at From when Run
	// starts. Zero: the first record.
	From time.Time
	// To is the time of the last record played (inclusive). Zero: the end of the source.
	To time.Time
	// Speed is the factor of recorded time: 1 plays as recorded, 10 ten times faster, 0 as fast as Wait
	// lets it. 0, or feed.MinReplaySpeed..feed.MaxReplaySpeed.
	Speed float64
	// Publisher receives the books' changes, as from the live stream. Required.
	Publisher engine.Publisher
	// Wait, when set, is called before each record during playback (not during the pre-roll before From)
	// and blocks until the consumer can take more, or returns an error (ctx's, or the consumer's) that
	// stops playback. It is how a replay is flow-controlled by its client.
	Wait func(ctx context.Context) error
	// QueueSize bounds the pipeline's hand-off queue. Default DefaultQueueSize.
	QueueSize int
	// Logger receives the pipeline's warnings (rejected records, gaps). Default slog.Default().
	Logger *slog.Logger
	// Meter records the private pipeline's ingest metrics. Default: no-op.
	Meter metric.Meter
}

// Validate reports the first invalid field of c.
func (c *PlayerConfig) Validate() error {
	if c.Source == nil {
		return errors.New("replay: nil Source")
	}
	if c.Publisher == nil {
		return errors.New("replay: nil Publisher")
	}
	if err := feed.CheckReplaySpeed(c.Speed); err != nil {
		return err
	}
	if !c.From.IsZero() && !c.To.IsZero() && c.From.After(c.To) {
		return feed.ReplayRequestError("from %s is after to %s", c.From.Format(time.RFC3339Nano), c.To.Format(time.RFC3339Nano))
	}
	if c.QueueSize < 0 {
		return fmt.Errorf("replay: queue size %d is negative", c.QueueSize)
	}
	return nil
}

// Player plays a Source through a private engine.Pipeline (one writer, so the Publisher sees every record in
// recorded order and the same recording always gives the same calls), paced by the records' times at a
// speed factor, between From and To. NewPlayer applies everything before From; Run plays the rest; Pause,
// Resume and SetSpeed may be called from any goroutine at any time. A seek is a new Player.
type Player struct {
	cfg  PlayerConfig
	cur  Cursor
	pipe *engine.Pipeline

	pending *engine.Record // first record at or after From, read by the pre-roll
	eof     bool

	mu        sync.Mutex
	paused    bool
	speed     float64
	anchorRec time.Time // record time that plays at anchorAt
	anchorAt  time.Time // wall time
	lastRec   time.Time // time of the last record submitted
	wake      chan struct{}

	runOnce   sync.Once
	closeOnce sync.Once
}

// NewPlayer opens the source at cfg.From, starts the private pipeline and applies every record before From
// to it. The player is then positioned at From; Run plays from there. Close releases it.
func NewPlayer(ctx context.Context, cfg PlayerConfig) (*Player, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.QueueSize == 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	cur, err := cfg.Source.Open(ctx, cfg.From)
	if err != nil {
		return nil, fmt.Errorf("replay: open: %w", err)
	}
	pipe, err := engine.New(engine.Config{Shards: 1, QueueSize: cfg.QueueSize, Logger: cfg.Logger, Meter: cfg.Meter}, cfg.Publisher)
	if err != nil {
		_ = cur.Close()
		return nil, err
	}
	p := &Player{cfg: cfg, cur: cur, pipe: pipe, speed: cfg.Speed, wake: make(chan struct{}, 1)}
	if err := p.preroll(ctx); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// preroll applies the records before From.
func (p *Player) preroll(ctx context.Context) error {
	for {
		// Submit may take a record even when ctx is done (its queue has room): look first.
		if err := ctx.Err(); err != nil {
			return err
		}
		rec, err := p.cur.Next(ctx)
		if errors.Is(err, io.EOF) {
			p.eof = true
			break
		}
		if err != nil {
			return fmt.Errorf("replay: read: %w", err)
		}
		if !rec.Time.Before(p.cfg.From) {
			// Key and Value stay valid until the next Next, which only Run calls, after using them.
			p.pending = &rec
			break
		}
		if err := p.pipe.Submit(ctx, rec); err != nil {
			return err
		}
		p.lastRec = rec.Time
	}
	return p.pipe.Flush(ctx)
}

// Do runs fn on symbol's writer between two records: see engine.Pipeline.Do. It returns
// engine.ErrUnknownSymbol for a symbol that has not appeared yet.
func (p *Player) Do(ctx context.Context, symbol string, fn func(b *book.Book)) error {
	return p.pipe.Do(ctx, symbol, fn)
}

// Pause stops playback before the next record until Resume.
func (p *Player) Pause() {
	p.mu.Lock()
	p.paused = true
	p.mu.Unlock()
	p.poke()
}

// Resume continues a paused playback; recorded time resumes from where it stopped.
func (p *Player) Resume() {
	p.mu.Lock()
	if p.paused {
		p.paused = false
		p.anchorRec, p.anchorAt = p.lastRec, time.Now()
	}
	p.mu.Unlock()
	p.poke()
}

// Paused reports whether playback is paused.
func (p *Player) Paused() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paused
}

// SetSpeed changes the speed factor from the next record on. It returns a feed.ErrReplayRequest error for a
// factor other than 0 or feed.MinReplaySpeed..feed.MaxReplaySpeed.
func (p *Player) SetSpeed(speed float64) error {
	if err := feed.CheckReplaySpeed(speed); err != nil {
		return err
	}
	p.mu.Lock()
	p.speed = speed
	p.anchorRec, p.anchorAt = p.lastRec, time.Now()
	p.mu.Unlock()
	p.poke()
	return nil
}

// Speed returns the current speed factor.
func (p *Player) Speed() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.speed
}

func (p *Player) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Run plays the records from From to To (or the end of the source), then waits until the Publisher has
// seen all of them. It returns nil when playback is complete, ctx.Err() when ctx ends first, and the
// source's or Wait's error otherwise. Run may be called once.
func (p *Player) Run(ctx context.Context) error {
	err := errors.New("replay: Run called twice")
	p.runOnce.Do(func() { err = p.run(ctx) })
	return err
}

func (p *Player) run(ctx context.Context) error {
	p.mu.Lock()
	start := p.cfg.From
	if p.pending != nil && p.lastRec.IsZero() && (start.IsZero() || start.Before(p.pending.Time)) {
		start = p.pending.Time // nothing recorded before it: no reason to wait from From to the first record
	}
	if p.lastRec.After(start) {
		start = p.lastRec
	}
	p.lastRec = start
	p.anchorRec, p.anchorAt = start, time.Now()
	p.mu.Unlock()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec, ok, err := p.next(ctx)
		if err != nil {
			return err
		}
		if !ok || (!p.cfg.To.IsZero() && rec.Time.After(p.cfg.To)) {
			break
		}
		if err := p.gate(ctx, rec.Time); err != nil {
			return err
		}
		if err := p.pipe.Submit(ctx, rec); err != nil {
			return err
		}
		p.mu.Lock()
		if rec.Time.After(p.lastRec) {
			p.lastRec = rec.Time
		}
		p.mu.Unlock()
	}
	return p.pipe.Flush(ctx)
}

// next returns the next record to play; ok is false at the end of the source.
func (p *Player) next(ctx context.Context) (engine.Record, bool, error) {
	if p.pending != nil {
		rec := *p.pending
		p.pending = nil
		return rec, true, nil
	}
	if p.eof {
		return engine.Record{}, false, nil
	}
	rec, err := p.cur.Next(ctx)
	if errors.Is(err, io.EOF) {
		p.eof = true
		return engine.Record{}, false, nil
	}
	if err != nil {
		if ctx.Err() != nil {
			return engine.Record{}, false, ctx.Err()
		}
		return engine.Record{}, false, fmt.Errorf("replay: read: %w", err)
	}
	return rec, true, nil
}

// maxScaled bounds a gap stretched by a slow speed (about 146 years), so that it never overflows a
// Duration, which would turn the wait negative and play at once.
const maxScaled = time.Duration(1 << 62)

// scaled is the gap d of recorded time at speed factor speed (> 0), at most maxScaled.
func scaled(d time.Duration, speed float64) time.Duration {
	if f := float64(d) / speed; f < float64(maxScaled) {
		return time.Duration(f)
	}
	return maxScaled
}

// gate waits until the record at t may go: not paused, the consumer ready (Wait), and its time due at the
// current speed. A control change wakes it to look again.
func (p *Player) gate(ctx context.Context, t time.Time) error {
	for {
		p.mu.Lock()
		paused, speed := p.paused, p.speed
		var wait time.Duration
		if speed > 0 && t.After(p.anchorRec) {
			wait = time.Until(p.anchorAt.Add(scaled(t.Sub(p.anchorRec), speed)))
		}
		p.mu.Unlock()
		if paused {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-p.wake:
			}
			continue
		}
		if p.cfg.Wait != nil {
			if err := p.cfg.Wait(ctx); err != nil {
				return err
			}
		}
		if wait <= 0 {
			return nil
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-p.wake:
			timer.Stop()
		case <-timer.C:
		}
	}
}

// Close stops the pipeline and closes the cursor. Call it after Run returned (or instead of Run).
func (p *Player) Close() {
	p.closeOnce.Do(func() {
		p.pipe.Close()
		_ = p.cur.Close()
	})
}
