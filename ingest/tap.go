package ingest

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/metric"
)

// MetricTapErrors counts the records a Config.Tap failed to take (attribute partition).
const MetricTapErrors = "depthcast.ingest.tap.errors"

// Tap sees every record the partition readers hand to the pipeline, raw, as the pipeline sees it: a
// recorder, say. A Consumer calls Tap from each partition's reader goroutine, after the record was submitted
// (decoded, and its event queued on its shard or held in the reader's batch for it; records the pipeline
// rejects included) and before the reader moves past it, so per partition in offset order and calls for
// different partitions concurrently: an implementation must be safe for concurrent use.
// A slow Tap slows its partition's reads. rec's Key and Value are not reused after the call, but a Tap
// that keeps them should copy them anyway.
//
// An error from Tap does not stop ingestion: the consumer logs it (rate-limited) and counts it
// (MetricTapErrors). A Tap whose failure must stop the process says so to its owner itself.
type Tap interface {
	Tap(ctx context.Context, rec Record) error
}

// tapper calls a Tap and accounts for its errors. A nil *tapper does nothing.
type tapper struct {
	tap   Tap
	errs  metric.Int64Counter
	log   *slog.Logger
	logs  *logLimiter
	topic string
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
	return &tapper{tap: cfg.Tap, errs: errs, log: cfg.Logger, logs: newLogLimiter(1, 5), topic: cfg.Topic}, nil
}

// record hands rec to the tap; a failure is counted and logged, never returned.
func (t *tapper) record(ctx context.Context, st *partState, rec Record) {
	if t == nil {
		return
	}
	if err := t.tap.Tap(ctx, rec); err != nil {
		t.errs.Add(context.Background(), 1, st.attrs)
		t.logs.warn(t.log, "ingest: tap failed", slog.String("topic", t.topic), slog.Int("partition", rec.Partition),
			slog.Int64("offset", rec.Offset), slog.Any("error", err))
	}
}
