package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/feed"
	"github.com/depthcast/depthcast/node"
	"github.com/depthcast/depthcast/replay"
)

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
	if err := feed.CheckReplaySpeed(*speed); err != nil {
		return usageError{fmt.Errorf("--speed: %w", err)}
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
	fcfg.Replayer = replay.NewHistory(rec, log.With("component", "replay"))
	fcfg.MaxReplays = rf.maxReplays
	ncfg := node.Config{Listen: ff.listen, Hub: ff.hubConfig(), ShutdownTimeout: ff.shutdownTimeout, Feed: fcfg, Logger: log, TLS: tlsCfg,
		Input: func(pub engine.Publisher) (node.Input, error) {
			cfg := pcfg
			cfg.Publisher = pub
			return replay.NewStream(cfg, log.With("component", "replay")), nil
		}}
	if err := ncfg.Validate(); err != nil {
		return usageError{err}
	}
	sf.warnIfOpen(log)
	return runNode(ctx, ncfg, keys, log, stdout, func(w io.Writer, n *node.Node) {
		fmt.Fprintf(w, "  replay     %s://%s/replay\n  recording  %s\n", wsScheme(n.TLS()), n.Addr(), *in)
	})
}
