package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/depthcast/depthcast/book"
	"github.com/depthcast/depthcast/ingest"
	"github.com/depthcast/depthcast/internal/kafkatopic"
	"github.com/depthcast/depthcast/replay"
	"github.com/depthcast/depthcast/schema"
)

// recorderFlags map onto replay.RecorderConfig.
type recorderFlags struct {
	segmentBytes  int64
	segmentAge    time.Duration
	blockBytes    int
	flushInterval time.Duration
}

func (f *recorderFlags) register(fs *flag.FlagSet) {
	fs.Int64Var(&f.segmentBytes, "segment-bytes", replay.DefaultSegmentBytes, "start a new segment file once one reaches this size")
	fs.DurationVar(&f.segmentAge, "segment-age", replay.DefaultSegmentAge, "start a new segment file once one is this old")
	fs.IntVar(&f.blockBytes, "block-bytes", replay.DefaultBlockBytes, "uncompressed bytes per block (smaller: finer seeking, worse compression)")
	fs.DurationVar(&f.flushInterval, "flush-interval", replay.DefaultFlushInterval, "write the open block at least this often (what a crash can lose)")
}

func (f *recorderFlags) config(dir string, log *slog.Logger) replay.RecorderConfig {
	return replay.RecorderConfig{Dir: dir, SegmentBytes: f.segmentBytes, SegmentAge: f.segmentAge, BlockBytes: f.blockBytes,
		FlushInterval: f.flushInterval, Logger: log}
}

func runRecord(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("record", "record --brokers HOST:PORT[,HOST:PORT…] --out DIR [--from T] [--to T|now] [flags]",
		"Records the raw stream of a topic (partition, offset, timestamp, key, value of every record) into DIR as\n"+
			"compressed, checksummed segments with a time index, for replays. It reads every partition from --from\n"+
			"(earliest, latest or an RFC 3339 time) through the same ingestion path as serve, and stops on SIGINT or\n"+
			"SIGTERM, or, with --to, once every partition has passed that time: a partition is done at its first\n"+
			"record stamped after it, or once it is read up to its end as seen after that time (--to now: the end\n"+
			"at start). Records stamped after --to are not recorded.", stderr)
	var lf logFlags
	var rf recorderFlags
	var brokers listFlag
	lf.register(fs)
	rf.register(fs)
	fs.Var(&brokers, "brokers", "Kafka bootstrap brokers, host:port[,host:port…] (required)")
	topic := fs.String("topic", kafkatopic.DefaultTopic, "Kafka topic of upstream events")
	partitions := fs.String("partitions", "", "record only these partitions, e.g. 0,1,2 (default: all)")
	out := fs.String("out", "", "directory of the recording; created if missing, must not hold one already (required)")
	from := fs.String("from", kafkatopic.Earliest, "where to start in every partition: earliest, latest or an RFC 3339 time")
	to := fs.String("to", "", "stop once every partition has passed this RFC 3339 time, or \"now\" (default: run until stopped)")
	if err := parseFlags(fs, args); err != nil {
		return usageErr(err)
	}
	if len(brokers) == 0 {
		return usageError{errString("--brokers is required (or DEPTHCAST_BROKERS)")}
	}
	if *out == "" {
		return usageError{errString("--out is required (or DEPTHCAST_OUT)")}
	}
	log, err := lf.logger(stderr)
	if err != nil {
		return usageError{err}
	}
	inf := ingestFlags{brokers: brokers, topic: *topic, start: *from, partitions: *partitions}
	icfg, err := inf.config()
	if err != nil {
		return usageError{err}
	}
	icfg.Logger = log.With("component", "ingest")
	var until time.Time
	switch *to {
	case "":
	case "now":
		until = time.Now()
	default:
		if until, err = time.Parse(time.RFC3339Nano, *to); err != nil {
			return usageError{fmt.Errorf("--to %q: want \"now\" or an RFC 3339 time", *to)}
		}
	}
	rcfg := rf.config(*out, log.With("component", "recorder"))
	if err := rcfg.Validate(); err != nil {
		return usageError{err}
	}
	if err := icfg.Validate(); err != nil {
		return usageError{err}
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	rec, wait, err := startRecording(ctx, cancel, rcfg, until, &icfg)
	if err != nil {
		return err
	}
	consumer, err := ingest.New(icfg, discardPublisher{})
	if err != nil {
		cancel(nil)
		wait()
		_ = rec.Close()
		return err
	}
	log.Info("recording", "brokers", []string(brokers), "topic", icfg.Topic, "out", *out, "from", *from, "to", *to)
	runErr := consumer.Run(ctx)
	cancel(nil)
	wait()
	closeErr := rec.Close()
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	if runErr != nil {
		return runErr
	}
	if closeErr != nil {
		return closeErr
	}
	fmt.Fprintf(stdout, "recorded %d records to %s\n", rec.Records(), *out)
	return nil
}

// startRecording starts a recorder of cfg and a capture over it as icfg's tap (see replay.Capture: with
// until, it completes once every partition the consumer reads has passed it). When the capture completes,
// ctx is cancelled; when a write fails, ctx is cancelled with the error. wait waits for the capture's
// goroutine once ctx is done; the caller closes the recorder after the consumer stopped.
func startRecording(ctx context.Context, cancel context.CancelCauseFunc, cfg replay.RecorderConfig, until time.Time, icfg *ingest.Config) (rec *replay.Recorder, wait func(), err error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, usageError{err}
	}
	if rec, err = replay.NewRecorder(cfg); err != nil {
		return nil, nil, err
	}
	capture, err := replay.NewCapture(replay.CaptureConfig{Recorder: rec, Until: until, Brokers: icfg.Brokers, Topic: icfg.Topic,
		Partitions: icfg.Partitions, Start: icfg.Start, Logger: cfg.Logger})
	if err != nil {
		_ = rec.Close()
		return nil, nil, err
	}
	icfg.Books.Tap = capture
	var wg sync.WaitGroup
	wg.Go(func() { cancel(capture.Run(ctx)) })
	return rec, wg.Wait, nil
}

// discardPublisher drops what the writers do: record builds the books (so that what it records went through
// the same checks as a feed node's input) and keeps nothing of them.
type discardPublisher struct{}

func (discardPublisher) PublishBook(*book.Book, bool)           {}
func (discardPublisher) PublishTrade(*book.Book, *schema.Event) {}
func (discardPublisher) PublishStatus(*book.Book)               {}
