package feed

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/depthcast/depthcast/engine"
)

// Replay (docs/protocol.md §4): a connection to /replay plays recorded history through private books into a
// Hub of its own, with the messages of the live feed plus "replay":true. The feed does not know where
// history comes from: it asks a Replayer (the replay package implements it over recordings or the Kafka
// topic).

// Defaults and limits of replays.
const (
	DefaultMaxReplays = 8
	// MaxReplaySpeed is the largest speed factor a client may ask for.
	MaxReplaySpeed = 100000
	// MinReplaySpeed is the smallest speed factor above 0 a client may ask for (0 itself is "as fast as
	// the client reads"): 1,000 times slower than recorded. Smaller factors (down to denormals such as
	// 5e-324) would stretch a gap past what a wait can hold.
	MinReplaySpeed = 0.001
)

// ErrReplayRequest is wrapped by a Replayer's errors for requests it cannot play (the client's fault); the
// feed answers them with bad_request. Other errors are the server's (unavailable).
var ErrReplayRequest = errors.New("replay request cannot be played")

// replayRequestError is a request that cannot be played; its text is the reason alone.
type replayRequestError string

func (e replayRequestError) Error() string { return string(e) }
func (e replayRequestError) Unwrap() error { return ErrReplayRequest }

// ReplayRequestError returns an error wrapping ErrReplayRequest whose text is the reason alone.
func ReplayRequestError(format string, args ...any) error {
	return replayRequestError(fmt.Sprintf(format, args...))
}

// CheckReplaySpeed returns an ErrReplayRequest error for a speed factor other than 0 (as fast as the client
// reads) or MinReplaySpeed..MaxReplaySpeed. The feed checks a client's speeds with it, and a Player the
// speeds it is given.
func CheckReplaySpeed(v float64) error {
	if math.IsNaN(v) || v < 0 || v > MaxReplaySpeed || (v > 0 && v < MinReplaySpeed) {
		return ReplayRequestError("speed %v out of range: 0 (as fast as you read), or %v to %d", v, MinReplaySpeed, MaxReplaySpeed)
	}
	return nil
}

// ReplayParams is one playback: [From, To] of recorded time at Speed (0: as fast as Wait lets it).
type ReplayParams struct {
	From, To time.Time
	Speed    float64
	// Wait blocks, before each record played, until the client's send queue has room; it returns an error
	// when the client is gone. The Replayer must call it.
	Wait func(ctx context.Context) error
}

// Replayer plays recorded history for /replay connections. It is safe for concurrent use.
type Replayer interface {
	// Range reports the times of the first and last records available.
	Range(ctx context.Context) (first, last time.Time, err error)
	// Symbols lists the symbols the history holds. A symbol the live feed knows is accepted too, so a
	// Replayer that cannot tell cheaply (the Kafka topic) may list none.
	Symbols(ctx context.Context) ([]string, error)
	// Prepare builds fresh private books publishing to pub (the playback's Hub), applies everything
	// recorded before p.From to them, and returns the run positioned at p.From, not yet playing.
	Prepare(ctx context.Context, p ReplayParams, pub engine.Publisher) (ReplayRun, error)
}

// ReplayRun is one prepared playback. Its Do runs on the private books' writer (engine.Books).
type ReplayRun interface {
	engine.Books
	// Run plays up to To and returns nil once everything played was published, or ctx's error, or the
	// source's.
	Run(ctx context.Context) error
	Pause()
	Resume()
	SetSpeed(speed float64) error
	// Close releases the run, after Run returned or instead of it.
	Close()
}

// Reasons of replay_end.
const (
	ReplayEndDone  = "done"
	ReplayEndError = "error"
	// ReplayEndSuperseded ends a replay or seek that a later one replaced before it started; it carries
	// the id of the request it answers. The later one goes on.
	ReplayEndSuperseded = "superseded"
)
