package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/depthcast/depthcast/book"
	"github.com/depthcast/depthcast/feed"
	"github.com/depthcast/depthcast/ingest"
	"github.com/depthcast/depthcast/replay"
)

// Input feeds a node's books: the Kafka consumer, or the player of a recording.
type Input interface {
	// Run feeds the books until ctx is done.
	Run(ctx context.Context) error
	// Do runs fn on symbol's book writer (feed.Books).
	Do(ctx context.Context, symbol string, fn func(b *book.Book)) error
	// Ready reports whether the books caught up (GET /readyz).
	Ready() bool
}

var (
	_ Input          = (*ingest.Consumer)(nil)
	_ Input          = (*playInput)(nil)
	_ feed.Replayer  = (*replayer)(nil)
	_ feed.Books     = (*replay.Player)(nil)
	_ feed.ReplayRun = (*replay.Player)(nil)
)

// replayer serves the feed's /replay from a replay source: each replay is a Player of its own.
type replayer struct {
	lib *replay.Library
	log *slog.Logger
}

// newReplayer returns the Replayer over src. The symbols a replay may ask for come from src's Symbols
// method when it has one (a recordings directory: its indexes; the Kafka topic: none, the live feed's are
// accepted), else from the Library (a recording's indexes).
func newReplayer(src replay.Source, log *slog.Logger) *replayer {
	return &replayer{lib: replay.NewLibrary(src), log: log}
}

func (r *replayer) Range(ctx context.Context) (time.Time, time.Time, error) { return r.lib.Range(ctx) }

func (r *replayer) Symbols(ctx context.Context) ([]string, error) {
	if sl, ok := r.lib.Source.(interface {
		Symbols(context.Context) ([]string, error)
	}); ok {
		return sl.Symbols(ctx)
	}
	return r.lib.Symbols(ctx)
}

func (r *replayer) Prepare(ctx context.Context, p feed.ReplayParams, pub feed.ReplayPublisher) (feed.ReplayRun, error) {
	pl, err := replay.NewPlayer(ctx, replay.PlayerConfig{Source: r.lib, From: p.From, To: p.To, Speed: p.Speed,
		Publisher: pub, Wait: p.Wait, Logger: r.log})
	if err != nil {
		if errors.Is(err, replay.ErrBadRequest) {
			return nil, fmt.Errorf("%w: %v", feed.ErrReplayRequest, err)
		}
		return nil, err
	}
	return pl, nil
}

// dirSource is a recordings directory that may still be growing: every Range and Open reads it afresh.
type dirSource struct {
	dir string
	log *slog.Logger
}

func (d dirSource) Range(ctx context.Context) (time.Time, time.Time, error) {
	r, err := replay.OpenDirLogger(d.dir, d.log)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	defer r.Close()
	return r.Range(ctx)
}

// Symbols lists the symbols of the recording's indexes.
func (d dirSource) Symbols(ctx context.Context) ([]string, error) {
	r, err := replay.OpenDirLogger(d.dir, d.log)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return replay.RecordingSymbols(r), nil
}

func (d dirSource) Open(ctx context.Context, from time.Time) (replay.Cursor, error) {
	r, err := replay.OpenDirLogger(d.dir, d.log)
	if err != nil {
		return nil, err
	}
	return r.Open(ctx, from)
}

// kafkaSource is the topic as replay history; which symbols it holds is left to the live feed, which reads
// the same topic (reading the whole topic to list them would cost as much as a replay).
type kafkaSource struct{ *replay.Kafka }

func (kafkaSource) Symbols(context.Context) ([]string, error) { return nil, nil }

// playInput plays a recording once into the node's books, then keeps them as they ended until the node
// stops.
type playInput struct {
	cfg replay.PlayerConfig
	log *slog.Logger
	p   atomic.Pointer[replay.Player]
}

func (in *playInput) Ready() bool { return in.p.Load() != nil }

func (in *playInput) Do(ctx context.Context, symbol string, fn func(b *book.Book)) error {
	p := in.p.Load()
	if p == nil {
		return ingest.ErrClosed
	}
	return p.Do(ctx, symbol, fn)
}

func (in *playInput) Run(ctx context.Context) error {
	p, err := replay.NewPlayer(ctx, in.cfg)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer p.Close()
	in.p.Store(p)
	defer in.p.Store(nil)
	in.log.Info("replay: playing", "from", timeOr(in.cfg.From, "start"), "to", timeOr(in.cfg.To, "end"), "speed", in.cfg.Speed)
	t0 := time.Now()
	if err := p.Run(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	in.log.Info("replay: finished; serving the books as they ended", "took", time.Since(t0).Round(time.Millisecond))
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

// replayFlags are the /replay settings of serve and replay.
type replayFlags struct {
	maxReplays int
}

func (f *replayFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&f.maxReplays, "max-replays", feed.DefaultMaxReplays, "replays running at once on /replay before requests get limit_exceeded")
}

// timeFlag is an optional RFC 3339 time.
type timeFlag struct{ t time.Time }

func (f *timeFlag) String() string {
	if f.t.IsZero() {
		return ""
	}
	return f.t.Format(time.RFC3339Nano)
}

func (f *timeFlag) Set(v string) error {
	if v == "" {
		f.t = time.Time{}
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return fmt.Errorf("%q is not an RFC 3339 time", v)
	}
	f.t = t
	return nil
}

func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("replay", "replay --in DIR [--speed 1] [--from T] [--to T] [flags]",
		"Plays a recording (made by record or demo --record) through the same ingest, book and feed path as\n"+
			"serve, without Kafka: the feed at ws://LISTEN/ws, the dashboard, the HTTP endpoints, and /replay for\n"+
			"private replays of the same recording. The same recording always gives the same messages.", stderr)
	var lf logFlags
	var ff feedFlags
	var rf replayFlags
	var sf securityFlags
	var from, to timeFlag
	lf.register(fs)
	ff.register(fs, "127.0.0.1:8080")
	rf.register(fs)
	sf.register(fs)
	in := fs.String("in", "", "recording directory to play (required)")
	speed := fs.Float64("speed", 1, "factor of recorded time: 1 as recorded, 10 ten times faster, 0 as fast as possible")
	fs.Var(&from, "from", "start of the replay, RFC 3339 (default: the start of the recording)")
	fs.Var(&to, "to", "end of the replay, RFC 3339 (default: the end of the recording)")
	if err := parseFlags(fs, args); err != nil {
		return usageErr(err)
	}
	if *in == "" {
		return usageError{errString("--in is required (or DEPTHCAST_IN)")}
	}
	log, err := lf.logger(stderr)
	if err != nil {
		return usageError{err}
	}
	rec, err := replay.OpenDirLogger(*in, log.With("component", "replay"))
	if err != nil {
		return fmt.Errorf("open recording: %w", err)
	}
	defer rec.Close()
	if *speed < 0 || *speed > replay.MaxSpeed {
		return usageError{fmt.Errorf("--speed %v out of range 0..%d", *speed, replay.MaxSpeed)}
	}
	if !from.t.IsZero() && !to.t.IsZero() && from.t.After(to.t) {
		return usageError{errString("--from is after --to")}
	}
	pcfg := replay.PlayerConfig{Source: rec, From: from.t, To: to.t, Speed: *speed, Logger: log.With("component", "ingest")}
	fcfg := ff.config()
	tlsCfg, keys, err := sf.apply(&fcfg)
	if err != nil {
		return usageError{err}
	}
	fcfg.Replayer = newReplayer(rec, log.With("component", "replay"))
	fcfg.MaxReplays = rf.maxReplays
	m, err := NewMain(MainConfig{Listen: ff.listen, ShutdownTimeout: ff.shutdownTimeout, Feed: fcfg, Logger: log, TLS: tlsCfg,
		Input: func(pub ingest.Publisher) (Input, error) {
			cfg := pcfg
			cfg.Publisher = pub
			return &playInput{cfg: cfg, log: log.With("component", "replay")}, nil
		}})
	if err != nil {
		return usageError{err}
	}
	sf.warnIfOpen(log)
	return runNode(ctx, m, keys, log, stdout, func(w io.Writer) {
		fmt.Fprintf(w, "  replay     %s://%s/replay\n  recording  %s\n", wsScheme(m.TLS()), m.Addr(), *in)
	})
}
