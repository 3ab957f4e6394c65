package main

import (
	"context"
	"io"

	"github.com/depthcast/depthcast/internal/kafkatopic"
	"github.com/depthcast/depthcast/sim"
)

func runSimulate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("simulate", "simulate --brokers HOST:PORT[,HOST:PORT…] [flags]",
		"Writes simulated order flow (snapshots, deltas, trades, occasional re-snapshots; deterministic for a\n"+
			"seed) to a Kafka topic, keyed by symbol, as upstream gateways do. Events and records carry the\n"+
			"current time unless --clock sim asks for the simulated clock (then the bytes are the same for a seed).", stderr)
	var lf logFlags
	var sf simFlags
	var brokers listFlag
	lf.register(fs)
	sf.register(fs)
	fs.Var(&brokers, "brokers", "Kafka bootstrap brokers, host:port[,host:port…] (required)")
	topic := fs.String("topic", kafkatopic.DefaultTopic, "topic to write to")
	compression := fs.String("compression", "", "record batch compression: none, gzip, snappy, lz4 or zstd")
	create := fs.Bool("create-topic", true, "create the topic when it does not exist")
	maxEvents := fs.Uint64("max-events", 0, "stop after this many events (0: run until stopped)")
	if err := parseFlags(fs, args); err != nil {
		return usageErr(err)
	}
	if len(brokers) == 0 {
		return usageError{errString("--brokers is required (or DEPTHCAST_BROKERS)")}
	}
	log, err := lf.logger(stderr)
	if err != nil {
		return usageError{err}
	}
	scfg, err := sf.config()
	if err != nil {
		return usageError{err}
	}
	x, err := sim.New(scfg)
	if err != nil {
		return usageError{err}
	}
	wcfg := sim.WriterConfig{Brokers: brokers, Topic: *topic, Rate: sf.rate, Logger: log,
		Compression: *compression, CreateTopic: *create, MaxEvents: *maxEvents}
	if err := wcfg.Validate(); err != nil {
		return usageError{err}
	}
	return sim.Run(ctx, x, wcfg)
}
