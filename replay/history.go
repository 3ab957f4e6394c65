package replay

import (
	"context"
	"log/slog"
	"time"

	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/feed"
)

// History serves the feed's /replay from a Source: each replay the feed asks for is a Player of its own,
// publishing to that replay's Hub. It is the feed's Replayer, and is safe for concurrent use.
type History struct {
	lib *Library
	log *slog.Logger
}

var _ feed.Replayer = (*History)(nil)

// NewHistory returns the History of src, logging the players' warnings to log (slog.Default() when nil).
// The symbols a replay may ask for are those of a Library over src: from src's own Symbols method when it
// has one (a recording or a recordings directory: its indexes; the Kafka topic: none, the live feed's are
// accepted), else from the records.
func NewHistory(src Source, log *slog.Logger) *History {
	if log == nil {
		log = slog.Default()
	}
	return &History{lib: NewLibrary(src), log: log}
}

// Range reports the times of the first and last records available.
func (h *History) Range(ctx context.Context) (first, last time.Time, err error) {
	return h.lib.Range(ctx)
}

// Symbols lists the symbols the history holds.
func (h *History) Symbols(ctx context.Context) ([]string, error) {
	return h.lib.Symbols(ctx)
}

// Prepare returns a Player of p publishing to pub, positioned at p.From. A request it cannot play wraps
// feed.ErrReplayRequest.
func (h *History) Prepare(ctx context.Context, p feed.ReplayParams, pub engine.Publisher) (feed.ReplayRun, error) {
	pl, err := NewPlayer(ctx, PlayerConfig{Source: h.lib, From: p.From, To: p.To, Speed: p.Speed,
		Publisher: pub, Wait: p.Wait, Logger: h.log})
	if err != nil {
		return nil, err
	}
	return pl, nil
}

var _ feed.ReplayRun = (*Player)(nil)

// Dir is a recordings directory that may still be growing (a recorder writing into it): every Range,
// Symbols and Open reads it afresh. The zero Logger logs to slog.Default().
type Dir struct {
	Path   string
	Logger *slog.Logger
}

var _ Source = Dir{}

// Range reports the times of the first and last records recorded so far.
func (d Dir) Range(ctx context.Context) (time.Time, time.Time, error) {
	r, err := OpenDirLogger(d.Path, d.Logger)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	defer r.Close()
	return r.Range(ctx)
}

// Symbols lists the symbols of the recording's indexes.
func (d Dir) Symbols(ctx context.Context) ([]string, error) {
	r, err := OpenDirLogger(d.Path, d.Logger)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return RecordingSymbols(r), nil
}

// Open opens the recording as it stands now and returns a cursor from from.
func (d Dir) Open(ctx context.Context, from time.Time) (Cursor, error) {
	r, err := OpenDirLogger(d.Path, d.Logger)
	if err != nil {
		return nil, err
	}
	return r.Open(ctx, from)
}
