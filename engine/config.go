package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"

	"github.com/depthcast/depthcast/book"
	"github.com/depthcast/depthcast/schema"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
)

// Defaults of Config.
const (
	DefaultQueueSize = 4096
	// DefaultMaxBookLevels is the default limit of levels per side of a book.
	DefaultMaxBookLevels = book.DefaultMaxLevels
)

// Config configures a Pipeline. The zero value of every field means its documented default.
type Config struct {
	// Shards is the number of writer goroutines; each symbol belongs to exactly one. Default GOMAXPROCS.
	Shards int
	// QueueSize bounds each shard's hand-off queue (events). When a queue is full, Submit and a Batcher
	// feeding it block, so a slow book step slows the input instead of growing memory. Default 4096.
	QueueSize int
	// MaxBookLevels is the most levels a side of one book may hold; past it the record is refused
	// (too_many_levels) and the book goes stale until a snapshot within the limit. Default 10000.
	MaxBookLevels int
	// Logger for rejected records and gaps (rate-limited). Default slog.Default().
	Logger *slog.Logger
	// Meter for the writers' metrics (MetricEvents and the others). Default no-op.
	Meter metric.Meter
	// TracerProvider, when set, traces the writers: an "ingest.apply" span per batch a Batcher handed over
	// (and per event submitted alone), linked to the span its records were handed over under. Default: none
	// (no spans, no cost).
	TracerProvider trace.TracerProvider
	// OnReject, when set, is called for every rejected record (decode or validation failure, a key that is
	// not the symbol, or a book refusal), from the goroutine that rejected it (a Submit caller, a Batcher's
	// owner or a writer). It must not block for long.
	OnReject func(rec Record, reason schema.Reason, err error)
	// Tap, when set, sees every record handed to the pipeline (see Tap). Default: none.
	Tap Tap
}

// WithDefaults returns a copy of c with every zero field set to its default.
func (c Config) WithDefaults() Config {
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

// ErrConfig is wrapped by the errors of Validate.
var ErrConfig = errors.New("invalid books config")

// Validate reports an invalid field of c after defaults are applied.
func (c Config) Validate() error {
	c = c.WithDefaults()
	switch {
	case c.Shards < 1 || c.Shards > 4096:
		return fmt.Errorf("%w: shards %d out of 1..4096", ErrConfig, c.Shards)
	case c.QueueSize < 1:
		return fmt.Errorf("%w: queue size %d below 1", ErrConfig, c.QueueSize)
	case c.MaxBookLevels < 1 || c.MaxBookLevels > 10_000_000:
		return fmt.Errorf("%w: max book levels %d out of 1..10000000", ErrConfig, c.MaxBookLevels)
	}
	return nil
}
