package main

import (
	"context"
	"io"

	"github.com/depthcast/depthcast/node"
	"github.com/depthcast/depthcast/replay"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "serve --brokers HOST:PORT[,HOST:PORT…] [flags]",
		"Reads order book events from a Kafka topic (every partition, no consumer group), keeps each symbol's book\n"+
			"and serves the WebSocket feed at ws://LISTEN/ws with the HTTP endpoints beside it.", stderr)
	var lf logFlags
	var ff feedFlags
	var inf ingestFlags
	var sf securityFlags
	lf.register(fs)
	ff.register(fs, "127.0.0.1:8080")
	inf.register(fs, true)
	registerMaxBookLevels(fs, &inf.maxLevels)
	sf.register(fs)
	var rf replayFlags
	rf.register(fs)
	recordings := fs.String("recordings", "", "recordings directory served on /replay (default: /replay reads the Kafka topic by timestamp)")
	lookback := fs.Duration("replay-lookback", 0, "with /replay on the Kafka topic: start reading this long before from (0: from the earliest retained record)")
	if err := parseFlags(fs, args); err != nil {
		return usageErr(err)
	}
	if len(inf.brokers) == 0 {
		return usageError{errString("--brokers is required (or DEPTHCAST_BROKERS)")}
	}
	log, err := lf.logger(stderr)
	if err != nil {
		return usageError{err}
	}
	icfg, err := inf.config()
	if err != nil {
		return usageError{err}
	}
	fcfg := ff.config()
	tlsCfg, keys, err := sf.apply(&fcfg)
	if err != nil {
		return usageError{err}
	}
	fcfg.MaxReplays = rf.maxReplays
	rlog := log.With("component", "replay")
	if *recordings != "" {
		fcfg.Replayer = replay.NewHistory(replay.Dir{Path: *recordings, Logger: rlog}, rlog)
	} else {
		k, err := replay.NewKafka(replay.KafkaConfig{Brokers: icfg.Brokers, Topic: icfg.Topic, Partitions: icfg.Partitions, Lookback: *lookback})
		if err != nil {
			return usageError{err}
		}
		defer k.Close()
		fcfg.Replayer = replay.NewHistory(k, rlog)
	}
	ncfg := node.Config{Listen: ff.listen, Hub: ff.hubConfig(), ShutdownTimeout: ff.shutdownTimeout, Ingest: icfg, Feed: fcfg, Logger: log, TLS: tlsCfg}
	if err := ncfg.Validate(); err != nil {
		return usageError{err}
	}
	sf.warnIfOpen(log)
	return runNode(ctx, ncfg, keys, log, stdout, nil)
}

type errString string

func (e errString) Error() string { return string(e) }

// usageErr marks flag parsing errors as usage errors, leaving --help alone.
func usageErr(err error) error {
	if err == nil {
		return nil
	}
	if isHelp(err) {
		return err
	}
	return usageError{err}
}
