package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/depthcast/depthcast/internal/kafkatopic"
	"github.com/segmentio/kafka-go"
)

// Defaults of WriterConfig.
const (
	DefaultRate       = 2000 // events per second, the CLI default; a zero Rate means unlimited
	DefaultPartitions = 3
	// maxBatch bounds the events written in one synchronous WriteMessages call.
	maxBatch = 4096
	// writeGrace is how long a write already started may go on after the context is cancelled.
	writeGrace = 10 * time.Second
)

// WriterConfig configures Run.
type WriterConfig struct {
	// Brokers are the bootstrap brokers, host:port. Required.
	Brokers []string
	// Topic is the topic to write to (default "md.events").
	Topic string
	// Rate is the number of events per second. 0 writes as fast as the cluster takes them; callers that
	// want the usual pace pass DefaultRate (2000).
	Rate float64
	// Logger receives a line at start and at end, and write errors (default slog.Default()).
	Logger *slog.Logger
	// Compression of the record batches: "" or "none", "gzip", "snappy", "lz4" or "zstd".
	Compression string
	// CreateTopic makes Run create Topic when it does not exist, with Partitions partitions (default 3) and
	// ReplicationFactor replicas (default 1). Without it a missing topic is an error.
	CreateTopic       bool
	Partitions        int
	ReplicationFactor int
	// MaxEvents, when above zero, makes Run return nil once that many events are written.
	MaxEvents uint64
}

// Validate reports a missing or out-of-range field. Zero fields other than Brokers take their defaults.
func (c WriterConfig) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("sim: no Kafka brokers"))
	}
	for _, b := range c.Brokers {
		if strings.TrimSpace(b) == "" {
			errs = append(errs, errors.New("sim: empty broker address"))
			break
		}
	}
	if c.Rate < 0 || c.Rate != c.Rate {
		errs = append(errs, fmt.Errorf("sim: Rate %v is negative", c.Rate))
	}
	if _, err := compression(c.Compression); err != nil {
		errs = append(errs, err)
	}
	if c.Partitions < 0 || c.ReplicationFactor < 0 {
		errs = append(errs, errors.New("sim: negative Partitions or ReplicationFactor"))
	}
	return errors.Join(errs...)
}

func compression(name string) (kafka.Compression, error) {
	switch strings.ToLower(name) {
	case "", "none":
		return 0, nil
	case "gzip":
		return kafka.Gzip, nil
	case "snappy":
		return kafka.Snappy, nil
	case "lz4":
		return kafka.Lz4, nil
	case "zstd":
		return kafka.Zstd, nil
	}
	return 0, fmt.Errorf("sim: unknown compression %q (want gzip, snappy, lz4 or zstd)", name)
}

// Run writes x's events to Kafka at cfg.Rate until ctx is done (or MaxEvents are written), and returns nil
// then. Records are keyed by symbol and partitioned with murmur2 like the Java client and franz-go, so one
// symbol stays on one partition, in order.
//
// Writes are synchronous batches of up to 4096 events (BatchTimeout 2 ms, acks from all in-sync
// replicas) over a dedicated Transport. When ctx is done between batches Run stops at once; a batch already
// being written is given up to 10 s to finish, so a consumer never sees a symbol's events half-written and then
// more. Run checks that the topic exists first, creating it when cfg.CreateTopic is set. Any other error
// (the cluster unreachable, a write that fails after kafka-go's retries) stops Run and is returned; the events
// of a failed batch are lost, which a consumer sees as a gap.
//
// At a given rate Run paces itself in ticks of 5 ms or more; when the cluster falls more than a second
// behind, the backlog is dropped rather than burst (the events are generated later instead, so nothing is
// skipped in the stream). Run must be the only caller of x.Next while it runs.
func Run(ctx context.Context, x *Exchange, cfg WriterConfig) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.Topic == "" {
		cfg.Topic = kafkatopic.DefaultTopic
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	codec, _ := compression(cfg.Compression)
	transport := &kafka.Transport{ClientID: "depthcast-sim", DialTimeout: 5 * time.Second}
	defer transport.CloseIdleConnections()
	if err := ensureTopic(ctx, transport, cfg); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	w := &kafka.Writer{
		Addr:         kafka.TCP(cfg.Brokers...),
		Topic:        cfg.Topic,
		Balancer:     kafka.Murmur2Balancer{},
		BatchSize:    maxBatch,
		BatchTimeout: 2 * time.Millisecond,
		RequiredAcks: kafka.RequireAll,
		Compression:  codec,
		Transport:    transport,
	}
	// Writes run under their own context, cancelled writeGrace after ctx is done, so that cancelling ctx
	// does not cut a batch in the middle.
	wctx, wcancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		select {
		case <-ctx.Done():
			select {
			case <-time.After(writeGrace):
				wcancel()
			case <-stop:
			}
		case <-stop:
		}
	})
	defer func() {
		close(stop)
		wg.Wait()
		wcancel()
	}()

	log.Info("sim: writing events", "brokers", cfg.Brokers, "topic", cfg.Topic, "rate", cfg.Rate,
		"symbols", len(x.books), "compression", cfg.Compression)
	var written uint64
	err := produce(ctx, x, cfg, func(msgs []kafka.Message) error {
		if err := w.WriteMessages(wctx, msgs...); err != nil {
			return err
		}
		written += uint64(len(msgs))
		return nil
	})
	if cerr := w.Close(); err == nil && cerr != nil && ctx.Err() == nil {
		err = cerr
	}
	if err != nil && ctx.Err() != nil {
		log.Warn("sim: write interrupted by shutdown", "err", err)
		err = nil
	}
	if err != nil {
		log.Error("sim: write failed", "err", err, "written", written)
		return fmt.Errorf("sim: writing to %s: %w", cfg.Topic, err)
	}
	log.Info("sim: stopped", "written", written)
	return nil
}

// produce generates batches at the configured pace and hands them to write.
func produce(ctx context.Context, x *Exchange, cfg WriterConfig, write func([]kafka.Message) error) error {
	msgs := make([]kafka.Message, 0, maxBatch)
	var sent uint64
	batch := func(n uint64) error {
		if cfg.MaxEvents > 0 {
			n = min(n, cfg.MaxEvents-sent)
		}
		msgs = msgs[:0]
		for range n {
			ev := x.Next()
			msgs = append(msgs, kafka.Message{Key: []byte(ev.Key), Value: ev.Value, Time: ev.Time})
		}
		sent += n
		return write(msgs)
	}
	done := func() bool { return cfg.MaxEvents > 0 && sent >= cfg.MaxEvents }

	if cfg.Rate == 0 {
		for ctx.Err() == nil && !done() {
			if err := batch(maxBatch); err != nil {
				return err
			}
		}
		return nil
	}
	interval := max(5*time.Millisecond, time.Duration(float64(time.Second)/cfg.Rate))
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	start := time.Now()
	var base uint64 // events forgiven when the writes fell behind
	for !done() {
		due := uint64(cfg.Rate*time.Since(start).Seconds()) + 1 - base
		if due > sent {
			n := due - sent
			if float64(n) > cfg.Rate+maxBatch { // more than a second behind: drop the backlog
				base += n - maxBatch
				n = maxBatch
			}
			for n > 0 && !done() && ctx.Err() == nil {
				k := min(n, maxBatch)
				if err := batch(k); err != nil {
					return err
				}
				n -= k
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
	return nil
}

// ensureTopic checks that cfg.Topic exists, creating it when cfg.CreateTopic is set.
func ensureTopic(ctx context.Context, transport *kafka.Transport, cfg WriterConfig) error {
	client := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Transport: transport, Timeout: 10 * time.Second}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{cfg.Topic}})
	if err != nil {
		return fmt.Errorf("sim: reading metadata from %v: %w", cfg.Brokers, err)
	}
	for _, t := range md.Topics {
		if t.Name != cfg.Topic {
			continue
		}
		if t.Error == nil && len(t.Partitions) > 0 {
			return nil
		}
		if t.Error != nil && !errors.Is(t.Error, kafka.UnknownTopicOrPartition) {
			return fmt.Errorf("sim: topic %s: %w", cfg.Topic, t.Error)
		}
	}
	if !cfg.CreateTopic {
		return fmt.Errorf("sim: topic %s does not exist (create it, or set CreateTopic)", cfg.Topic)
	}
	parts, repl := cfg.Partitions, cfg.ReplicationFactor
	if parts == 0 {
		parts = DefaultPartitions
	}
	if repl == 0 {
		repl = 1
	}
	res, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: cfg.Topic, NumPartitions: parts, ReplicationFactor: repl,
	}}})
	if err != nil {
		return fmt.Errorf("sim: creating topic %s: %w", cfg.Topic, err)
	}
	if err := res.Errors[cfg.Topic]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("sim: creating topic %s: %w", cfg.Topic, err)
	}
	return nil
}
