package ingest

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/internal/kafkatopic"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
)

// Defaults for the zero values of Config (each field's doc gives its value). DefaultOutageTimeout is the
// depthcast command's flag default.
const (
	defaultStart            = kafkatopic.Earliest
	defaultMaxWait          = 500 * time.Millisecond
	defaultMinBytes         = 1
	defaultMaxBytes         = 1 << 20
	defaultPollInterval     = 5 * time.Second
	defaultStallTimeout     = 30 * time.Second
	defaultDeadLetterBuffer = 1024
	DefaultOutageTimeout    = 15 * time.Second
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
	// (the first record at or after it, found with ListOffsets by timestamp; partitions with nothing that
	// recent start at their end).
	Start string
	// ClientID identifies the consumer to the brokers. Default "depthcast".
	ClientID string

	// Books configures the books the consumer feeds: shards, queue size, the level limit, a Tap (see
	// engine.Config; its zero value means the engine's defaults). Its Logger, Meter and TracerProvider
	// default to the consumer's; with DeadLetterTopic set, its OnReject is called before the dead-letter copy
	// is queued. A partition reader blocks while the queue of a shard it feeds is full, so a slow book step
	// slows Kafka reads instead of growing memory.
	Books engine.Config

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

	// OutageTimeout: a partition that for this long has neither delivered a record nor been seen caught up
	// with its high watermark (broker gone, fetches failing) is in an outage: its live books are marked
	// stale, and Ready is false, until it reads again. Default 15s.
	OutageTimeout time.Duration

	// Logger receives warnings (rejected records, rate-limited) and lifecycle logs. Default slog.Default().
	Logger *slog.Logger
	// Meter creates the ingest metrics. Default: a no-op meter.
	Meter metric.Meter
	// TracerProvider, when set, traces ingestion: an "ingest.fetch" span per run of records a partition
	// reader hands to the writers, and an "ingest.apply" span per batch a writer applies, linked to it.
	// Both come from Books.TracerProvider, which defaults to this one. Default: none (no spans, no cost).
	TracerProvider trace.TracerProvider
}

// WithDefaults returns a copy of c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.Topic == "" {
		c.Topic = kafkatopic.DefaultTopic
	}
	if c.Start == "" {
		c.Start = defaultStart
	}
	if c.ClientID == "" {
		c.ClientID = "depthcast"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Meter == nil {
		c.Meter = noop.NewMeterProvider().Meter("")
	}
	if c.Books.Logger == nil {
		c.Books.Logger = c.Logger
	}
	if c.Books.Meter == nil {
		c.Books.Meter = c.Meter
	}
	if c.Books.TracerProvider == nil {
		c.Books.TracerProvider = c.TracerProvider
	}
	c.Books = c.Books.WithDefaults()
	if c.MaxWait == 0 {
		c.MaxWait = defaultMaxWait
	}
	if c.MinBytes == 0 {
		c.MinBytes = defaultMinBytes
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = defaultMaxBytes
	}
	if c.PollInterval == 0 {
		c.PollInterval = defaultPollInterval
	}
	if c.StallTimeout == 0 {
		c.StallTimeout = defaultStallTimeout
	}
	if c.DeadLetterBuffer == 0 {
		c.DeadLetterBuffer = defaultDeadLetterBuffer
	}
	if c.OutageTimeout == 0 {
		c.OutageTimeout = DefaultOutageTimeout
	}
	return c
}

// ErrConfig is wrapped by the errors of Validate.
var ErrConfig = errors.New("invalid Kafka input config")

// Validate reports the first invalid field of c after defaults are applied.
func (c Config) Validate() error {
	c = c.WithDefaults()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	if len(c.Brokers) == 0 {
		return bad("no brokers")
	}
	for _, b := range c.Brokers {
		if strings.TrimSpace(b) == "" {
			return bad("empty broker address")
		}
	}
	if _, err := kafkatopic.ParseStart(c.Start); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	for _, p := range c.Partitions {
		if p < 0 {
			return bad("negative partition %d", p)
		}
	}
	if c.DeadLetterTopic != "" && c.DeadLetterTopic == c.Topic {
		return bad("the dead-letter topic must differ from the input topic")
	}
	if c.MaxWait < 0 || c.MinBytes < 0 || c.MaxBytes < 0 || c.PollInterval < 0 || c.StallTimeout < 0 || c.DeadLetterBuffer < 0 {
		return bad("negative duration or size")
	}
	if c.StallTimeout < 2*c.MaxWait {
		return bad("StallTimeout %v must be at least twice MaxWait %v", c.StallTimeout, c.MaxWait)
	}
	if c.OutageTimeout < 0 {
		return bad("negative OutageTimeout")
	}
	if c.MinBytes > c.MaxBytes {
		return bad("MinBytes %d above MaxBytes %d", c.MinBytes, c.MaxBytes)
	}
	if err := c.Books.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}
