package replay

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/depthcast/depthcast/book"
	"github.com/depthcast/depthcast/engine"
)

// Stream plays a recording once into a node's books, then keeps them as they ended until the node stops: the
// input of a replay node (it has node.Input's methods). Ready turns true once the player is positioned at
// From; Do reads the books through the player.
type Stream struct {
	cfg PlayerConfig
	log *slog.Logger
	p   atomic.Pointer[Player]
}

// NewStream returns the Stream of cfg (whose Publisher is the node's Hub), logging to log (slog.Default()
// when nil). Nothing runs before Run.
func NewStream(cfg PlayerConfig, log *slog.Logger) *Stream {
	if log == nil {
		log = slog.Default()
	}
	return &Stream{cfg: cfg, log: log}
}

var _ engine.Books = (*Stream)(nil)

// Ready reports whether the books are being played (positioned at From, or past it).
func (s *Stream) Ready() bool { return s.p.Load() != nil }

// Do runs fn on symbol's book writer; it returns engine.ErrClosed while the books are not playing.
func (s *Stream) Do(ctx context.Context, symbol string, fn func(b *book.Book)) error {
	p := s.p.Load()
	if p == nil {
		return engine.ErrClosed
	}
	return p.Do(ctx, symbol, fn)
}

// Run plays the recording from From to To at Speed, then serves the books as they ended until ctx is done.
// It returns nil when ctx ends, and the source's error if playback fails.
func (s *Stream) Run(ctx context.Context) error {
	p, err := NewPlayer(ctx, s.cfg)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer p.Close()
	s.p.Store(p)
	defer s.p.Store(nil)
	s.log.Info("playing", "from", timeOr(s.cfg.From, "start"), "to", timeOr(s.cfg.To, "end"), "speed", s.cfg.Speed)
	t0 := time.Now()
	if err := p.Run(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	s.log.Info("finished; serving the books as they ended", "took", time.Since(t0).Round(time.Millisecond))
	<-ctx.Done()
	return nil
}

// timeOr formats t, or returns none for the zero time.
func timeOr(t time.Time, none string) string {
	if t.IsZero() {
		return none
	}
	return t.UTC().Format(time.RFC3339Nano)
}
