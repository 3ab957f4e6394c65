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
	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/ingest"
	"github.com/depthcast/depthcast/internal/kafkatopic"
	"github.com/depthcast/depthcast/replay"
	"github.com/depthcast/depthcast/schema"
	"github.com/segmentio/kafka-go"
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

	rec, err := replay.NewRecorder(rcfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	tap := newRecordTap(rec, cancel, until)
	icfg.Books.Tap = tap
	consumer, err := ingest.New(icfg, discardPublisher{})
	if err != nil {
		_ = rec.Close()
		return err
	}
	log.Info("recording", "brokers", []string(brokers), "topic", icfg.Topic, "out", *out, "from", *from, "to", *to)
	var wg sync.WaitGroup
	if !until.IsZero() {
		wg.Go(func() { tap.watch(ctx, icfg, log) })
	}
	runErr := consumer.Run(ctx)
	cancel(nil)
	wg.Wait()
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

// startRecording starts a recorder of cfg and sets it as icfg's tap: a failed write cancels the command
// with the error. The caller closes the recorder after the consumer stopped.
func startRecording(cfg replay.RecorderConfig, cancel context.CancelCauseFunc, icfg *ingest.Config) (*replay.Recorder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, usageError{err}
	}
	rec, err := replay.NewRecorder(cfg)
	if err != nil {
		return nil, err
	}
	icfg.Books.Tap = newRecordTap(rec, cancel, time.Time{})
	return rec, nil
}

// discardPublisher drops what the writers do: record builds the books (so that what it records went through
// the same checks as a feed node's input) and keeps nothing of them.
type discardPublisher struct{}

func (discardPublisher) PublishBook(*book.Book, bool)           {}
func (discardPublisher) PublishTrade(*book.Book, *schema.Event) {}
func (discardPublisher) PublishStatus(*book.Book)               {}

// recordTap writes every record the consumer reads to the recorder. A write failure cancels the command
// with the error (ingest only logs and counts it). With an until time it drops records stamped after it
// and tracks, per partition, whether the recording is complete.
type recordTap struct {
	rec    *replay.Recorder
	cancel context.CancelCauseFunc
	until  time.Time

	mu   sync.Mutex
	next map[int]int64 // next offset per partition, after the last record seen
	done map[int]bool  // partitions past until
}

var _ engine.Tap = (*recordTap)(nil)

func newRecordTap(rec *replay.Recorder, cancel context.CancelCauseFunc, until time.Time) *recordTap {
	return &recordTap{rec: rec, cancel: cancel, until: until, next: map[int]int64{}, done: map[int]bool{}}
}

func (t *recordTap) Tap(_ context.Context, r engine.Record) error {
	if !t.until.IsZero() {
		t.mu.Lock()
		t.next[r.Partition] = r.Offset + 1
		if r.Time.After(t.until) {
			t.done[r.Partition] = true
		}
		skip := t.done[r.Partition]
		t.mu.Unlock()
		if skip {
			return nil
		}
	}
	if err := t.rec.Write(r); err != nil {
		t.cancel(fmt.Errorf("recording failed at partition %d offset %d: %w", r.Partition, r.Offset, err))
		return err
	}
	return nil
}

// watch stops the command once every partition is done: past until (a record stamped after it), or read up
// to the end offset listed once until has passed.
func (t *recordTap) watch(ctx context.Context, icfg ingest.Config, log *slog.Logger) {
	transport := &kafka.Transport{ClientID: "depthcast-record", DialTimeout: 5 * time.Second}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(icfg.Brokers...), Transport: transport, Timeout: 10 * time.Second}
	var starts, ends map[int]int64
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		if ends == nil && !time.Now().Before(t.until) {
			var err error
			if starts, ends, err = partitionBounds(ctx, client, icfg); err != nil {
				ends = nil
				if ctx.Err() == nil {
					log.Warn("record: cannot list the partitions' offsets, retrying", "err", err)
				}
			}
		}
		if ends != nil && t.complete(starts, ends) {
			log.Info("record: every partition has passed --to", "to", t.until.Format(time.RFC3339Nano))
			t.cancel(nil)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// complete reports whether every partition is done: past until, or read up to its end. A partition nothing
// was read from is done when it holds nothing from where reading started.
func (t *recordTap) complete(starts, ends map[int]int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for p, end := range ends {
		next, seen := t.next[p]
		if !seen {
			next = starts[p]
		}
		if !t.done[p] && next < end {
			return false
		}
	}
	return true
}

// partitionBounds lists, for every partition the consumer reads, the offset it starts at (as the consumer
// computes it from Config.Start; with "latest", the end now) and the end offset now.
func partitionBounds(ctx context.Context, client *kafka.Client, icfg ingest.Config) (starts, ends map[int]int64, err error) {
	from, err := kafkatopic.ParseStart(icfg.Start)
	if err != nil {
		return nil, nil, err
	}
	b, err := kafkatopic.ReadBounds(ctx, client, icfg.Topic, icfg.Partitions, from, kafka.ReadCommitted)
	if err != nil {
		return nil, nil, err
	}
	return b.Start, b.End, nil
}
