package ingest

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"time"

	"github.com/depthcast/depthcast/book"
	"github.com/depthcast/depthcast/schema"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
)

// Defaults for the zero values of Config.
const (
	DefaultTopic            = "md.events"
	DefaultStart            = "earliest"
	DefaultQueueSize        = 4096
	DefaultMaxWait          = 500 * time.Millisecond
	DefaultMinBytes         = 1
	DefaultMaxBytes         = 1 << 20
	DefaultPollInterval     = 5 * time.Second
	DefaultStallTimeout     = 30 * time.Second
	DefaultDeadLetterBuffer = 1024
	DefaultOutageTimeout    = 15 * time.Second
	// DefaultMaxBookLevels is the default limit of levels per side of a book.
	DefaultMaxBookLevels = book.DefaultMaxLevels
)

// Start positions accepted by Config.Start besides an RFC 3339 time.
const (
	StartEarliest = "earliest"
	StartLatest   = "latest"
)

// Config configures a Consumer. The zero value of every field but Brokers means its documented default;
// WithDefaults returns the config with those defaults filled in.
type Config struct {
	// Brokers are the bootstrap addresses, host:port. Required.
	Brokers []string
	// Topic is the topic of upstream events. Default "md.events".
	Topic string
	// Partitions, when not empty, restricts the consumer to these partitions of Topic (nodes that split the
	// symbols between them read disjoint partition sets). Default: every partition of the topic.
	Partitions []int
	// Start is where reading begins in every partition: "earliest" (default), "latest", or an RFC 3339 time
	// (the first record at or after it; partitions with nothing that recent start at their end).
	Start string
	// ClientID identifies the consumer to the brokers. Default "depthcast".
	ClientID string

	// Shards is the number of writer goroutines; each symbol belongs to exactly one. Default GOMAXPROCS.
	Shards int
	// QueueSize bounds each shard's hand-off queue (events). When a queue is full the partition readers
	// feeding it block, so a slow book step slows Kafka reads instead of growing memory. Default 4096.
	QueueSize int
	// MaxBookLevels is the most levels a side of one book may hold. A snapshot or delta that would pass it is
	// refused (reason too_many_levels) and the book goes stale until a snapshot within the limit. Default
	// 10000.
	MaxBookLevels int

	// MaxWait is how long a fetch waits for MinBytes to be available. Default 500ms.
	MaxWait time.Duration
	// MinBytes is the least a fetch waits for. Default 1.
	MinBytes int
	// MaxBytes is the most one fetch returns. Default 1 MiB.
	MaxBytes int

	// PollInterval is how often the consumer reads the partitions' high watermarks to report lag and to
	// detect a stuck reader. Default 5s.
	PollInterval time.Duration
	// StallTimeout: a partition reader that made no progress for this long while its partition has records
	// past its position is restarted at its position (guards against a fetch that hangs). The wait
	// is timed from the first poll (PollInterval) that sees it, so a restart comes up to one PollInterval
	// later than StallTimeout. Default 30s.
	StallTimeout time.Duration

	// DeadLetterTopic, when set, receives a copy of every rejected record (same key and value) with headers
	// "depthcast-reason", "depthcast-error", "depthcast-partition" and "depthcast-offset". Empty: off.
	DeadLetterTopic string
	// DeadLetterBuffer bounds the records waiting for the dead-letter writer; past it they are dropped (and
	// counted) rather than slowing ingestion. Default 1024.
	DeadLetterBuffer int

	// Tap, when set, sees every record the partition readers submit, raw (see Tap). Default: none.
	Tap Tap
	// OutageTimeout: a partition that for this long has neither delivered a record nor been seen caught up
	// with its high watermark (broker gone, fetches failing) is in an outage: its live books are marked
	// stale, and Ready is false, until it reads again. Default 15s.
	OutageTimeout time.Duration

	// Logger receives warnings (rejected records, rate-limited) and lifecycle logs. Default slog.Default().
	Logger *slog.Logger
	// Meter creates the ingest metrics. Default: a no-op meter.
	Meter metric.Meter
	// TracerProvider, when set, traces ingestion: a span per batch of records a partition reader hands to
	// the writers, and a span per shard drain linked to those batches. Default: none (no spans, no cost).
	TracerProvider trace.TracerProvider
}

// WithDefaults returns a copy of c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.Topic == "" {
		c.Topic = DefaultTopic
	}
	if c.Start == "" {
		c.Start = DefaultStart
	}
	if c.ClientID == "" {
		c.ClientID = "depthcast"
	}
	// The writers' settings default as a Pipeline's do.
	pc := c.pipelineConfig().WithDefaults()
	c.Shards, c.QueueSize, c.Logger, c.Meter = pc.Shards, pc.QueueSize, pc.Logger, pc.Meter
	c.MaxBookLevels = pc.MaxBookLevels
	if c.MaxWait == 0 {
		c.MaxWait = DefaultMaxWait
	}
	if c.MinBytes == 0 {
		c.MinBytes = DefaultMinBytes
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.StallTimeout == 0 {
		c.StallTimeout = DefaultStallTimeout
	}
	if c.DeadLetterBuffer == 0 {
		c.DeadLetterBuffer = DefaultDeadLetterBuffer
	}
	if c.OutageTimeout == 0 {
		c.OutageTimeout = DefaultOutageTimeout
	}
	return c
}

// Validate reports the first invalid field of c after defaults are applied.
func (c Config) Validate() error {
	c = c.WithDefaults()
	if len(c.Brokers) == 0 {
		return errors.New("ingest: no brokers")
	}
	for _, b := range c.Brokers {
		if strings.TrimSpace(b) == "" {
			return errors.New("ingest: empty broker address")
		}
	}
	if _, _, err := c.startPosition(); err != nil {
		return err
	}
	for _, p := range c.Partitions {
		if p < 0 {
			return fmt.Errorf("ingest: negative partition %d", p)
		}
	}
	if c.DeadLetterTopic != "" && c.DeadLetterTopic == c.Topic {
		return errors.New("ingest: the dead-letter topic must differ from the input topic")
	}
	if c.MaxWait < 0 || c.MinBytes < 0 || c.MaxBytes < 0 || c.PollInterval < 0 || c.StallTimeout < 0 || c.DeadLetterBuffer < 0 {
		return errors.New("ingest: negative duration or size")
	}
	if c.StallTimeout < 2*c.MaxWait {
		return fmt.Errorf("ingest: StallTimeout %v must be at least twice MaxWait %v", c.StallTimeout, c.MaxWait)
	}
	if c.OutageTimeout < 0 {
		return errors.New("ingest: negative OutageTimeout")
	}
	if c.MinBytes > c.MaxBytes {
		return fmt.Errorf("ingest: MinBytes %d above MaxBytes %d", c.MinBytes, c.MaxBytes)
	}
	return c.pipelineConfig().Validate()
}

// startPosition parses Start: exactly one of the results is meaningful (kind "earliest", "latest" or "time").
func (c Config) startPosition() (kind string, at time.Time, err error) {
	switch c.Start {
	case "", StartEarliest:
		return StartEarliest, time.Time{}, nil
	case StartLatest:
		return StartLatest, time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, c.Start)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("ingest: start %q is not earliest, latest or an RFC 3339 time", c.Start)
	}
	return "time", t, nil
}

func (c Config) pipelineConfig() PipelineConfig {
	return PipelineConfig{Shards: c.Shards, QueueSize: c.QueueSize, Logger: c.Logger, Meter: c.Meter,
		TracerProvider: c.TracerProvider, MaxBookLevels: c.MaxBookLevels}
}

// PipelineConfig configures a Pipeline on its own (without Kafka).
type PipelineConfig struct {
	// Shards is the number of writer goroutines. Default GOMAXPROCS.
	Shards int
	// QueueSize bounds each shard's hand-off queue. Default 4096.
	QueueSize int
	// MaxBookLevels is the most levels a side of one book may hold; past it the record is refused
	// (too_many_levels) and the book goes stale until a snapshot within the limit. Default 10000.
	MaxBookLevels int
	// Logger for rejected records (rate-limited). Default slog.Default().
	Logger *slog.Logger
	// Meter for the ingest metrics. Default no-op.
	Meter metric.Meter
	// TracerProvider, when set, traces the writers: a span per shard drain. Default: none.
	TracerProvider trace.TracerProvider
	// OnReject, when set, is called for every rejected record (decode/validation failure or a book refusal),
	// from the goroutine that rejected it (a Submit caller or a writer). It must not block for long.
	OnReject func(rec Record, reason schema.Reason, err error)
}

// WithDefaults returns a copy of c with every zero field set to its default.
func (c PipelineConfig) WithDefaults() PipelineConfig {
	if c.Shards == 0 {
		c.Shards = runtime.GOMAXPROCS(0)
	}
	if c.QueueSize == 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.MaxBookLevels == 0 {
		c.MaxBookLevels = DefaultMaxBookLevels
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Meter == nil {
		c.Meter = noop.NewMeterProvider().Meter("")
	}
	return c
}

// Validate reports an invalid field of c after defaults are applied.
func (c PipelineConfig) Validate() error {
	c = c.WithDefaults()
	if c.Shards < 1 || c.Shards > 4096 {
		return fmt.Errorf("ingest: shards %d out of 1..4096", c.Shards)
	}
	if c.QueueSize < 1 {
		return fmt.Errorf("ingest: queue size %d below 1", c.QueueSize)
	}
	if c.MaxBookLevels < 1 || c.MaxBookLevels > 10_000_000 {
		return fmt.Errorf("ingest: max book levels %d out of 1..10000000", c.MaxBookLevels)
	}
	return nil
}
