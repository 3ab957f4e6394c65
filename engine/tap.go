package engine

import (
	"context"
	"log/slog"
	"sync"

	"github.com/depthcast/depthcast/internal/ratelog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Tap sees every record handed to the pipeline, raw, as the pipeline sees it: a recorder, say. The pipeline
// calls Tap from the goroutine that handed the record over (Submit's caller, or the owner of a Batcher),
// after the record was taken (decoded, and its event queued on its shard or held in the batch for it;
// records the pipeline rejects included) and before that goroutine moves past it: per partition in offset
// order when each partition has one reader, and concurrently for different partitions, so an
// implementation must be safe for concurrent use. A slow Tap slows its partition's reads. rec's Key and
// Value are not reused after the call, but a Tap that keeps them should copy them anyway.
//
// An error from Tap does not stop ingestion: the pipeline logs it (rate-limited) and counts it
// (MetricTapErrors). A Tap whose failure must stop the process says so to its owner itself.
type Tap interface {
	Tap(ctx context.Context, rec Record) error
}

// tapper calls a Tap and accounts for its errors. A nil *tapper does nothing.
type tapper struct {
	tap   Tap
	errs  metric.Int64Counter
	log   *slog.Logger
	logs  *ratelog.Limiter
	attrs sync.Map // partition -> metric.AddOption
}

func newTapper(cfg Config) (*tapper, error) {
	if cfg.Tap == nil {
		return nil, nil
	}
	errs, err := cfg.Meter.Int64Counter(MetricTapErrors,
		metric.WithDescription("Records the tap (a recorder) failed to take."), metric.WithUnit("{record}"))
	if err != nil {
		return nil, err
	}
	return &tapper{tap: cfg.Tap, errs: errs, log: cfg.Logger, logs: ratelog.New(1, 5)}, nil
}

// option returns the attribute option of partition part, built once.
func (t *tapper) option(part int) metric.AddOption {
	opt, ok := t.attrs.Load(part)
	if !ok {
		opt, _ = t.attrs.LoadOrStore(part, metric.WithAttributeSet(attribute.NewSet(attribute.Int("partition", part))))
	}
	return opt.(metric.AddOption)
}

// record hands rec to the tap; a failure is counted and logged, never returned.
func (t *tapper) record(ctx context.Context, rec Record) {
	if t == nil {
		return
	}
	if err := t.tap.Tap(ctx, rec); err != nil {
		t.errs.Add(context.Background(), 1, t.option(rec.Partition))
		t.logs.Warn(t.log, "tap failed", slog.Int("partition", rec.Partition), slog.Int64("offset", rec.Offset),
			slog.Any("error", err))
	}
}
